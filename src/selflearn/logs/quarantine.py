"""Ingest of untrusted log files: good turns into the workspace log, bad ones into quarantine.

`ingest(path, workspace)` streams a JSONL or Parquet file through validation (`validate.py`):
valid turns are appended as a new day partition (`LogWriter`), and every rejected record is
written, with its reasons, to `workspace/quarantine/<source>-<UTC time>.jsonl`, one JSON object
per rejected record:

    {"source": "logs.jsonl", "line": 17, "field": "asr.nbest.0.confidence",
     "message": "Input should be less than or equal to 1",
     "errors": [{"field": ..., "message": ...}, ...], "raw": {...the record as read...}}

(`field`/`message` repeat the first of `errors`, for grep.) Nothing is silently dropped: every
non-blank input line (Parquet row) ends up in the log, in quarantine, or counted in the report as
already stored (its turn id is in the log: ingesting an export twice stores it once) or as a
forgotten person's (a tombstone says they were deleted: an old export must not bring them back),
and the counts say so (`n_input == n_good + n_quarantined + n_already_stored + n_forgotten`).
Both outputs are written atomically; the quarantine file is published before the log parts, so a
crash in between leaves the rejected records recorded and the (re-runnable) good ones unpublished.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from selflearn.logs.io import DEFAULT_BATCH_SIZE, LOG_SUFFIXES, LogWriter, iter_raw_records, stored_turn_ids
from selflearn.logs.records import Turn
from selflearn.logs.validate import RecordError, iter_validated
from selflearn.util.atomic import CommitOnExit, new_temp_path, publish_temp
from selflearn.util.tombstones import Tombstones
from selflearn.util.workspace import Workspace

__all__ = ["IngestReport", "QuarantineWriter", "ingest", "quarantine_dir", "read_quarantine"]


def quarantine_dir(workspace: str | os.PathLike[str]) -> Path:
    return Workspace(workspace).quarantine


@dataclass
class IngestReport:
    """What an ingest did: counts (`n_input == n_good + n_quarantined + n_already_stored +
    n_forgotten`), where things went, and the first `max_errors` errors (all of them are in the
    quarantine file) and already-stored turn ids."""

    source: str
    n_input: int = 0
    n_good: int = 0
    n_quarantined: int = 0
    n_already_stored: int = 0
    n_forgotten: int = 0
    n_errors: int = 0
    already_stored: list[str] = field(default_factory=list)
    day: int | None = None
    log_paths: list[Path] = field(default_factory=list)
    quarantine_path: Path | None = None
    errors: list[RecordError] = field(default_factory=list)

    def __str__(self) -> str:
        s = f"{self.source}: {self.n_input} records, {self.n_good} ingested, {self.n_quarantined} quarantined"
        if self.quarantine_path is not None:
            s += f" -> {self.quarantine_path}"
        if self.n_already_stored:
            shown = ", ".join(self.already_stored[:5]) + (", ..." if self.n_already_stored > 5 else "")
            s += f"\n  {self.n_already_stored} already stored, not stored again: {shown}"
        if self.n_forgotten:
            s += f"\n  {self.n_forgotten} of deleted people, not stored (their tombstone holds)"
        return "\n".join([s, *(f"  {e}" for e in self.errors)])

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_input": self.n_input,
            "n_good": self.n_good,
            "n_quarantined": self.n_quarantined,
            "n_already_stored": self.n_already_stored,
            "n_forgotten": self.n_forgotten,
            "n_errors": self.n_errors,
            "already_stored": self.already_stored,
            "day": self.day,
            "log_paths": [str(p) for p in self.log_paths],
            "quarantine_path": str(self.quarantine_path) if self.quarantine_path else None,
            "errors": [str(e) for e in self.errors],
        }


def _json_default(o: Any) -> Any:
    # Raw Parquet rows may hold values JSON lacks; keep them readable rather than fail the ingest.
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, bytes):
        return base64.b64encode(o).decode("ascii")
    return repr(o)


class QuarantineWriter(CommitOnExit):
    """Appends rejected records to one quarantine file, created (atomically) only if needed.

    Context manager: a clean exit publishes the file as `<stem>-<UTC time>.jsonl` (a numeric
    suffix is added rather than overwrite an existing file); an exception discards it.
    """

    def __init__(self, workspace: str | os.PathLike[str], source: str) -> None:
        self.dir = quarantine_dir(workspace)
        self.source = source
        self.count = 0
        self.path: Path | None = None
        self._tmp: Path | None = None
        self._f: IO[str] | None = None

    def add(self, line: int, errors: list[RecordError], raw: dict[str, Any] | str) -> None:
        if self._f is None:
            self._tmp = new_temp_path(self.dir / "quarantine.jsonl")
            # backslashreplace: a lone surrogate (the reason a record is here) is written as its
            # JSON escape, so the line stays valid JSON and reads back as the same string.
            self._f = open(self._tmp, "w", encoding="utf-8", errors="backslashreplace", newline="\n")  # noqa: SIM115
        first = errors[0]
        rec = {
            "source": self.source,
            "line": line,
            "field": first.field,
            "message": first.message,
            "errors": [{"field": e.field, "message": e.message} for e in errors],
            "raw": raw,
        }
        self._f.write(json.dumps(rec, ensure_ascii=False, default=_json_default))
        self._f.write("\n")
        self.count += 1

    def commit(self) -> Path | None:
        if self._f is None or self._tmp is None:
            return None
        self._f.close()
        stem = Path(self.source).stem or "records"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        n = 0
        while True:
            suffix = f"-{n}" if n else ""
            final = self.dir / f"{stem}-{stamp}{suffix}.jsonl"
            try:
                publish_temp(self._tmp, final, overwrite=False)
                break
            except FileExistsError:
                n += 1
        self.path = final
        self._f = self._tmp = None
        return final

    def abort(self) -> None:
        if self._f is not None:
            self._f.close()
        if self._tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()
        self._f = self._tmp = None


def ingest(
    path: str | os.PathLike[str],
    workspace: str | os.PathLike[str],
    *,
    day: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_errors: int = 100,
) -> IngestReport:
    """Validate a JSONL/Parquet log file into `workspace`: good turns to the log as day `day`
    (default: the next new day), bad records to quarantine with their reasons. See module doc."""
    src = Path(path)
    if src.suffix not in LOG_SUFFIXES:
        raise ValueError(f"{src}: not a log file (expected one of {LOG_SUFFIXES})")
    writer = LogWriter(workspace, batch_size=batch_size)
    report = IngestReport(source=src.name, day=writer.next_day() if day is None else day)
    assert report.day is not None
    stored = stored_turn_ids(workspace)
    tombstones = Tombstones(Path(workspace))
    gone: dict[str, bool] = {}

    with writer.open_day(report.day) as log, QuarantineWriter(workspace, src.name) as quarantine:

        def good() -> Iterator[Turn]:
            for line, outcome, raw in iter_validated(src.name, iter_raw_records(src, batch_size)):
                report.n_input += 1
                if isinstance(outcome, Turn):
                    if outcome.turn_id in stored:
                        report.n_already_stored += 1
                        if len(report.already_stored) < max_errors:
                            report.already_stored.append(outcome.turn_id)
                        continue
                    if outcome.user_id not in gone:
                        gone[outcome.user_id] = outcome.user_id in tombstones
                    if gone[outcome.user_id]:
                        report.n_forgotten += 1
                        continue
                    report.n_good += 1
                    yield outcome
                else:
                    quarantine.add(line, outcome, raw)
                    report.n_quarantined += 1
                    report.n_errors += len(outcome)
                    room = max_errors - len(report.errors)
                    report.errors.extend(outcome[: max(room, 0)])

        log.write(good())
    report.log_paths = list(log.paths)
    report.quarantine_path = quarantine.path
    accounted = report.n_good + report.n_quarantined + report.n_already_stored + report.n_forgotten
    if report.n_input != accounted:  # pragma: no cover - invariant
        raise AssertionError(f"ingest lost records: {report}")
    return report


def read_quarantine(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The rejected records of a quarantine file (or of every file in a quarantine folder)."""
    p = Path(path)
    files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    yield json.loads(line)
