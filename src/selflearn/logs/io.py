"""Streaming readers and writers of the interaction log: JSONL and Parquet, file or directory.

Formats:
  * JSONL: one `Turn` JSON object per line (pydantic's JSON: ISO-8601 UTC timestamps, `Z`).
  * Parquet: the nested `schema.TURN_SCHEMA`, one schema version per file (in the metadata),
    zstd-compressed, one row group per batch.
  * Workspace layout: `root/logs/day=0001/part-00000.parquet`, appended by `LogWriter`.

Everything streams in batches of `batch_size` turns: no reader or writer holds a whole file in
memory, except `read_table` / `read_flat`, which return one table by design. Every write is atomic
(temp file in the same directory, fsync, rename): a crashed writer leaves no partial file, and a
reader never sees one. Hidden files and folders (`.x`, `_x`: our temp files, `_SUCCESS`) are
skipped; directories are read in natural sort order (`day=2` before `day=10`), so reading is
deterministic.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from selflearn.logs.flat import FLAT_SCHEMA
from selflearn.logs.records import SCHEMA_VERSION, Turn
from selflearn.logs.schema import (
    SCHEMA_VERSION_KEY,
    TURN_SCHEMA,
    check_schema_version,
    flatten_table,
    rows_to_records,
    schema_for_version,
    schema_version_of,
    table_to_turns,
    turns_to_table,
)
from selflearn.logs.validate import LogFormatError, errors_from_validation
from selflearn.util.atomic import CommitOnExit, atomic_path, new_temp_path, publish_temp
from selflearn.util.perf import gc_paused
from selflearn.util.tombstones import Tombstones

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "LOG_SUFFIXES",
    "DayWriter",
    "LogWriter",
    "iter_flat",
    "iter_raw_records",
    "iter_tables",
    "list_log_files",
    "read_flat",
    "read_table",
    "read_turns",
    "stored_turn_ids",
    "turn_ids_in",
    "workspace_tombstones",
    "write_jsonl",
    "write_parquet",
]

DEFAULT_BATCH_SIZE = 8192
LOG_SUFFIXES = (".jsonl", ".parquet")
PathLike = str | os.PathLike[str]

_PART_RE = re.compile(r"^part-(\d+)\.parquet$")


def _batched(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    if n < 1:
        raise ValueError(f"batch_size must be >= 1, got {n}")
    it = iter(items)
    while chunk := list(islice(it, n)):
        yield chunk


# --- writing -------------------------------------------------------------------------------------


def write_jsonl(path: PathLike, turns: Iterable[Turn]) -> int:
    """Write turns as JSON lines, atomically. Returns the number of turns written."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for t in turns:
            f.write(t.model_dump_json())
            f.write("\n")
            n += 1
    return n


