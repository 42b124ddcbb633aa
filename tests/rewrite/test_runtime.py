from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from selflearn.assistant.component import Component, TurnState, Utterance, build, create
from selflearn.logs.records import AsrHypothesis, AsrStage, DeviceInfo, DeviceType, RewriteStage, Turn
from selflearn.rewrite.runtime import PrecomputedRewriter
from selflearn.rewrite.store import RewriteStore
from selflearn.text.normalize import normalize_request

from .chains import rule_row, table_of

A = rule_row("turn of the kitchen lice", "turn off the kitchen lights", probability=0.83)
B = rule_row("play jas", "play jazz", intent="play_music")


def state(text: str) -> TurnState:
    turn = Turn(
        turn_id="t1",
        session_id="s1",
        user_id="u1",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
        asr=AsrStage(engine="test", nbest=[AsrHypothesis(text=text, confidence=0.6)]),
    )
    return TurnState(turn=turn, utterance=Utterance(text=text))


def test_fills_the_rewrite_stage() -> None:
    rewriter = PrecomputedRewriter(table=table_of(A).with_version("v0007"))
    assert isinstance(rewriter, Component) and rewriter.name == "rewrite"
    out = rewriter(state("Turn of the kitchen lice!")).turn
    assert out.rewrite == RewriteStage(
        original="Turn of the kitchen lice!",
        rewritten="turn off the kitchen lights",
        rule_id=A["rule_id"],
        source="precomputed",
        score=0.83,
        table_version="v0007",
    )
    assert out.text == "turn off the kitchen lights"  # what the NLU will read


def test_leaves_unknown_requests_and_earlier_rewrites_alone() -> None:
    rewriter = PrecomputedRewriter(table=table_of(A))
    assert rewriter(state("turn off the kitchen lights")).turn.rewrite is None
    assert rewriter(state("")).turn.rewrite is None
    st = state("turn of the kitchen lice")
    st.turn.rewrite = RewriteStage(original="x", rewritten="y", rule_id="other", source="online-global")
    assert rewriter(st).turn.rewrite.rule_id == "other"  # type: ignore[union-attr]
    strict = PrecomputedRewriter(table=table_of(A), min_score=0.9)
    assert strict(state("turn of the kitchen lice")).turn.rewrite is None


def test_follows_the_store(tmp_path: Path) -> None:
    store = RewriteStore(tmp_path)
    empty = PrecomputedRewriter(root=tmp_path, check_interval_s=0.0)
    assert empty.version is None and empty(state("play jas")).turn.rewrite is None
    store.publish(table_of(A))
    rewriter = PrecomputedRewriter(root=tmp_path, check_interval_s=0.0)
    assert rewriter.version == "v0001"
    assert rewriter(state("play jas")).turn.rewrite is None
    store.publish(table_of(A, B))
    got = rewriter(state("play jas")).turn.rewrite  # picked up on the next call
    assert got is not None and got.table_version == "v0002"
    store.rollback()
    assert rewriter(state("play jas")).turn.rewrite is None
    assert rewriter.version == "v0001"
    assert not rewriter.reload()  # nothing new


def test_checks_at_most_once_per_interval(tmp_path: Path) -> None:
    store = RewriteStore(tmp_path)
    store.publish(table_of(A))
    rewriter = PrecomputedRewriter(root=tmp_path, check_interval_s=3600.0)
    store.publish(table_of(A, B))
    assert rewriter(state("play jas")).turn.rewrite is None  # not yet looked at
    assert rewriter.reload() and rewriter.version == "v0002"
    assert rewriter(state("play jas")).turn.rewrite is not None


def test_registered_and_buildable_from_config(tmp_path: Path) -> None:
    RewriteStore(tmp_path).publish(table_of(A))
    comp = create("rewrite.precomputed.v1", root=str(tmp_path))
    assert isinstance(comp, PrecomputedRewriter) and comp.version == "v0001"
    pipeline = build([{"component": "rewrite.precomputed.v1", "table": table_of(A)}])
    out = pipeline(state("turn of the kitchen lice")).turn
    assert out.rewrite is not None and out.rewrite.rule_id == A["rule_id"]
    with pytest.raises(ValueError, match="exactly one"):
        PrecomputedRewriter()


def test_lookup_takes_microseconds() -> None:
    rows = [rule_row(f"source number {i}", f"target number {i}") for i in range(5000)]
    table = table_of(*rows)
    keys = [normalize_request(f"Source number {i}!") for i in range(0, 5000, 5)]
    n = 0
    t0 = time.perf_counter()
    for _ in range(20):
        for k in keys:
            n += table.lookup(k) is not None
    per_lookup = (time.perf_counter() - t0) / (20 * len(keys))
    assert n == 20 * len(keys)
    assert per_lookup < 5e-6  # a dict probe; generous for a loaded shared machine
