from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from selflearn.logs.flat import FLAT_SCHEMA, flatten_turns
from selflearn.logs.io import (
    LogWriter,
    iter_raw_records,
    iter_tables,
    list_log_files,
    read_flat,
    read_table,
    read_turns,
    write_jsonl,
    write_parquet,
)
from selflearn.logs.records import Turn
from selflearn.logs.schema import SCHEMA_VERSION_KEY, TURN_SCHEMA, schema_for_version, turns_to_table
from selflearn.logs.validate import LogFormatError

from .strategies import make_turn, turn_lists

_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(turn_lists())
def test_jsonl_round_trip(turns: list[Turn]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "logs.jsonl"
        assert write_jsonl(path, turns) == len(turns)
        assert list(read_turns(path)) == turns


@_settings
@given(turn_lists())
def test_parquet_round_trip(turns: list[Turn]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "part.parquet"
        assert write_parquet(path, turns, batch_size=3) == len(turns)
        assert list(read_turns(path, batch_size=2)) == turns
        assert read_table(path).to_pylist() == turns_to_table(turns).to_pylist()


def test_jsonl_is_one_turn_per_line_with_utc_iso_timestamps(tmp_path: Path) -> None:
    turns = [make_turn(i) for i in range(3)]
    write_jsonl(tmp_path / "a.jsonl", turns)
    lines = (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["turn_id"] == "t00000"
    assert first["timestamp"] == "2025-01-01T00:00:00Z"


def test_parquet_row_groups_follow_batch_size_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    write_parquet(path, (make_turn(i) for i in range(10)), batch_size=4)
    pf = pq.ParquetFile(path)
    assert [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)] == [4, 4, 2]
    assert pf.schema_arrow.metadata[SCHEMA_VERSION_KEY] == b"1.0"
    assert pf.schema_arrow.equals(TURN_SCHEMA, check_metadata=False)
    # Streaming read in small batches yields every batch in order.
    sizes = [t.num_rows for t in iter_tables(path, batch_size=3)]
    assert sum(sizes) == 10 and max(sizes) <= 3


def test_empty_parquet_file_has_schema(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    assert write_parquet(path, []) == 0
    assert list(read_turns(path)) == []
    assert read_table(path).schema.equals(TURN_SCHEMA, check_metadata=False)


def test_one_schema_version_per_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "mixed.parquet"
    with pytest.raises(ValueError, match="one schema version per file"):
        write_parquet(path, [make_turn(0), make_turn(1, schema_version="1.1")], batch_size=1)
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_reader_refuses_other_major_version(tmp_path: Path) -> None:
    path = tmp_path / "v2.parquet"
    pq.write_table(turns_to_table([make_turn(0)]).cast(schema_for_version("2.0")), path)
    with pytest.raises(ValueError, match=r"unsupported schema version '2\.0'"):
        list(read_turns(path))


def test_failed_write_leaves_no_partial_file(tmp_path: Path) -> None:
    def exploding():
        for i in range(50):
            if i == 30:
                raise RuntimeError("producer died")
            yield make_turn(i)

    for writer in (
        lambda p: write_parquet(p / "x.parquet", exploding(), batch_size=8),
        lambda p: write_jsonl(p / "x.jsonl", exploding()),
        lambda p: LogWriter(p, batch_size=8).write_day(1, exploding()),
    ):
        with pytest.raises(RuntimeError, match="producer died"):
            writer(tmp_path)
        leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert leftovers == []


def test_failed_overwrite_keeps_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [make_turn(0)])
    before = path.read_bytes()

    def bad():
        yield make_turn(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(path, bad())
    assert path.read_bytes() == before


def test_log_writer_layout_and_directory_order(tmp_path: Path) -> None:
    w = LogWriter(tmp_path, batch_size=4)
    assert w.next_day() == 1
    turns = [make_turn(i) for i in range(30)]
    p1 = w.write_day(1, turns[0:10])
    p2 = w.write_day(1, turns[10:15])  # a second part in the same day
    p10 = w.write_day(10, turns[25:30])  # day 10 must sort after day 2
    p2d = w.write_day(2, turns[15:25])
    assert [p.relative_to(tmp_path).as_posix() for p in p1 + p2 + p2d + p10] == [
        "logs/day=0001/part-00000.parquet",
        "logs/day=0001/part-00001.parquet",
        "logs/day=0002/part-00000.parquet",
        "logs/day=0010/part-00000.parquet",
    ]
    assert w.days() == [1, 2, 10] and w.next_day() == 11
    assert w.write_day(3, []) == []  # no empty parts, no empty day folder
    assert not w.day_dir(3).exists()
    # Hidden temp files and non-log files are ignored.
    (w.day_dir(1) / ".part-00002.parquet.abc.tmp").write_bytes(b"garbage")
    (w.day_dir(1) / "_SUCCESS").write_bytes(b"")
    assert list(read_turns(w.logs_dir, batch_size=3)) == turns
    assert len(list_log_files(w.logs_dir)) == 4


def test_log_writer_splits_schema_versions(tmp_path: Path) -> None:
    turns = [make_turn(0), make_turn(1, schema_version="1.1"), make_turn(2)]
    paths = LogWriter(tmp_path).write_day(1, turns)
    assert len(paths) == 2
    versions = [pq.ParquetFile(p).schema_arrow.metadata[SCHEMA_VERSION_KEY] for p in paths]
    assert versions == [b"1.0", b"1.1"]
    assert sorted(t.turn_id for t in read_turns(tmp_path / "logs")) == ["t00000", "t00001", "t00002"]


def test_directory_mixing_jsonl_and_parquet(tmp_path: Path) -> None:
    turns = [make_turn(i) for i in range(9)]
    write_jsonl(tmp_path / "a" / "part-1.jsonl", turns[:3])
    write_parquet(tmp_path / "a" / "part-2.parquet", turns[3:6])
    write_parquet(tmp_path / "b" / "part-1.parquet", turns[6:])
    assert list(read_turns(tmp_path)) == turns
    assert read_table(tmp_path).num_rows == 9


def test_read_flat_equals_flatten_turns(tmp_path: Path) -> None:
    turns = [make_turn(i) for i in range(60)]
    w = LogWriter(tmp_path, batch_size=7)
    w.write_day(1, turns[:25])
    w.write_day(2, turns[25:])
    flat = read_flat(w.logs_dir, batch_size=10)
    assert flat.schema.equals(FLAT_SCHEMA)
    assert flat.equals(flatten_turns(turns))
    write_jsonl(tmp_path / "x.jsonl", turns)
    assert read_flat(tmp_path / "x.jsonl").equals(flatten_turns(turns))


def test_read_turns_on_bad_jsonl_names_file_line_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = make_turn(0).model_dump_json()
    bad = make_turn(1).to_json_dict()
    bad["wake"]["score"] = 2.0
    path.write_text(good + "\n\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(LogFormatError, match=r"bad.jsonl:3: field 'wake.score'"):
        list(read_turns(path))


def test_iter_raw_records(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n\n  \nnot json\r\n', encoding="utf-8")
    assert list(iter_raw_records(path)) == [(1, b'{"a": 1}'), (4, b"not json")]
    write_parquet(tmp_path / "r.parquet", [make_turn(0), make_turn(1)])
    rows = list(iter_raw_records(tmp_path / "r.parquet"))
    assert [n for n, _ in rows] == [1, 2]
    assert Turn.model_validate(rows[1][1]) == make_turn(1)


def test_list_log_files_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list_log_files(tmp_path / "missing")
    (tmp_path / "x.csv").write_text("")
    with pytest.raises(ValueError, match="not a log file"):
        list_log_files(tmp_path / "x.csv")
    assert read_table(tmp_path).num_rows == 0
    assert read_flat(tmp_path).schema.equals(FLAT_SCHEMA)


def test_concurrent_day_writers_never_clobber(tmp_path: Path) -> None:
    w = LogWriter(tmp_path)
    a, b = w.open_day(1), w.open_day(1)
    a.write([make_turn(0)])
    b.write([make_turn(1)])
    assert b.commit() == [w.day_dir(1) / "part-00000.parquet"]
    assert a.commit() == [w.day_dir(1) / "part-00001.parquet"]
    assert sorted(t.turn_id for t in read_turns(w.logs_dir)) == ["t00000", "t00001"]


def test_readers_leave_out_deleted_people(tmp_path: Path) -> None:
    """A forgotten person's turns that reached the log again are never read (tombstones)."""
    from selflearn.logs.io import iter_tables, read_flat, workspace_tombstones
    from selflearn.util.tombstones import Tombstones

    turns = [make_turn(i) for i in range(8)]
    gone = turns[2].user_id
    LogWriter(tmp_path).write_day(1, turns[:4])
    write_jsonl(tmp_path / "logs" / "day=0002" / "late.jsonl", turns[4:])
    assert workspace_tombstones(tmp_path / "logs") is None  # nobody deleted: no filtering cost
    Tombstones(tmp_path).add(gone)
    kept = [t for t in turns if t.user_id != gone]
    assert len(kept) < len(turns)
    assert list(read_turns(tmp_path / "logs")) == kept
    late = tmp_path / "logs" / "day=0002" / "late.jsonl"
    assert list(read_turns(late)) == [t for t in turns[4:] if t.user_id != gone]
    assert sum(t.num_rows for t in iter_tables(tmp_path / "logs")) == len(kept)
    assert gone not in read_flat(tmp_path / "logs").column("user_id").to_pylist()