class _ParquetSink:
    """Buffers turns of one schema version and writes them as row groups to one (temp) file."""

    def __init__(self, path: Path, batch_size: int, compression: str, version: str | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.path = path
        self.batch_size = batch_size
        self.compression = compression
        self.version = version
        self.count = 0
        self._buf: list[Turn] = []
        self._writer: pq.ParquetWriter | None = None

    def add(self, t: Turn) -> None:
        if self.version is None:
            self.version = t.schema_version
        elif t.schema_version != self.version:
            raise ValueError(
                f"one schema version per file: got {t.schema_version!r} after {self.version!r} "
                f"(turn {t.turn_id!r})"
            )
        self._buf.append(t)
        if len(self._buf) >= self.batch_size:
            self._flush()

    def _open(self) -> pq.ParquetWriter:
        if self._writer is None:
            schema = schema_for_version(self.version or SCHEMA_VERSION)
            self._writer = pq.ParquetWriter(self.path, schema, compression=self.compression)
        return self._writer

    def _flush(self) -> None:
        if self._buf:
            table = turns_to_table(self._buf, version=self.version)
            self._open().write_table(table, row_group_size=len(self._buf))
            self.count += len(self._buf)
            self._buf = []

    def close(self) -> None:
        self._flush()
        self._open().close()  # an empty file still carries the schema

    def abort(self) -> None:
        self._buf = []
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()


def write_parquet(
    path: PathLike,
    turns: Iterable[Turn],
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    compression: str = "zstd",
) -> int:
    """Write turns to one Parquet file, atomically, `batch_size` turns per row group.

    All turns must share one `schema_version` (recorded in the file's metadata); a mixed stream
    raises ValueError and leaves no file. Returns the number of turns written.
    """
    with atomic_path(path) as tmp:
        sink = _ParquetSink(tmp, batch_size, compression)
        try:
            for t in turns:
                sink.add(t)
            sink.close()
        except BaseException:
            sink.abort()
            raise
    return sink.count


class DayWriter(CommitOnExit):
    """Writes one day's new part(s) under `LogWriter`; parts appear only on `commit`.

    Turns of different schema versions go to different parts (one version per file), in order of
    first appearance. Use as a context manager: a clean exit commits, an exception aborts (and
    leaves no file behind).
    """

    def __init__(self, day_dir: Path, batch_size: int, compression: str) -> None:
        self.day_dir = day_dir
        self.batch_size = batch_size
        self.compression = compression
        self.paths: list[Path] = []
        self._sinks: dict[str, _ParquetSink] = {}
        self._done = False

    @property
    def count(self) -> int:
        return sum(s.count + len(s._buf) for s in self._sinks.values())

    def write(self, turns: Iterable[Turn]) -> None:
        if self._done:
            raise RuntimeError("DayWriter already committed or aborted")
        for t in turns:
            sink = self._sinks.get(t.schema_version)
            if sink is None:
                tmp = new_temp_path(self.day_dir / "part.parquet")
                sink = _ParquetSink(tmp, self.batch_size, self.compression, t.schema_version)
                self._sinks[t.schema_version] = sink
            sink.add(t)

    def _next_part(self) -> int:
        if not self.day_dir.is_dir():
            return 0
        nums = [int(m.group(1)) for p in self.day_dir.iterdir() if (m := _PART_RE.match(p.name))]
        return max(nums, default=-1) + 1

    def commit(self) -> list[Path]:
        """Publish every part under the next free `part-NNNNN.parquet` names; return their paths."""
        if self._done:
            return self.paths
        self._done = True
        try:
            for sink in self._sinks.values():
                sink.close()
            for sink in self._sinks.values():
                n = self._next_part()
                while True:  # a concurrent writer may claim a number first: never clobber it
                    final = self.day_dir / f"part-{n:05d}.parquet"
                    try:
                        publish_temp(sink.path, final, overwrite=False)
                        break
                    except FileExistsError:
                        n += 1
                self.paths.append(final)
        finally:
            self._cleanup()
        return self.paths

    def abort(self) -> None:
        self._done = True
        for sink in self._sinks.values():
            sink.abort()
        self._cleanup()

    def _cleanup(self) -> None:
        for sink in self._sinks.values():
            with contextlib.suppress(FileNotFoundError):
                sink.path.unlink()


class LogWriter:
    """Appends day partitions to a workspace: `root/logs/day=NNNN/part-XXXXX.parquet`.

    Each `write_day` adds new part files (never rewrites old ones), so the runtime and an ingest
    can append to the same day; part numbers are claimed without clobbering.
    """

    def __init__(self, root: PathLike, batch_size: int = DEFAULT_BATCH_SIZE, compression: str = "zstd"):
        self.root = Path(root)
        self.batch_size = batch_size
        self.compression = compression

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def day_dir(self, day: int) -> Path:
        if day < 0:
            raise ValueError(f"day must be >= 0, got {day}")
        return self.logs_dir / f"day={day:04d}"

    def days(self) -> list[int]:
        """The days that have a partition folder, ascending."""
        if not self.logs_dir.is_dir():
            return []
        out = []
        for p in self.logs_dir.iterdir():
            if p.is_dir() and p.name.startswith("day=") and p.name[4:].isdigit():
                out.append(int(p.name[4:]))
        return sorted(out)

    def next_day(self) -> int:
        """The day after the last written one (1 for an empty workspace)."""
        return max(self.days(), default=0) + 1

    def open_day(self, day: int) -> DayWriter:
        """A writer of new parts for day `day` (the folder appears with the first turn)."""
        return DayWriter(self.day_dir(day), self.batch_size, self.compression)

    def write_day(self, day: int, turns: Iterable[Turn]) -> list[Path]:
        """Append turns to day `day` as new part file(s); returns their paths (none if no turns)."""
        with self.open_day(day) as w:
            w.write(turns)
        return w.paths


# --- reading -------------------------------------------------------------------------------------


def _natural_key(p: Path) -> list[tuple[int, int | str]]:
    # Digits compare as numbers so day=10 sorts after day=9 whatever the zero padding.
    key: list[tuple[int, int | str]] = []
    for part in p.parts:
        for tok in re.split(r"(\d+)", part):
            if tok:
                key.append((0, int(tok)) if tok.isdigit() else (1, tok))
        key.append((-1, ""))  # path separator sorts before anything
    return key


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def list_log_files(path_or_dir: PathLike) -> list[Path]:
    """The log files a path names: itself, or every .jsonl/.parquet below a directory, in order."""
    p = Path(path_or_dir)
    if p.is_file():
        if p.suffix not in LOG_SUFFIXES:
            raise ValueError(f"{p}: not a log file (expected one of {LOG_SUFFIXES})")
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(p)
    files = []
    for dirpath, dirnames, filenames in os.walk(p):
        dirnames[:] = [d for d in dirnames if not _hidden(d)]
        for name in filenames:
            if not _hidden(name) and name.endswith(LOG_SUFFIXES):
                files.append(Path(dirpath, name).relative_to(p))
    return [p / f for f in sorted(files, key=_natural_key)]


def stored_turn_ids(root: PathLike) -> set[str]:
    """Every turn id already in a workspace's log (`root/logs`), read from the id column alone.

    Ingestion checks new turns against it so that the same export ingested twice stores each
    turn once. Memory is one string per stored turn (about 80 MB for a million turns).
    """
    return turn_ids_in(Path(root) / "logs")


def turn_ids_in(path: PathLike) -> set[str]:
    """The turn ids of every log file under `path` (a log folder, one day's folder, or a file):
    the id column alone for Parquet. The service's journal replay checks one day against it."""
    if not Path(path).exists():
        return set()
    ids: set[str] = set()
    for f in list_log_files(path):
        if f.suffix == ".parquet":
            ids.update(pq.read_table(f, columns=["turn_id"]).column("turn_id").to_pylist())
        else:
            ids.update(t.turn_id for t in _iter_jsonl_turns(f))
    return ids


def _iter_jsonl_turns(path: Path, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[Turn]:
    with open(path, "rb") as f:
        numbered = ((n, line) for n, line in enumerate(f, start=1) if line.strip())
        for chunk in _batched(numbered, batch_size):
            out = []
            with gc_paused():
                for lineno, line in chunk:
                    try:
                        out.append(Turn.model_validate_json(line))
                    except ValidationError as exc:
                        raw = line.decode("utf-8", "replace")
                        raise LogFormatError(errors_from_validation(path.name, lineno, exc, raw)) from exc
            yield from out


def _conform(table: pa.Table, source: Path) -> pa.Table:
    """Cast a stored table to the current `TURN_SCHEMA` (keeping its version metadata)."""
    meta = table.schema.metadata
    if not table.schema.equals(TURN_SCHEMA, check_metadata=False):
        try:
            table = table.cast(TURN_SCHEMA)
        except (pa.ArrowInvalid, ValueError) as e:
            raise ValueError(f"{source}: columns do not match the turn schema: {e}") from e
    return table.replace_schema_metadata(meta)


def _iter_parquet_tables(path: Path, batch_size: int) -> Iterator[pa.Table]:
    with pq.ParquetFile(path) as pf:
        check_schema_version(pf.schema_arrow, str(path))
        meta = pf.schema_arrow.metadata
        for batch in pf.iter_batches(batch_size=batch_size):
            yield _conform(pa.Table.from_batches([batch]).replace_schema_metadata(meta), path)


def _iter_jsonl_tables(path: Path, batch_size: int) -> Iterator[pa.Table]:
    for chunk in _batched(_iter_jsonl_turns(path, batch_size), batch_size):
        versions = {t.schema_version for t in chunk}
        version = versions.pop() if len(versions) == 1 else SCHEMA_VERSION
        yield turns_to_table(chunk, version=version)


def workspace_tombstones(path_or_dir: PathLike) -> Tombstones | None:
    """The tombstones of the workspace a log path lies in, or None when nobody was deleted.

    A log path is `<workspace>/logs` or anything below it; its workspace's `privacy/` folder holds
    the tombstones (`util.tombstones`). Every reader here honours them, so a deleted person's
    records that reached the log again (a collector's late batch, a restored backup, files copied
    in by hand) are never read by a nightly step.
    """
    p = Path(path_or_dir).absolute()
    for d in (p, *p.parents):
        if d.name == "logs":
            tombs = Tombstones(d.parent)
            return tombs if tombs.path.exists() else None
    return None


def read_turns(path_or_dir: PathLike, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[Turn]:
    """Stream validated turns from a .jsonl/.parquet file or a directory of them, in order.

    For trusted logs: an invalid record raises `LogFormatError` naming file, line and field (use
    `quarantine.ingest` for untrusted files). Deleted people's turns are skipped (tombstones).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tombs = workspace_tombstones(path_or_dir)
    for f in list_log_files(path_or_dir):
        if f.suffix == ".jsonl":
            turns: Iterable[Turn] = _iter_jsonl_turns(f, batch_size)
            if tombs is not None:
                turns = (t for t in turns if t.user_id not in tombs)
            yield from turns
        else:
            for table in _iter_parquet_tables(f, batch_size):
                if tombs is not None:
                    table, _ = tombs.filter_table(table)
                yield from table_to_turns(table, batch_size)


def iter_tables(path_or_dir: PathLike, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pa.Table]:
    """Stream the log as nested tables of at most `batch_size` rows (`TURN_SCHEMA`), in order.

    Deleted people's rows are left out (tombstones, see `workspace_tombstones`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tombs = workspace_tombstones(path_or_dir)
    for f in list_log_files(path_or_dir):
        jsonl = f.suffix == ".jsonl"
        for table in _iter_jsonl_tables(f, batch_size) if jsonl else _iter_parquet_tables(f, batch_size):
            if tombs is not None:
                table, _ = tombs.filter_table(table)
            yield table


def _concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    if not tables:
        return schema.empty_table()
    versions = {schema_version_of(t.schema) for t in tables}
    version = versions.pop() if len(versions) == 1 else None
    out = pa.concat_tables([t.replace_schema_metadata(None) for t in tables])
    return out.replace_schema_metadata({SCHEMA_VERSION_KEY: (version or SCHEMA_VERSION).encode()})


def read_table(path_or_dir: PathLike, batch_size: int = DEFAULT_BATCH_SIZE) -> pa.Table:
    """The whole log as one nested table of `TURN_SCHEMA` (loads everything: use `iter_tables`
    for large logs). The metadata version is the files' common version, else `SCHEMA_VERSION`."""
    return _concat(list(iter_tables(path_or_dir, batch_size)), TURN_SCHEMA)


def iter_flat(path_or_dir: PathLike, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[pa.Table]:
    """Stream the log as flat tables (`flat.FLAT_SCHEMA`) of at most `batch_size` rows."""
    for table in iter_tables(path_or_dir, batch_size):
        yield flatten_table(table)


def read_flat(path_or_dir: PathLike, batch_size: int = DEFAULT_BATCH_SIZE) -> pa.Table:
    """The whole log as the flat job view (`flat.FLAT_SCHEMA`), built with Arrow kernels."""
    tables = list(iter_flat(path_or_dir, batch_size))
    return pa.concat_tables(tables) if tables else FLAT_SCHEMA.empty_table()


def iter_raw_records(
    path: PathLike, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[tuple[int, dict[str, Any] | bytes]]:
    """Unvalidated records of one file with their 1-based line (JSONL) or row (Parquet) number.

    JSONL lines come back as raw bytes (parsing is part of validation, so a broken line becomes
    an error, not an exception); blank lines are not records. Parquet rows come back as dicts
    shaped like the JSON record. No schema-version check here: validation does it per record.
    """
    p = Path(path)
    if p.suffix == ".jsonl":
        with open(p, "rb") as f:
            for lineno, line in enumerate(f, start=1):
                stripped = line.strip()
                if stripped:
                    yield lineno, stripped
    elif p.suffix == ".parquet":
        row = 0
        with pq.ParquetFile(p) as pf:
            for batch in pf.iter_batches(batch_size=batch_size):
                for rec in rows_to_records(batch):
                    row += 1
                    yield row, rec
    else:
        raise ValueError(f"{p}: not a log file (expected one of {LOG_SUFFIXES})")
