"""Line-by-line reading of hand-written JSONL inputs, where a bad line is an error, not a crash.

Recognition-results files and SLURP-format corpora are edited by people and produced by other
tools, so a reader must report every bad line (file, line, field) and keep going. The scaffolding
for that (skip blank lines, parse JSON, run a per-record parser, turn both kinds of failure into
one error value) lives here so each format only writes its own record parser.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["LineError", "iter_jsonl"]

T = TypeVar("T")


class LineError(Exception):
    """A bad JSONL line: the `field` at fault (``"<line>"`` for the line as a whole) and why.

    Record parsers raise it (or a subclass) for invalid content; `iter_jsonl` yields it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def iter_jsonl(
    path: str | os.PathLike[str], parse: Callable[[Any], T]
) -> Generator[tuple[int, T | LineError], None, None]:
    """(1-based line number, ``parse(obj)`` or the `LineError` it raised) for each non-blank line.

    A line that is not JSON yields ``LineError("<line>", "invalid JSON: <msg> at column <n>")``;
    other exceptions from `parse` propagate. The file is read as UTF-8, lazily, and stays open
    while the iterator is alive. A missing file raises FileNotFoundError.
    """
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            result: T | LineError
            try:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise LineError("<line>", f"invalid JSON: {e.msg} at column {e.colno}") from None
                result = parse(obj)
            except LineError as e:
                result = e
            # Yield outside the try, so nothing the consumer does is mistaken for a bad line.
            yield lineno, result
