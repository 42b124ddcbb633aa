"""Validation of raw interaction-log records against the contract in `records.py`.

Raw records are what a file holds before we trust it: JSON lines (text or bytes, parsed here so
that unparseable lines become errors too) or dicts (Parquet rows, adapter output). Each record is
validated by pydantic; every problem becomes a `RecordError` naming the source, the line (1-based
line of a JSONL file, 1-based row of a Parquet file), the dotted field path taken from pydantic's
error location (`asr.nbest.0.confidence`) and pydantic's message, so a person can find and fix it:

    logs.jsonl:17: field 'asr.nbest.0.confidence': Input should be less than or equal to 1

Invariants that pydantic cannot see are checked here as well: a `turn_id` may appear only once per
file (the first occurrence is kept, later ones are errors), and every number must be storable
(integers in int64, floats finite: `latency_ms=inf` passes the model but cannot round-trip JSON).
Strings must be valid Unicode: a JSON escape can smuggle in a lone surrogate, which Parquet cannot
store (the JSON parser refuses it; pydantic refuses it in a parsed record). Pseudo-fields:
`<json>` for a line that is not a JSON object, `<record>` for a whole-record error.

Lines of text are validated strictly, straight from JSON (pydantic's strict JSON mode): `"yes"` is
not a boolean and `"0.5"` not a number, nesting deeper than the parser's limit and lines over
`MAX_RECORD_BYTES` are errors. Records are isolated: whatever goes wrong with one record (even an
exception nobody foresaw) becomes that record's error, never the file's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from itertools import islice
from typing import Any

from pydantic import BaseModel, ValidationError

from selflearn.logs.records import Turn
from selflearn.util.perf import gc_paused

__all__ = [
    "JSON_FIELD",
    "MAX_RECORD_BYTES",
    "RECORD_FIELD",
    "LogFormatError",
    "RawRecord",
    "RecordError",
    "ValidationResult",
    "errors_from_validation",
    "iter_validated",
    "parse_raw",
    "validate_records",
]

JSON_FIELD = "<json>"
RECORD_FIELD = "<record>"

MAX_RECORD_BYTES = 1 << 20
"""The largest line accepted as one record (a real turn is a few KiB)."""

RawRecord = Mapping[str, Any] | str | bytes
"""A record before validation: a parsed dict, or one line of JSON (str or bytes)."""


@dataclass(frozen=True)
class RecordError:
    """One problem with one raw record: where it is, which field, what is wrong, and the record."""

    source: str
    line: int
    field: str
    message: str
    raw: dict[str, Any] | str = dc_field(default="", repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: field '{self.field}': {self.message}"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "line": self.line,
            "field": self.field,
            "message": self.message,
            "raw": self.raw,
        }


class LogFormatError(ValueError):
    """A trusted log file (one `read_turns` was asked to read) holds an invalid record."""

    def __init__(self, errors: list[RecordError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


@dataclass
class ValidationResult:
    """Outcome of validating a batch of raw records: the good turns and every error found.

    `good_lines[i]` is the line `good[i]` came from; a bad record may carry several errors (one per
    broken field), so `n_bad` counts records, `len(errors)` counts problems.
    """

    good: list[Turn] = dc_field(default_factory=list)
    errors: list[RecordError] = dc_field(default_factory=list)
    good_lines: list[int] = dc_field(default_factory=list)
    n_records: int = 0

    @property
    def bad_lines(self) -> list[int]:
        return sorted({e.line for e in self.errors})

    @property
    def n_bad(self) -> int:
        return len(self.bad_lines)

    @property
    def ok(self) -> bool:
        return not self.errors


def _loc_to_field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) if loc else RECORD_FIELD


def errors_from_validation(
    source: str, line: int, exc: ValidationError, raw: dict[str, Any] | str
) -> list[RecordError]:
    """One `RecordError` per pydantic error, with the location as a dotted field path."""
    return [
        RecordError(source, line, _loc_to_field(tuple(err["loc"])), err["msg"], raw)
        for err in exc.errors(include_url=False)
    ]


def parse_raw(source: str, line: int, raw: RawRecord) -> dict[str, Any] | RecordError:
    """A raw record as a dict, or the `<json>` error saying why it is not one."""
    if isinstance(raw, Mapping):
        return dict(raw)
    text = raw
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            return RecordError(
                source, line, JSON_FIELD, f"invalid UTF-8: {e}", raw.decode("utf-8", "replace")
            )
    assert isinstance(text, str)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        return RecordError(source, line, JSON_FIELD, f"invalid JSON: {e}", text)
    except RecursionError:
        return RecordError(source, line, JSON_FIELD, "invalid JSON: nested too deeply", text)
    if not isinstance(obj, dict):
        return RecordError(
            source, line, JSON_FIELD, f"expected a JSON object, got {type(obj).__name__}", text
        )
    return obj


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _storage_problems(obj: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field, message) for numbers the model accepts but Arrow/JSON storage cannot hold."""
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _storage_problems(getattr(obj, name), f"{path}.{name}" if path else name)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _storage_problems(v, f"{path}.{i}")
    elif isinstance(obj, bool):
        return
    elif isinstance(obj, int):
        if not _INT64_MIN <= obj <= _INT64_MAX:
            yield path, "Input should fit in a 64-bit integer"
    elif isinstance(obj, float) and not math.isfinite(obj):
        yield path, "Input should be a finite number"


