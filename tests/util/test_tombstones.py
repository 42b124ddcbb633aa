"""Tombstones: durable, keyed-hash records of deleted people that readers filter by."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from selflearn.util.tombstones import Tombstones


def test_a_tombstone_lasts_and_holds_no_plain_id(tmp_path: Path) -> None:
    t = Tombstones(tmp_path)
    assert "alice" not in t and len(t) == 0
    assert t.add("alice") is True and t.add("alice") is False
    text = (tmp_path / "privacy" / "tombstones.jsonl").read_text()
    assert "alice" not in text
    assert (tmp_path / "privacy" / "key").stat().st_mode & 0o077 == 0
    again = Tombstones(tmp_path)  # another process, later
    assert "alice" in again and "bob" not in again and len(again) == 1
    assert again.deleted(["alice", "bob", ""]) == {"alice"}
    t.add("bob")
    assert "bob" in again  # a reader sees people forgotten after it opened the file


def test_filter_table_drops_the_deleted_rows_only(tmp_path: Path) -> None:
    t = Tombstones(tmp_path)
    table = pa.table({"user_id": ["alice", "bob", None, "alice"], "x": [1, 2, 3, 4]})
    same, n = t.filter_table(table)
    assert n == 0 and same.num_rows == 4
    t.add("alice")
    out, n = t.filter_table(table)
    assert n == 2 and out.column("x").to_pylist() == [2, 3]
    assert t.filter_table(pa.table({"other": [1]}))[1] == 0
