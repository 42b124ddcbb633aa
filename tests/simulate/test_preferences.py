"""Simulated people with latent preferences: truthful, deterministic, and judged by effect."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from selflearn.compose import build_assistant, default_config
from selflearn.simulate.preferences import (
    ALIAS,
    CUISINE,
    GENRE,
    TEAM,
    PreferenceSimulator,
    PreferenceTruth,
    PrefSimConfig,
    logged_act,
)
from selflearn.teach.component import TeachRuntime

ACTS = {
    "none", "teach", "correct", "answer", "confirm", "deny", "skip", "stop", "forget", "forget_all", "query",
    "learn", "dissatisfied",
}  # fmt: skip


def _run(
    nlu: Any, users: int = 12, seed: int = 3
) -> tuple[PreferenceSimulator, list[Any], list[PreferenceTruth]]:
    sim = PreferenceSimulator(PrefSimConfig(users=users, seed=seed))
    assistant = build_assistant(default_config(seed=seed, nlu=nlu, asr_error_rate=0.0, teach=TeachRuntime()))
    turns, truth = sim.run(assistant)
    return sim, turns, truth


@pytest.fixture(scope="module")
def run(small_nlu: Any) -> tuple[PreferenceSimulator, list[Any], list[PreferenceTruth]]:
    return _run(small_nlu)


def test_every_turn_has_a_truth_row_matching_the_log(
    run: tuple[Any, list[Any], list[PreferenceTruth]],
) -> None:
    _sim, turns, truth = run
    assert len(turns) == len(truth) > 50
    for turn, row in zip(turns, truth, strict=True):
        assert row.turn_id == turn.turn_id and row.user_id == turn.user_id
        assert row.expected_act in ACTS
        assert logged_act(turn)[0] == row.predicted_act
    modes = Counter(r.mode for r in truth)
    assert set(modes) <= {"unprompted", "guided", "moment"} and len(modes) >= 2


def test_people_answer_truthfully(run: tuple[PreferenceSimulator, list[Any], list[PreferenceTruth]]) -> None:
    sim, _turns, truth = run
    latent = {p.user.user_id: p.prefs for p in sim.people()}
    for r in truth:
        if (
            r.expected_act in ("teach", "answer", "correct")
            and r.phase == "teach"
            and r.expected_kind != ALIAS
        ):
            assert r.expected_kind in (TEAM, CUISINE, GENRE)
            value = latent[r.user_id].value(r.expected_kind)  # type: ignore[arg-type]
            # an answer may be a first thought the person then corrects (a change of mind)
            assert r.expected_value == value or r.expected_act == "answer"


def test_requests_are_judged_by_effect_and_teaching_helps(
    run: tuple[Any, list[Any], list[PreferenceTruth]],
) -> None:
    _sim, _turns, truth = run
    reqs = [r for r in truth if r.pref_kind is not None]
    before = [r.success for r in reqs if r.phase == "before"]
    nxt = [r.success for r in reqs if r.next_after_teach]
    assert all(isinstance(s, bool) for s in before + nxt)
    assert before and nxt
    assert sum(nxt) / len(nxt) > sum(before) / len(before) + 0.3


def test_same_seed_same_episodes(small_nlu: Any) -> None:
    a = [(r.spoken_text, r.expected_act, r.expected_value) for r in _run(small_nlu, users=4)[2]]
    b = [(r.spoken_text, r.expected_act, r.expected_value) for r in _run(small_nlu, users=4)[2]]
    assert a == b and a


def test_latent_preferences_use_the_world_and_the_home() -> None:
    sim = PreferenceSimulator(PrefSimConfig(users=30, seed=1))
    people = sim.people()
    assert any(p.prefs.alias for p in people)
    for p in people:
        if p.prefs.alias:
            name, eid = p.prefs.alias
            assert eid in p.household.home.devices
            assert not p.household.home.exact_devices(name)  # a name only this person uses
