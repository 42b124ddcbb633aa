"""Eval side: gold labels from the truth table, the simulated annotator's error rate, and scoring."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from selflearn.eval.annotator import SimulatedAnnotator, gold_labels, score_heads, threshold_sweep


@pytest.fixture(scope="module")
def gold(sim_log: dict[str, Any]) -> list[Any]:
    return gold_labels(sim_log["turns"], sim_log["truth"], sim_log["gold_slots"])


def test_gold_follows_the_truth(gold: list[Any], sim_log: dict[str, Any]) -> None:
    truth = {r["turn_id"]: r for r in sim_log["truth"].to_pylist()}
    assert gold and all(g.defect == (not truth[g.turn_id]["success"]) for g in gold)
    for a, b in itertools.pairwise(gold):
        if a.session_id != b.session_id:
            assert b.goal_start
    assert any(g.slots for g in gold)


def test_annotator_errs_at_its_rate_and_perfect_labels_score_one(gold: list[Any]) -> None:
    perfect = SimulatedAnnotator(error_rate=0.0).annotate(gold)
    s = score_heads(gold, perfect)
    assert all(s[h]["accuracy"] == 1.0 for h in ("defect", "goal_success", "intent", "slots"))
    noisy = SimulatedAnnotator(error_rate=0.1, seed=1).annotate(gold)
    s = score_heads(gold, noisy)
    wrong = sum(n["defect"] != g.defect for n, g in zip(noisy, gold, strict=True))
    assert wrong == round(0.1 * len(gold))
    assert 0.85 <= s["goal_success"]["accuracy"] <= 0.95
    with pytest.raises(ValueError, match="error_rate"):
        SimulatedAnnotator(error_rate=1.5)


def test_sweep_trades_coverage_for_precision(
    tiny_labeller: Any, sim_log: dict[str, Any], gold: list[Any]
) -> None:
    table = tiny_labeller.predict(sim_log["turns"])
    sweep = threshold_sweep(gold, table, heads=("defect",), thresholds=(0.5, 0.99))
    assert sweep[0]["coverage"] == 1.0
    assert sweep[1]["coverage"] <= sweep[0]["coverage"]
    with pytest.raises(ValueError, match="no label row"):
        score_heads(gold, [])
