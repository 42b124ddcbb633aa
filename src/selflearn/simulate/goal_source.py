"""What people want, as plugins of one simulator: the `GoalSource` protocol.

`simulate.traffic.Simulator` owns everything that is the same whatever people want: households,
people and endpoints, when sessions happen, the pacing of retries and new goals, barge-ins,
explicit feedback, background speech, the random streams. What people want and how a turn is
judged is a *goal source*, passed to the simulator (`Simulator(config, source)`):

* `simulate.home_goals.HomeGoals`: the simulated home's goal menus, said in the grammar's words
  and judged by their effect on the home (the default);
* `simulate.ambiguity_source.ContextAmbiguity`: a wrapper over the home's goals that mixes in
  context-ambiguity scenarios (`SimConfig.ambiguity_share > 0`, `simulate.ambiguity`);
* `simulate.slurp_traffic.SlurpGoalSource`: real requests of a SLURP-format corpus, judged by
  their interpretation;
* `eval.annotator.GoldSlots`: a wrapper that observes the judge and keeps each turn's slot values
  as spoken.

Sources used to be subclasses of the simulator overriding private hooks (``_goal_pick``,
``_goal_judge`` ...). As plugins, the goal behaviour lives in one object per concern and concerns
compose by wrapping (gold slots over ambiguity over the home's goals) instead of by a chain of
subclasses, and a new source cannot reach into the session loop by accident.

The contract that keeps traffic reproducible: the simulator calls the source at fixed points of a
session (`plan_session`, `followup`, `pick`, `first_phrasing`, `retry_phrasing`, `judge`) with the
stream it is drawing from, and a source draws from that stream only inside those calls, always in
the same order; anything else a source draws from it would shift every later number of the
household's day. `attach`, `dress` and `end_day` get no stream.

Personal patterns (`simulate.personal`) are not a source: they change how the home's phrasing
model fills slot values in a first attempt, inside its own draws, so they stay an option of
`HomeGoals` (`SimConfig.personal_share`). The teaching simulator (`simulate.preferences`) is not
one either: its episodes are scripted teaching dialogues (statements, guided questions,
confirmations, forgetting) with their own truth rows, not goals tried until they work.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState, Utterance
from selflearn.contracts.actions import Outcome
from selflearn.home.home import Home
from selflearn.logs.records import Turn
from selflearn.simulate.config import SimConfig
from selflearn.simulate.phrasing import Phrasing
from selflearn.simulate.population import Endpoint, Household, User
from selflearn.simulate.truth import TruthRow

__all__ = [
    "Attempt",
    "DayResult",
    "GoalSource",
    "GoalSourceBase",
    "GoalSourceWrapper",
    "World",
    "find_source",
]

P = TypeVar("P")  # what a source's pick is: (goal, gold command) for the home, a SlurpGoal for SLURP
S = TypeVar("S")


@dataclass(frozen=True)
class Attempt:
    """Who is trying which goal for the how-manieth time, for the truth row."""

    household: Household
    user: User
    day: int
    session_id: str
    goal_id: str
    attempt: int


@dataclass
class DayResult:
    day: int
    turns: list[Turn] = field(default_factory=list)
    truth: list[TruthRow] = field(default_factory=list)


class World(Protocol):
    """What a source may read of the simulator it is attached to."""

    config: SimConfig
    households: list[Household]
    session_now: datetime | None  # local start of the session being simulated

    @property
    def users(self) -> list[User]: ...


class GoalSource(Protocol[P]):
    """What people want and how a turn is judged (see the module docstring for when each is
    called and which may draw random numbers)."""

    def attach(self, world: World) -> None:
        """Bind to the simulator's population (once, when the simulator is built); no stream."""
        ...

    def plan_session(self, user: User, n_goals: int, rng: random.Random) -> int:
        """The number of goals of a session about to start (given the simulator's `n_goals`)."""
        ...

    def pick(self, hh: Household, user: User, endpoint: Endpoint, rng: random.Random) -> P | None:
        """The next goal of a session, or None (the session skips a goal)."""
        ...

    def followup(
        self, hh: Household, user: User, endpoint: Endpoint, previous: P, rng: random.Random
    ) -> P | None:
        """A goal related to `previous` (realistic sessions chain them), or None."""
        ...

    def first_phrasing(self, user: User, picked: P, rng: random.Random) -> Phrasing:
        """What the person says first."""
        ...

    def retry_phrasing(
        self, user: User, picked: P, previous: Phrasing, attempt: int, rng: random.Random
    ) -> Phrasing:
        """What they say on attempt number `attempt` (2 = first retry) after `previous` failed."""
        ...

    def dress(self, utterance: Utterance, phrasing: Phrasing) -> None:
        """Put on the utterance what it carries besides the words (a recording), for every turn,
        background speech included; no stream."""
        ...

    def judge(
        self,
        state: TurnState,
        before: Home,
        outcome: Outcome | None,
        picked: P,
        at: Attempt,
        phrasing: Phrasing,
        assistant: Assistant,
    ) -> tuple[bool, TruthRow]:
        """Did the turn do what was wanted, and its truth row; no stream (replays use none)."""
        ...

    def end_day(self, result: DayResult) -> DayResult:
        """The day's result as this source reports it (a SLURP day adds its turn scores)."""
        ...


