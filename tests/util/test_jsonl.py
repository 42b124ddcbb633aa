from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from selflearn.util.jsonl import LineError, iter_jsonl


def _need_x(obj: Any) -> int:
    if not isinstance(obj, dict) or "x" not in obj:
        raise LineError("x", "missing")
    return int(obj["x"])


def test_yields_parsed_records_and_line_errors_with_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text('{"x": 1}\n\n   \n{"y": 2}\n{not json\n{"x": 3}\n', encoding="utf-8")
    got = list(iter_jsonl(p, _need_x))
    assert [n for n, _ in got] == [1, 4, 5, 6]
    assert got[0][1] == 1 and got[3][1] == 3
    bad_field, bad_json = got[1][1], got[2][1]
    assert isinstance(bad_field, LineError) and (bad_field.field, bad_field.message) == ("x", "missing")
    assert isinstance(bad_json, LineError) and bad_json.field == "<line>"
    assert bad_json.message.startswith("invalid JSON: ") and bad_json.message.endswith("at column 2")


def test_other_exceptions_propagate_and_missing_file_raises(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text('{"x": "nan-int"}\n', encoding="utf-8")
    with pytest.raises(ValueError):
        list(iter_jsonl(p, _need_x))
    with pytest.raises(FileNotFoundError):
        list(iter_jsonl(tmp_path / "missing.jsonl", _need_x))
