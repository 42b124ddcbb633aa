"""The A/B figures against the control arm (`eval.compare`), on hand-made truth tables."""

from __future__ import annotations

import pytest

from selflearn.eval.compare import FIGURES, PairedSeed, arm_day_figures, compare_arms, last_days
from selflearn.simulate.truth import truth_table

from .conftest import arm_truth as _arm


def test_last_days() -> None:
    assert last_days(7) == [6, 7]
    assert last_days(1) == [1]
    assert last_days(5, 3) == [3, 4, 5]


def test_identical_arms_reduce_nothing_with_a_degenerate_interval() -> None:
    arm = _arm({"1": 5, "2": 5})
    out = compare_arms([PairedSeed(0, arm, arm)], [1, 2], resamples=200)
    assert set(out) == set(FIGURES)
    for fig in FIGURES:
        assert out[fig]["relative_reduction"] == 0.0
        assert out[fig]["ci95"] == [0.0, 0.0]
        assert out[fig]["days"] == [1, 2] and out[fig]["seeds"] == [0]
        assert out[fig]["ci95_seeds"] is None  # fewer than 3 seeds


def test_figures_count_turns_first_attempts_and_goals() -> None:
    # Control: 10 of 20 people fail every first attempt (then succeed); learning: 5 of 20.
    control = _arm({"2": 10})
    learning = _arm({"2": 5})
    out = compare_arms([PairedSeed(3, learning, control)], [2], resamples=500)
    vs = out["vs_control"]
    # Request turns on day 2: control 10x10 + 10x5 = 150 with 50 failed; learning 5x10 + 15x5 = 125, 25.
    assert vs["defect_rate_control"] == pytest.approx(50 / 150)
    assert vs["defect_rate_learning"] == pytest.approx(25 / 125)
    assert vs["relative_reduction"] == pytest.approx(1 - (25 / 125) / (50 / 150))
    lo, hi = vs["ci95"]
    assert lo < vs["relative_reduction"] < hi
    first = out["first_attempt"]
    assert first["defect_rate_control"] == pytest.approx(0.5)
    assert first["defect_rate_learning"] == pytest.approx(0.25)
    assert first["relative_reduction"] == pytest.approx(0.5)
    # Every goal is eventually achieved in both arms.
    goal = out["goal_success"]
    assert goal["defect_rate_control"] == 0.0 and goal["success_rate_learning"] == 1.0
    assert goal["relative_reduction"] == 0.0
    assert vs["per_seed"][0]["seed"] == 3 and vs["per_seed"][0]["n_control"] == 150


def test_seeds_are_averaged_and_get_a_t_interval() -> None:
    seeds = [PairedSeed(s, _arm({"2": 4 + s}), _arm({"2": 10})) for s in range(3)]
    out = compare_arms(seeds, [2], resamples=300)
    per = [p["relative_reduction"] for p in out["first_attempt"]["per_seed"]]
    assert per == pytest.approx([0.6, 0.5, 0.4])
    assert out["first_attempt"]["relative_reduction"] == pytest.approx(0.5)
    lo, hi = out["first_attempt"]["ci95_seeds"]
    assert lo < 0.5 < hi
    assert out["first_attempt"]["seeds"] == [0, 1, 2]


def test_a_worse_learning_arm_gives_a_negative_reduction() -> None:
    out = compare_arms([PairedSeed(0, _arm({"2": 12}), _arm({"2": 6}))], [2], resamples=300)
    assert out["vs_control"]["relative_reduction"] < 0
    assert out["vs_control"]["ci95"][1] < 0


def test_compare_needs_a_seed() -> None:
    with pytest.raises(ValueError, match="at least one seed"):
        compare_arms([], [1])


def test_arm_day_figures() -> None:
    figs = arm_day_figures(_arm({"1": 10}, days=1))
    assert figs["first_attempt_defect_rate"] == pytest.approx(0.5)
    assert figs["goal_success_rate"] == 1.0
    assert figs["defect_rate"] == pytest.approx(50 / 150)
    assert arm_day_figures(truth_table([]))["defect_rate"] == 0.0
