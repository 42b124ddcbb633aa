"""Context ambiguity as a wrapper over the home's goals (`ContextAmbiguity`).

The scenarios themselves (what is set up in the home, what people say, what they mean) are
`simulate.ambiguity`; this module plugs them into the simulator, around another source of home
goals (`simulate.home_goals.HomeGoals`). The simulator applies it when
`SimConfig.ambiguity_share > 0`, so traffic without ambiguity never draws a number for it. It

* plans sessions that open with an anaphora pair ("turn on the tv" ... "turn it off");
* picks a scenario goal with probability `ambiguity_share`, else the inner source's goal, kept
  consistent with the scenarios' world (`ambiguity.adapt_goal`); follow-ups too;
* says scenario goals ambiguously first and spells them out on a retry;
* judges like the inner source (effect on the home) and records each scenario turn's kind in
  `kinds` (turn id -> kind, simulator side only: `Simulator.ambiguity_kinds`).

The scenario state (profiles, setups to undo, pending follow-ups) stays keyed by the simulator
(`ambiguity._state`), which is what the ambiguity functions are given.
"""

from __future__ import annotations

import random

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState
from selflearn.contracts.actions import Outcome
from selflearn.home.home import Home
from selflearn.simulate.ambiguity import KINDS, AmbiguousGoal, adapt_goal, pick_ambiguous, plan_session
from selflearn.simulate.ambiguity import first_phrasing as ambiguous_first_phrasing
from selflearn.simulate.ambiguity import retry_phrasing as ambiguous_retry_phrasing
from selflearn.simulate.goal_source import Attempt, GoalSource, GoalSourceWrapper
from selflearn.simulate.home_goals import HomePick
from selflearn.simulate.phrasing import Phrasing
from selflearn.simulate.population import Endpoint, Household, User
from selflearn.simulate.truth import TruthRow

__all__ = ["ContextAmbiguity"]


class ContextAmbiguity(GoalSourceWrapper[HomePick]):
    """Ambiguity scenarios mixed into another source's home goals (see the module docstring)."""

    def __init__(self, inner: GoalSource[HomePick]) -> None:
        super().__init__(inner)
        self.kinds: dict[str, str] = {}  # turn id -> ambiguity kind (simulator side)

    def plan_session(self, user: User, n_goals: int, rng: random.Random) -> int:
        return plan_session(self.world, user, self.inner.plan_session(user, n_goals, rng), rng)

    def pick(self, hh: Household, user: User, endpoint: Endpoint, rng: random.Random) -> HomePick | None:
        picked = pick_ambiguous(self.world, hh, user, endpoint, rng)
        if picked is not None:
            return picked
        return adapt_goal(self.world, hh, user, endpoint, self.inner.pick(hh, user, endpoint, rng))

    def followup(
        self, hh: Household, user: User, endpoint: Endpoint, previous: HomePick, rng: random.Random
    ) -> HomePick | None:
        """None after a scenario goal (its follow-up, if any, is the scenario's); else the inner
        source's follow-up, adapted to the scenarios' world."""
        goal, _gold = previous
        if isinstance(goal, AmbiguousGoal):
            return None
        return adapt_goal(
            self.world, hh, user, endpoint, self.inner.followup(hh, user, endpoint, previous, rng)
        )

    def first_phrasing(self, user: User, picked: HomePick, rng: random.Random) -> Phrasing:
        goal, _gold = picked
        if isinstance(goal, AmbiguousGoal):
            return ambiguous_first_phrasing(goal, rng)
        return self.inner.first_phrasing(user, picked, rng)

    def retry_phrasing(
        self, user: User, picked: HomePick, previous: Phrasing, attempt: int, rng: random.Random
    ) -> Phrasing:
        goal, _gold = picked
        if isinstance(goal, AmbiguousGoal):
            return ambiguous_retry_phrasing(goal, previous, rng)
        return self.inner.retry_phrasing(user, picked, previous, attempt, rng)

    def judge(
        self,
        state: TurnState,
        before: Home,
        outcome: Outcome | None,
        picked: HomePick,
        at: Attempt,
        phrasing: Phrasing,
        assistant: Assistant,
    ) -> tuple[bool, TruthRow]:
        success, truth = self.inner.judge(state, before, outcome, picked, at, phrasing, assistant)
        goal, _gold = picked
        if isinstance(goal, AmbiguousGoal) and goal.kind in KINDS:
            self.kinds[state.turn.turn_id] = goal.kind
        return success, truth
