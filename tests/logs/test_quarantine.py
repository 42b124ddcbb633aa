from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selflearn.logs.io import read_turns, write_jsonl, write_parquet
from selflearn.logs.quarantine import ingest, quarantine_dir, read_quarantine
from selflearn.logs.records import WakeStage

from .strategies import make_turn, turn_lists


def _mixed_jsonl(path: Path) -> tuple[list, list[str]]:
    turns = [make_turn(i) for i in range(12)]
    lines = [t.model_dump_json() for t in turns]
    bad = make_turn(100).to_json_dict()
    bad["asr"]["nbest"][0]["confidence"] = 1.5
    lines.insert(3, json.dumps(bad))  # line 4
    lines.insert(6, "{truncated")  # line 7
    lines.insert(8, "")  # line 9: blank, not a record
    lines.append(make_turn(5).model_dump_json())  # duplicate of a good one (last line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return turns, lines


def test_ingest_jsonl_splits_good_and_quarantined(tmp_path: Path) -> None:
    src = tmp_path / "logs.jsonl"
    turns, lines = _mixed_jsonl(src)
    ws = tmp_path / "ws"
    report = ingest(src, ws, batch_size=5)
    n_records = sum(1 for line in lines if line.strip())
    assert report.n_input == n_records == 15
    assert (report.n_good, report.n_quarantined) == (12, 3)
    assert report.n_good + report.n_quarantined == report.n_input  # nothing silently dropped
    assert report.day == 1
    assert [p.relative_to(ws).as_posix() for p in report.log_paths] == ["logs/day=0001/part-00000.parquet"]
    assert list(read_turns(ws / "logs")) == turns

    assert report.quarantine_path is not None
    assert report.quarantine_path.parent == quarantine_dir(ws)
    assert report.quarantine_path.name.startswith("logs-") and report.quarantine_path.suffix == ".jsonl"
    rejected = list(read_quarantine(report.quarantine_path))
    assert [(r["source"], r["line"], r["field"]) for r in rejected] == [
        ("logs.jsonl", 4, "asr.nbest.0.confidence"),
        ("logs.jsonl", 7, "<json>"),
        ("logs.jsonl", 16, "turn_id"),
    ]
    assert rejected[0]["message"] == "Input should be less than or equal to 1"
    assert rejected[0]["raw"]["turn_id"] == "t00100"
    assert rejected[1]["raw"] == "{truncated"
    assert rejected[0]["errors"] == [{"field": "asr.nbest.0.confidence", "message": rejected[0]["message"]}]
    assert "logs.jsonl:4: field 'asr.nbest.0.confidence': Input should be" in str(report)


def test_ingest_parquet_rows(tmp_path: Path) -> None:
    broken = make_turn(3).model_copy(
        update={"wake": WakeStage.model_construct(detected=True, score=3.0, threshold=0.5, error=None)}
    )
    rows = [make_turn(0), make_turn(1), broken, make_turn(4), make_turn(1)]
    src = tmp_path / "in.parquet"
    write_parquet(src, rows, batch_size=2)
    report = ingest(src, tmp_path / "ws", day=7, batch_size=2)
    assert (report.n_input, report.n_good, report.n_quarantined) == (5, 3, 2)
    assert report.log_paths[0].parent.name == "day=0007"
    rejected = list(read_quarantine(quarantine_dir(tmp_path / "ws")))
    assert [(r["line"], r["field"]) for r in rejected] == [(3, "wake.score"), (5, "turn_id")]
    assert rejected[0]["raw"]["timestamp"].startswith("2025-01-01T00:00:51")  # datetimes kept readable


def test_all_good_makes_no_quarantine_file_and_days_advance(tmp_path: Path) -> None:
    src, other = tmp_path / "ok.jsonl", tmp_path / "more.jsonl"
    write_jsonl(src, [make_turn(i) for i in range(4)])
    write_jsonl(other, [make_turn(i) for i in range(4, 6)])
    ws = tmp_path / "ws"
    r1 = ingest(src, ws)
    r2 = ingest(other, ws)
    assert (r1.day, r2.day) == (1, 2)
    assert r1.quarantine_path is None and not quarantine_dir(ws).exists()
    assert r1.to_json_dict()["n_quarantined"] == 0