class GoalSourceBase(Generic[P]):
    """Defaults for a source: remembers the world it is attached to (one simulator per source:
    a source keeps per-population state such as menus and favourites), plans sessions as the
    simulator does, has no follow-ups, dresses nothing and reports the day as it is."""

    _world: World | None = None

    @property
    def world(self) -> World:
        if self._world is None:
            raise RuntimeError(f"{type(self).__name__} is not attached to a simulator")
        return self._world

    def attach(self, world: World) -> None:
        if self._world is not None and self._world is not world:
            raise ValueError(f"{type(self).__name__} is already attached to another simulator")
        self._world = world

    def plan_session(self, user: User, n_goals: int, rng: random.Random) -> int:
        return n_goals

    def followup(
        self, hh: Household, user: User, endpoint: Endpoint, previous: P, rng: random.Random
    ) -> P | None:
        return None

    def dress(self, utterance: Utterance, phrasing: Phrasing) -> None:
        return None

    def end_day(self, result: DayResult) -> DayResult:
        return result


class GoalSourceWrapper(GoalSourceBase[P]):
    """A source that changes another (`inner`) in part: every call goes to `inner` unless the
    wrapper overrides it. Wrappers compose (gold slots over ambiguity over the home's goals)."""

    def __init__(self, inner: GoalSource[P]) -> None:
        self.inner = inner

    def attach(self, world: World) -> None:
        super().attach(world)
        self.inner.attach(world)

    def plan_session(self, user: User, n_goals: int, rng: random.Random) -> int:
        return self.inner.plan_session(user, n_goals, rng)

    def pick(self, hh: Household, user: User, endpoint: Endpoint, rng: random.Random) -> P | None:
        return self.inner.pick(hh, user, endpoint, rng)

    def followup(
        self, hh: Household, user: User, endpoint: Endpoint, previous: P, rng: random.Random
    ) -> P | None:
        return self.inner.followup(hh, user, endpoint, previous, rng)

    def first_phrasing(self, user: User, picked: P, rng: random.Random) -> Phrasing:
        return self.inner.first_phrasing(user, picked, rng)

    def retry_phrasing(
        self, user: User, picked: P, previous: Phrasing, attempt: int, rng: random.Random
    ) -> Phrasing:
        return self.inner.retry_phrasing(user, picked, previous, attempt, rng)

    def dress(self, utterance: Utterance, phrasing: Phrasing) -> None:
        self.inner.dress(utterance, phrasing)

    def judge(
        self,
        state: TurnState,
        before: Home,
        outcome: Outcome | None,
        picked: P,
        at: Attempt,
        phrasing: Phrasing,
        assistant: Assistant,
    ) -> tuple[bool, TruthRow]:
        return self.inner.judge(state, before, outcome, picked, at, phrasing, assistant)

    def end_day(self, result: DayResult) -> DayResult:
        return self.inner.end_day(result)


def find_source(source: Any, kind: type[S]) -> S | None:
    """`source` or the first source it wraps (through ``inner``) that is a `kind`, or None."""
    while source is not None:
        if isinstance(source, kind):
            return source
        source = getattr(source, "inner", None)
    return None
