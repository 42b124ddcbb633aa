"""Forgetting a person removes them from every store of a workspace, and only them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tests.rewrite.chains import candidate_index, rule_row, table_of
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.context.history import HistoryStore
from selflearn.context.nightly import ContextModel
from selflearn.context.signals import Interpretation
from selflearn.context.store import publish_context
from selflearn.logs.io import LogWriter, read_flat
from selflearn.logs.records import DeviceInfo, DeviceType, Turn
from selflearn.privacy.forget import find_traces, forget_user
from selflearn.rewrite.online import OnlineStore
from selflearn.rewrite.ranking import FEATURES, RewriteRanker
from selflearn.rewrite.retrieval import PersonalIndexes
from selflearn.rewrite.store import RewriteStore
from selflearn.serve.turnlog import TurnLog
from selflearn.teach.store import PreferenceStore
from selflearn.util.tombstones import Tombstones
from selflearn.util.workspace import Workspace

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _turn(i: int, user: str) -> Turn:
    return Turn(
        turn_id=f"{user}-{i:03d}",
        session_id=f"s-{user}",
        user_id=user,
        turn_index=i,
        timestamp=T0 + timedelta(seconds=i),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
    )


def _workspace(ws: Path) -> None:
    """alice and bob in every store a workspace has."""
    writer = LogWriter(ws)
    writer.write_day(1, [_turn(i, u) for i in range(3) for u in ("alice", "bob")])
    writer.write_day(2, [_turn(i, "alice") for i in range(3, 5)])
    pq.write_table(pa.table({"user_id": ["alice", "bob"], "success": [True, False]}), ws / "truth.parquet")
    (ws / "serve").mkdir(parents=True, exist_ok=True)
    (ws / "serve" / "feedback.jsonl").write_text(
        "".join(
            json.dumps({"turn_id": f"{u}-000", "user": u, "barge_in": True}) + "\n" for u in ("alice", "bob")
        )
    )
    (ws / "quarantine").mkdir()
    (ws / "quarantine" / "x.jsonl").write_text(
        json.dumps({"line": 1, "raw": {"user_id": "alice", "turn_id": 5}})
        + "\n"
        + json.dumps({"line": 2, "raw": '{"user_id": "alice", "broken'})
        + "\n"
        + json.dumps({"line": 3, "raw": {"user_id": "bob"}})
        + "\n"
    )
    history = HistoryStore()
    for u in ("alice", "bob"):
        history.add(u, Interpretation.make("lights_on", {"room": "kitchen"}), 8, "speaker")
    publish_context(ws, ContextModel(None, history, 0, 0))
    publish_context(ws, ContextModel(None, history, 0, 0))  # an older version holds them too
    with PreferenceStore(Workspace(ws).preferences_db) as prefs:
        prefs.set("alice", "favorite_team", "arsenal")
        prefs.set("bob", "favorite_team", "chelsea")
    RewriteStore(ws).publish(
        table_of(rule_row("play jas", "play jazz", users=("alice", "bob", "carol", "dan")))
    )
    x = np.zeros((4, len(FEATURES)))
    x[[0, 2], 0] = 1.0
    ranker = RewriteRanker(n_estimators=5).fit(x, np.array([2, 0, 2, 0]), np.array([2, 2]))
    personal = PersonalIndexes(
        {
            "alice": candidate_index("personal", ["my lamp on"], [["alice"]]),
            "bob": candidate_index("personal", ["tv off"], [["bob"]]),
        }
    )
    glob = candidate_index("global", ["lights off"], [["alice", "bob", "carol", "dan"]])
    OnlineStore(ws).publish(glob.to_arrow(), personal.to_arrow(), ranker, None, {"min_users": 3})


def test_forget_leaves_no_trace_of_the_person_and_keeps_everyone_else(tmp_path: Path) -> None:
    _workspace(tmp_path)
    assert len(find_traces(tmp_path, "alice")) >= 8
    log = TurnLog(tmp_path, day=3)  # a running service: one buffered turn each, journaled
    log.add(_turn(9, "alice"))
    log.add(_turn(9, "bob"))
    assert log.attach("alice-009", barge_in=True)
    report = forget_user(tmp_path, "alice", buffer=log)
    assert report.tombstone_new and "alice" in Tombstones(tmp_path)
    assert report.removed["logs"] == 5 and report.removed["service buffer"] == 1
    assert report.removed["quarantine"] == 2 and report.removed["late feedback"] == 1
    assert report.removed["preferences"] == 1 and report.removed["context history"] == 2
    assert report.online_versions_scrubbed >= 1 and report.rewrite_table_version is not None
    assert find_traces(tmp_path, "alice") == []
    # everyone else is untouched
    log.close()
    flat = read_flat(tmp_path / "logs")
    assert set(flat.column("user_id").to_pylist()) == {"bob"} and flat.num_rows == 4
    assert len(find_traces(tmp_path, "bob")) >= 6
    # forgetting again finds nothing more and is harmless
    again = forget_user(tmp_path, "alice")
    assert again.total == 0 and not again.tombstone_new


def test_the_cli_reports_what_went_and_checks_for_traces(tmp_path: Path) -> None:
    _workspace(tmp_path)
    r = CliRunner().invoke(app, ["forget", "bob", "--workspace", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "no trace of bob is left" in r.output and "logs" in r.output
    assert find_traces(tmp_path, "bob") == []