def test_all_bad_writes_no_log_part(tmp_path: Path) -> None:
    src = tmp_path / "junk.jsonl"
    src.write_text("x\ny\n", encoding="utf-8")
    report = ingest(src, tmp_path / "ws")
    assert (report.n_input, report.n_good, report.n_quarantined) == (2, 0, 2)
    assert report.log_paths == []
    assert not (tmp_path / "ws" / "logs").exists()
    assert len(list(read_quarantine(quarantine_dir(tmp_path / "ws")))) == 2


def test_ingest_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="not a log file"):
        ingest(tmp_path / "x.csv", tmp_path / "ws")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    turns=turn_lists(max_size=10),
    damage=st.lists(
        st.sampled_from(["junk", "confidence", "blank", "duplicate", None]), min_size=10, max_size=10
    ),
)
def test_nothing_is_silently_dropped(turns: list, damage: list[str | None]) -> None:
    lines: list[str] = []
    kept = []
    for t, how in zip(turns, damage, strict=False):
        if how == "junk":
            lines.append("{" + json.dumps(t.turn_id)[1:-1])  # escaped: one line, however odd the id
        elif how == "confidence":
            d = t.to_json_dict()
            d["wake"]["score"] = 1.5
            lines.append(json.dumps(d))
        else:
            lines.append(t.model_dump_json())
            kept.append(t)
            if how == "blank":
                lines.append("   ")
            elif how == "duplicate":
                lines.append(t.model_dump_json())
    with tempfile.TemporaryDirectory() as d:
        src, ws = Path(d) / "in.jsonl", Path(d) / "ws"
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report = ingest(src, ws, batch_size=3)
        n_lines = sum(1 for line in lines if line.strip())
        assert report.n_input == n_lines
        assert report.n_good + report.n_quarantined + report.n_already_stored == n_lines
        assert report.n_good == len(kept)
        good = list(read_turns(ws / "logs")) if report.log_paths else []
        assert good == kept
        quarantined = list(read_quarantine(report.quarantine_path)) if report.quarantine_path else []
        assert len(quarantined) == report.n_quarantined


def test_reingesting_stores_each_turn_once_and_says_so(tmp_path: Path) -> None:
    src = tmp_path / "export.jsonl"
    write_jsonl(src, [make_turn(i) for i in range(6)])
    ws = tmp_path / "ws"
    first = ingest(src, ws)
    write_jsonl(src, [make_turn(i) for i in range(4, 9)])  # overlaps the first export by two
    second = ingest(src, ws)
    assert (first.n_good, first.n_already_stored) == (6, 0)
    assert (second.n_input, second.n_good, second.n_already_stored) == (5, 3, 2)
    assert second.already_stored == ["t00004", "t00005"]
    assert "2 already stored, not stored again: t00004, t00005" in str(second)
    ids = [t.turn_id for t in read_turns(ws / "logs")]
    assert sorted(ids) == [f"t{i:05d}" for i in range(9)]


def test_a_forgotten_person_is_not_ingested_again(tmp_path: Path) -> None:
    from selflearn.util.tombstones import Tombstones

    turns = [make_turn(i) for i in range(6)]
    gone = turns[1].user_id
    ws = tmp_path / "ws"
    Tombstones(ws).add(gone)
    src = tmp_path / "old-export.jsonl"
    write_jsonl(src, turns)
    report = ingest(src, ws)
    kept = [t for t in turns if t.user_id != gone]
    assert report.n_forgotten == len(turns) - len(kept) > 0
    assert report.n_good == len(kept)
    assert list(read_turns(ws / "logs")) == kept
    assert not quarantine_dir(ws).exists()  # their records are not kept anywhere


def test_a_lone_surrogate_is_quarantined_readably_and_the_rest_ingested(tmp_path: Path) -> None:
    bad = make_turn(1).to_json_dict()
    bad["asr"]["text"] = "turn on \udc80"
    lines = [make_turn(i).model_dump_json().encode() for i in (0, 2)]
    lines.insert(1, json.dumps(bad).encode())
    # the same record with the surrogate as raw (invalid) UTF-8 bytes
    lines.append(json.dumps(bad, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    src = tmp_path / "s.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest(src, tmp_path / "ws")
    assert (report.n_good, report.n_quarantined) == (2, 2)
    rejected = list(read_quarantine(quarantine_dir(tmp_path / "ws")))
    assert [r["field"] for r in rejected] == ["<json>", "<json>"]
    assert rejected[0]["raw"]["asr"]["text"] == "turn on \udc80"
