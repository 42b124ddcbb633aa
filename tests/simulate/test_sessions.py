"""Realistic sessions: related follow-ups, overlapping think times, barge-ins to move on; the
classic traffic (an option, no longer the default) is untouched when the knob is off."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from selflearn.simulate import sessions
from selflearn.simulate.traffic import SimConfig, Simulator


@pytest.fixture(scope="module")
def realistic_day(small_assistant: Any) -> Any:
    sim = Simulator(SimConfig(users=40, seed=3, realistic_sessions=True))
    return sim.run_day(1, small_assistant)


def _goals(day: Any) -> list[list[Any]]:
    """Per session, its truth rows grouped by goal, in order."""
    by_session: dict[str, list[list[Any]]] = {}
    for r in day.truth:
        goals = by_session.setdefault(r.session_id, [])
        if not goals or goals[-1][0].goal_id != r.goal_id:
            goals.append([r])
        else:
            goals[-1].append(r)
    return list(by_session.values())


def test_default_traffic_is_the_realistic_one(small_assistant: Any) -> None:
    default = Simulator(SimConfig(users=10, seed=5)).run_day(1, small_assistant)
    explicit = Simulator(SimConfig(users=10, seed=5, realistic_sessions=True)).run_day(1, small_assistant)
    classic = Simulator(SimConfig(users=10, seed=5, realistic_sessions=False)).run_day(1, small_assistant)
    assert [t.turn_id for t in default.turns] == [t.turn_id for t in explicit.turns]
    assert [t.turn_id for t in default.turns] != [t.turn_id for t in classic.turns]


def test_sessions_chain_related_goals(realistic_day: Any) -> None:
    pairs = [(g[i - 1][-1], g[i][0]) for g in _goals(realistic_day) for i in range(1, len(g))]
    assert len(pairs) > 30
    same_intent = sum(a.goal_intent == b.goal_intent for a, b in pairs)
    # Related follow-ups make consecutive goals share an intent far more often than chance.
    assert same_intent / len(pairs) > 0.25


def test_time_gaps_no_longer_separate_retries_from_new_goals(realistic_day: Any) -> None:
    ts = {t.turn_id: t.timestamp for t in realistic_day.turns}
    dur = {t.turn_id: t.response.duration_ms / 1000 for t in realistic_day.turns}
    retry, new = [], []
    for goals in _goals(realistic_day):
        flat = [r for g in goals for r in g]
        for a, b in itertools.pairwise(flat):
            gap = (ts[b.turn_id] - ts[a.turn_id]).total_seconds() - dur[a.turn_id]
            (retry if a.goal_id == b.goal_id else new).append(gap)
    assert retry and new
    # The classic traffic starts every new goal >= 5 s after the previous answer and every retry
    # <= 5 s after it; here both kinds fall on both sides of 5 s.
    assert min(new) < 5.0 and max(retry) > 5.0
    assert sum(g < 5.0 for g in new) / len(new) > 0.2


def test_think_times_are_bounded_and_overlap() -> None:
    rng = random.Random(0)
    retries = [sessions.retry_think_s(rng) for _ in range(2000)]
    related = [sessions.next_goal_think_s(rng, True) for _ in range(2000)]
    other = [sessions.next_goal_think_s(rng, False) for _ in range(2000)]
    assert min(retries) >= 0.4 and max(retries) <= 40.0
    assert min(related) >= 0.4 and max(other) <= 120.0
    med = sorted(retries)[1000], sorted(related)[1000], sorted(other)[1000]
    assert abs(med[0] - med[1]) < 1.0 < med[2] - med[1]


def test_related_goal_shares_intent_or_value(small_assistant: Any) -> None:
    sim = Simulator(SimConfig(users=5, seed=1))
    menu = next(iter(sim.menus.values())).goals
    rng = random.Random(2)
    for prev in menu[:20]:
        other = sessions.related_menu_goal(menu, prev, rng)
        if other is None:
            continue
        assert other.goal_key != prev.goal_key
        assert other.intent == prev.intent or {v for _, v in prev.args} & {v for _, v in other.args}