def iter_validated(
    source: str, records: Iterable[tuple[int, RawRecord]]
) -> Iterator[tuple[int, Turn | list[RecordError], dict[str, Any] | str]]:
    """Validate records one by one (streaming): yield `(line, Turn or its errors, the record)`.

    The record is shown parsed where it was bad and parses (for quarantine), else as read.
    Every input record yields exactly one item, so nothing can be dropped on the way.
    """
    first_seen: dict[str, int] = {}
    it = iter(records)
    # Validate in chunks with the garbage collector paused (3x faster), handing results out
    # between chunks: memory stays bounded by the chunk.
    while chunk := list(islice(it, _CHUNK)):
        with gc_paused():
            out = [_validate_one(source, line, raw, first_seen) for line, raw in chunk]
        yield from out


_CHUNK = 1024


def _validate_one(
    source: str, line: int, raw: RawRecord, first_seen: dict[str, int]
) -> tuple[int, Turn | list[RecordError], dict[str, Any] | str]:
    try:
        outcome, shown = _check(source, line, raw)
        if isinstance(outcome, Turn):
            seen = first_seen.get(outcome.turn_id)
            if seen is not None:
                msg = f"duplicate turn_id {outcome.turn_id!r} (first seen at line {seen})"
                return line, [RecordError(source, line, "turn_id", msg, _shown(raw))], _shown(raw)
            first_seen[outcome.turn_id] = line
        return line, outcome, shown
    except Exception as exc:  # isolation: one record's surprise never sinks the file
        shown = _shown(raw)
        msg = f"could not be validated: {type(exc).__name__}: {str(exc)[:200]}"
        return line, [RecordError(source, line, RECORD_FIELD, msg, shown)], shown


def _shown(raw: RawRecord) -> dict[str, Any] | str:
    """The record as quarantine shows it: parsed when it parses, else its text."""
    if isinstance(raw, Mapping):
        return dict(raw)
    parsed = parse_raw("", 0, raw)
    return parsed.raw if isinstance(parsed, RecordError) else parsed


def _check(source: str, line: int, raw: RawRecord) -> tuple[Turn | list[RecordError], dict[str, Any] | str]:
    if isinstance(raw, Mapping):
        parsed: dict[str, Any] | str = dict(raw)
        try:
            turn = Turn.model_validate(parsed)
        except ValidationError as exc:
            return errors_from_validation(source, line, exc, parsed), parsed
    else:
        if len(raw) > MAX_RECORD_BYTES:
            text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
            msg = f"record is {len(raw):,} bytes; the limit is {MAX_RECORD_BYTES:,}"
            return [RecordError(source, line, RECORD_FIELD, msg, text)], text
        try:
            turn = Turn.model_validate_json(raw, strict=True)
        except ValidationError as exc:
            return _json_errors(source, line, raw, exc)
        parsed = raw if isinstance(raw, str) else raw.decode("utf-8")
    problems = list(_storage_problems(turn, ""))
    if problems:
        shown = _shown(raw)
        return [RecordError(source, line, f, m, shown) for f, m in problems], shown
    return turn, parsed


def _json_errors(
    source: str, line: int, raw: str | bytes, exc: ValidationError
) -> tuple[list[RecordError], dict[str, Any] | str]:
    """The errors of a line strict validation refused, located as precisely as parsing allows."""
    parsed = parse_raw(source, line, raw)
    if isinstance(parsed, RecordError):
        return [parsed], parsed.raw
    unparsed = [e for e in exc.errors(include_url=False) if e["type"] == "json_invalid"]
    if unparsed:  # Python's parser was more lenient (a lone surrogate, very deep nesting)
        msg = unparsed[0]["msg"]
        return [RecordError(source, line, JSON_FIELD, msg, parsed)], parsed
    return errors_from_validation(source, line, exc, parsed), parsed


def validate_records(source_name: str, records: Iterable[tuple[int, RawRecord]]) -> ValidationResult:
    """Validate `(line, raw record)` pairs: good turns plus every error (see module docstring)."""
    result = ValidationResult()
    for line, outcome, _raw in iter_validated(source_name, records):
        result.n_records += 1
        if isinstance(outcome, Turn):
            result.good.append(outcome)
            result.good_lines.append(line)
        else:
            result.errors.extend(outcome)
    return result
