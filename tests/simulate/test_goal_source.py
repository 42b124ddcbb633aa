"""Goal sources as plugins of one simulator (`simulate.goal_source`)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from selflearn.simulate.ambiguity_source import ContextAmbiguity
from selflearn.simulate.goal_source import GoalSourceWrapper, find_source
from selflearn.simulate.home_goals import HomeGoals
from selflearn.simulate.traffic import SimConfig, Simulator, default_goal_source


def test_the_default_source_is_the_homes_goals_with_ambiguity_when_configured() -> None:
    plain = Simulator(SimConfig(users=4, seed=1))
    assert type(plain.source) is HomeGoals and plain.ambiguity_kinds == {}
    amb = Simulator(SimConfig(users=4, seed=1, ambiguity_share=0.3))
    assert isinstance(amb.source, ContextAmbiguity) and isinstance(amb.source.inner, HomeGoals)
    assert amb.menus is amb.source.inner.menus and amb.ambiguity_kinds is amb.source.kinds
    assert isinstance(default_goal_source(SimConfig(ambiguity_share=0.0)), HomeGoals)


def test_a_source_serves_one_simulator() -> None:
    source = HomeGoals()
    Simulator(SimConfig(users=2, seed=0), source)
    with pytest.raises(ValueError, match="already attached"):
        Simulator(SimConfig(users=2, seed=0), source)
    with pytest.raises(RuntimeError, match="not attached"):
        _ = HomeGoals().world


class _Counting(GoalSourceWrapper[Any]):
    """A transparent observer: counts the calls it passes on."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def pick(self, *args: Any) -> Any:
        self._count("pick")
        return super().pick(*args)

    def followup(self, *args: Any) -> Any:
        self._count("followup")
        return super().followup(*args)

    def judge(self, *args: Any) -> Any:
        self._count("judge")
        return super().judge(*args)


def test_a_transparent_wrapper_leaves_the_traffic_unchanged(small_assistant: Any) -> None:
    cfg = SimConfig(users=12, seed=4, ambiguity_share=0.3)
    plain = Simulator(cfg).run_day(1, small_assistant)
    counting = _Counting(default_goal_source(cfg))
    sim = Simulator(cfg, counting)
    wrapped = sim.run_day(1, small_assistant)

    def seen(t: Any) -> tuple[Any, ...]:  # what people did and heard (stage latencies are wall clock)
        return t.turn_id, t.timestamp, t.asr.text, t.text, t.response.text, t.feedback.model_dump()

    assert [seen(t) for t in wrapped.turns] == [seen(t) for t in plain.turns]
    assert wrapped.truth == plain.truth
    assert counting.calls["judge"] == sum(r.is_request for r in wrapped.truth)
    assert counting.calls["pick"] + counting.calls["followup"] >= len(
        {r.goal_id for r in wrapped.truth if r.goal_id}
    )
    assert find_source(sim.source, ContextAmbiguity) is counting.inner and sim.ambiguity_kinds


def test_home_goals_follow_ups_share_intent_or_thing() -> None:
    sim = Simulator(SimConfig(users=5, seed=1))
    source = sim.source
    assert isinstance(source, HomeGoals)
    hh = sim.households[0]
    user, ep = hh.users[0], hh.endpoints[0]
    rng = random.Random(0)
    for _ in range(20):
        picked = source.pick(hh, user, ep, rng)
        if picked is None:
            continue
        nxt = source.followup(hh, user, ep, picked, rng)
        if nxt is not None:
            prev, other = picked[0], nxt[0]
            assert other.intent == prev.intent or {v for _, v in prev.args} & {v for _, v in other.args}
