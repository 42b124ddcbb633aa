"""Dialogues and weak labels built from logs: structure, masking, and agreement with the truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from selflearn.labels.dataset import CAT_FEATURES, NUM_FEATURES, DialogueBuilder, WeakLabelConfig, split_long


@pytest.fixture(scope="module")
def built(sim_log: dict[str, Any]) -> tuple[DialogueBuilder, list[Any]]:
    b = DialogueBuilder().fit(sim_log["turns"])
    return b, b.build(sim_log["turns"])


def test_one_dialogue_per_session_in_time_order(built: Any, sim_log: dict[str, Any]) -> None:
    _b, ds = built
    turns = {t.turn_id: t for t in sim_log["turns"]}
    assert sum(len(d) for d in ds) == sum(t.wake.detected for t in sim_log["turns"])
    assert len({d.session_id for d in ds}) == len(ds)
    for d in ds:
        ts = [turns[t].timestamp for t in d.turn_ids]
        assert ts == sorted(ts)
        assert d.cat.shape == (len(d), len(CAT_FEATURES)) and d.num.shape == (len(d), len(NUM_FEATURES))
        assert np.isfinite(d.num).all()
        assert d.goal_start[0] == 1.0  # a session's first turn starts a goal


def test_weak_labels_come_from_signals_and_mostly_agree_with_truth(
    built: Any, sim_log: dict[str, Any]
) -> None:
    b, ds = built
    truth = {r["turn_id"]: r for r in sim_log["truth"].to_pylist()}
    turns = {t.turn_id: t for t in sim_log["turns"]}
    y = np.array([not truth[t]["success"] for d in ds for t in d.turn_ids])
    p = np.array([v >= 0.5 for d in ds for v in d.defect])
    assert (y == p).mean() > 0.8  # the feedback signals are informative...
    for d in ds:
        for i, tid in enumerate(d.turn_ids):
            t = turns[tid]
            if t.feedback.explicit is not None:
                assert d.defect_w[i] == 3.0  # ...and explicit answers weigh most
            if d.intent[i] >= 0:
                # self-training targets only on goals weakly labelled successful
                assert d.goal_success[i] == 1.0
                assert b.intents_.items[d.intent[i]] in {x for x in d.nlu_intents if x}
            if d.slot_tags[i] is not None:
                for name, s, e in d.slot_tags[i]:
                    assert 0 <= s < e <= len(d.requests[i]) and name in b.slot_names_.items


def test_unfitted_and_duplicate_ids_fail_clearly(sim_log: dict[str, Any]) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        DialogueBuilder().build(sim_log["turns"])
    t = sim_log["turns"][0]
    b = DialogueBuilder().fit([t])
    with pytest.raises(ValueError, match=f"turn '{t.turn_id}'.*turn_id"):
        b.build([t, t])


def test_split_long_windows_keep_every_turn(built: Any) -> None:
    _b, ds = built
    longest = max(ds, key=len)
    parts = split_long([longest], 2)
    assert [tid for p in parts for tid in p.turn_ids] == longest.turn_ids
    assert all(len(p) <= 2 for p in parts)


def test_soft_targets_follow_the_measured_reliability(sim_log: dict[str, Any]) -> None:
    b = DialogueBuilder(config=WeakLabelConfig(soft_targets=True)).fit(sim_log["turns"])
    ds = b.build(sim_log["turns"])
    rel = b.reliability_
    assert set(rel) == {"silent:ok", "silent:defect", "implicit:ok", "implicit:defect"}
    assert all(0.0 < v < 1.0 for v in rel.values())
    allowed = {round(v, 5) for v in rel.values()} | {round(1 - v, 5) for v in rel.values()} | {0.05, 0.95}
    for d in ds:
        assert {round(float(x), 5) for x in d.defect_soft} <= allowed
        # hard verdict and soft target point the same way
        assert ((d.defect_soft >= 0.5) == (d.defect >= 0.5)).all()
