"""Served turns reach the workspace log (readable by the jobs) and carry their feedback."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.rewrite.chains import rule_row, table_of

from selflearn.logs.io import read_flat, read_turns
from selflearn.logs.records import DeviceInfo, DeviceType, Turn
from selflearn.rewrite.online import OnlineRewriter
from selflearn.serve.app import ServeConfig, create_app
from selflearn.serve.turnlog import TurnLog


def _app(ws: Path, nlu: Any, **cfg: Any) -> Any:
    nlu.save(ws / "artifacts" / "models" / "nlu")
    table = table_of(rule_row("play jas", "play jazz", intent="play_music")).with_version("v0001")
    rw = OnlineRewriter(table=table, layers="off", nlu=nlu)
    return create_app(ServeConfig(workspace=ws, **cfg), rewriter=rw)


def _say(c: TestClient, text: str, user: str = "u1") -> str:
    r = c.post("/v1/interpret", json={"text": text, "user": user, "device": {"id": "kitchen-1"}})
    assert r.status_code == 200, r.text
    return str(r.json()["turn_id"])


def test_served_turns_land_in_logs_with_attached_feedback(tmp_path: Path, small_nlu: Any) -> None:
    (tmp_path / "logs" / "day=0003").mkdir(parents=True)  # an existing day: served turns get a new one
    app = _app(tmp_path, small_nlu)
    with TestClient(app) as c:
        first = _say(c, "play jas")
        second = _say(c, "turn off the kitchen lights")
        other = _say(c, "turn on the bedroom lamp", user="u2")
        fb = c.post("/v1/feedback", json={"turn_id": first, "user": "u1", "barge_in": True})
        assert fb.json() == {"stored": True, "known_turn": True, "attached": True}
        fb = c.post("/v1/feedback", json={"turn_id": first, "user": "u1", "explicit": "negative"})
        assert fb.json()["attached"] is True
        assert not list((tmp_path / "logs").glob("day=0004/*.parquet"))  # still buffered
    # leaving the client shuts the app down, which flushes the buffer
    parts = sorted((tmp_path / "logs" / "day=0004").glob("part-*.parquet"))
    assert len(parts) == 1
    flat = read_flat(tmp_path / "logs").to_pylist()
    by_id = {r["turn_id"]: r for r in flat}
    assert set(by_id) == {first, second, other}
    assert by_id[first]["rewrite_text"] == "play jazz" and by_id[first]["nlu_intent"]
    assert by_id[first]["barge_in"] is True and by_id[first]["explicit_feedback"] == "negative"
    assert by_id[second]["barge_in"] is False and by_id[second]["explicit_feedback"] is None
    # one user's consecutive requests on one device share a session, in order; users never do
    assert by_id[first]["session_id"] == by_id[second]["session_id"] != by_id[other]["session_id"]
    assert (by_id[first]["turn_index"], by_id[second]["turn_index"]) == (0, 1)
    turns = {t.turn_id: t for t in read_turns(tmp_path / "logs")}
    assert turns[second].nlu.top is not None and turns[second].response.text
    assert turns[second].latency_ms > 0
    lines = [json.loads(x) for x in (tmp_path / "serve" / "feedback.jsonl").read_text().splitlines()]
    assert [x["attached"] for x in lines] == [True, True]


def test_size_threshold_flushes_and_late_feedback_stays_in_jsonl(tmp_path: Path, small_nlu: Any) -> None:
    app = _app(tmp_path, small_nlu, log_day=7, log_flush_turns=2, log_flush_s=3600.0)
    c = TestClient(app)  # no context manager: no shutdown flush, only the size threshold
    a = _say(c, "play jas")
    assert app.state.turn_log is not None and len(app.state.turn_log) == 1
    b = _say(c, "turn off the kitchen lights")
    assert len(app.state.turn_log) == 0 and app.state.turn_log.written == 2
    assert {r["turn_id"] for r in read_flat(tmp_path / "logs" / "day=0007").to_pylist()} == {a, b}
    late = c.post("/v1/feedback", json={"turn_id": a, "user": "u1", "explicit": "positive"}).json()
    assert late == {"stored": True, "known_turn": True, "attached": False}
    line = json.loads((tmp_path / "serve" / "feedback.jsonl").read_text().splitlines()[-1])
    assert line["turn_id"] == a and line["attached"] is False


def test_age_threshold_flushes_without_requests(tmp_path: Path, small_nlu: Any) -> None:
    app = _app(tmp_path, small_nlu, log_day=1, log_flush_s=0.1)
    with TestClient(app) as c:
        tid = _say(c, "play jas")
        deadline = time.monotonic() + 5.0
        while app.state.turn_log.written == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.turn_log.written == 1  # flushed by the ticker, before shutdown
        assert [r["turn_id"] for r in read_flat(tmp_path / "logs").to_pylist()] == [tid]


def test_logging_can_be_turned_off(tmp_path: Path, small_nlu: Any) -> None:
    app = _app(tmp_path, small_nlu, log_turns=False)
    with TestClient(app) as c:
        tid = _say(c, "play jas")
        assert (
            c.post("/v1/feedback", json={"turn_id": tid, "user": "u1", "barge_in": True}).json()["attached"]
            is False
        )
    assert not (tmp_path / "logs").exists()


def _t(turn_id: str) -> Turn:
    return Turn(
        turn_id=turn_id,
        session_id="s",
        user_id="u",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        device=DeviceInfo(device_id="d", type=DeviceType.SPEAKER),
    )


def test_turnlog_rejects_bad_input_and_keeps_turns_when_a_write_fails(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_turns"):
        TurnLog(tmp_path, flush_turns=0)
    with pytest.raises(ValueError, match="day"):
        TurnLog(tmp_path, day=-1)
    log = TurnLog(tmp_path, day=2)
    log.add(_t("a"))
    with pytest.raises(ValueError, match="'a'"):
        log.add(_t("a"))
    assert log.attach("missing", explicit="negative") is False
    (tmp_path / "logs").write_text("not a directory")  # the write will fail
    with pytest.raises(OSError):
        log.flush()
    assert len(log) == 1 and log.due() is False  # turns kept for the next try
    (tmp_path / "logs").unlink()
    assert log.attach("a", barge_in=True, barge_in_offset_ms=300) is True
    assert len(log.flush()) == 1 and log.written == 1
    (t,) = read_turns(tmp_path / "logs")
    assert t.feedback.barge_in and t.feedback.barge_in_offset_ms == 300
