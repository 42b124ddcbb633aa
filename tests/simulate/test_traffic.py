from __future__ import annotations

import json
from typing import Any

import pytest

from selflearn.home import intents
from selflearn.simulate.traffic import SimConfig, Simulator
from selflearn.simulate.truth import FailedStage, truth_table


@pytest.fixture(scope="module")
def day_one(small_assistant: Any) -> Any:
    sim = Simulator(SimConfig(users=40, seed=3))
    return sim.run_day(1, small_assistant)


def test_same_seed_same_traffic(small_assistant: Any, day_one: Any) -> None:
    again = Simulator(SimConfig(users=40, seed=3)).run_day(1, small_assistant)
    assert [t.turn_id for t in again.turns] == [t.turn_id for t in day_one.turns]
    assert [t.asr.text for t in again.turns] == [t.asr.text for t in day_one.turns]
    assert [r.success for r in again.truth] == [r.success for r in day_one.truth]


def test_other_seed_other_traffic(small_assistant: Any, day_one: Any) -> None:
    other = Simulator(SimConfig(users=40, seed=4)).run_day(1, small_assistant)
    assert [t.turn_id for t in other.turns] != [t.turn_id for t in day_one.turns]


def test_truth_row_per_logged_turn(day_one: Any) -> None:
    assert len(day_one.turns) == len(day_one.truth) > 50
    assert [t.turn_id for t in day_one.turns] == [r.turn_id for r in day_one.truth]
    table = truth_table(day_one.truth)
    assert table.num_rows == len(day_one.truth)


def test_turns_are_what_a_real_log_holds(day_one: Any) -> None:
    for t in day_one.turns:
        assert t.timestamp.tzinfo is not None
        assert t.wake.detected  # missed wake words are not logged: the device heard nothing
        assert t.context.device_states, "every turn carries a snapshot of the home"
        dumped = json.dumps(t.to_json_dict())
        # The spoken (reference) text is truth; it may equal the ASR text but is never a field.
        assert "spoken_text" not in dumped and "goal_id" not in dumped


def test_goals_are_known_intents_and_outcomes_judged(day_one: Any) -> None:
    reqs = [r for r in day_one.truth if r.is_request]
    assert reqs
    assert {r.goal_intent for r in reqs} <= set(intents.BY_NAME)
    for r in reqs:
        if r.success:
            assert r.failed_stage == FailedStage.CORRECT
        else:
            assert r.failed_stage in {s.value for s in FailedStage} - {"correct", "false_wake"}
    defect = sum(not r.success for r in reqs) / len(reqs)
    assert 0.02 < defect < 0.7


def test_retries_follow_failures_within_a_goal(day_one: Any) -> None:
    by_goal: dict[str, list[Any]] = {}
    for r in day_one.truth:
        if r.goal_id:
            by_goal.setdefault(r.goal_id, []).append(r)
    for rows in by_goal.values():
        assert [r.attempt for r in rows] == sorted(r.attempt for r in rows)
        # Nobody retries a goal that already succeeded.
        assert all(not r.success for r in rows[:-1])


def test_rephrase_strategies_seen(small_assistant: Any) -> None:
    sim = Simulator(SimConfig(users=60, seed=5))
    res = sim.run_day(1, small_assistant)
    strategies = {r.strategy for r in res.truth}
    assert "first" in strategies
    assert strategies & {"repeat", "careful", "paraphrase", "explicit"}


def _goal_sequences(day: Any) -> dict[str, list[tuple[str | None, str | None]]]:
    """Per session, the goals people pursued, in order (a goal once however often it was tried)."""
    seqs: dict[str, list[tuple[str | None, str | None]]] = {}
    seen: set[str | None] = set()
    for r in day.truth:
        if r.is_request and r.goal_id not in seen:
            seen.add(r.goal_id)
            seqs.setdefault(r.session_id, []).append((r.goal_intent, r.goal_args))
    return seqs


@pytest.mark.parametrize("paired", [True, False])
def test_paired_streams_keep_goals_fixed_when_outcomes_change(
    small_assistant: Any, small_nlu: Any, paired: bool
) -> None:
    """Under paired streams an assistant that hears better changes how often people retry and
    nothing else they want that day; without them the household's dice reshuffle."""
    from selflearn.compose import build_assistant, default_config

    clear = build_assistant(default_config(seed=0, nlu=small_nlu, asr_error_rate=0.0))
    cfg = SimConfig(users=40, seed=3, paired_streams=paired)
    a = Simulator(cfg).run_day(1, small_assistant)
    b = Simulator(cfg).run_day(1, clear)
    sa, sb = _goal_sequences(a), _goal_sequences(b)
    assert sum(not r.success for r in b.truth) < sum(not r.success for r in a.truth)
    same = sum(sa[k] == sb.get(k) for k in sa) / len(sa)
    if paired:
        assert same > 0.97
    else:
        assert same < 0.9
