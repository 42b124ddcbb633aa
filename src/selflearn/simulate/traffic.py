"""Runs simulated people against an assistant, day by day, and writes the log and the truth.

The simulator owns what is the same whatever people want: households and people, when sessions
happen, the pacing of retries and new goals, barge-ins, explicit feedback, background speech and
the random streams. What people want, how they say it and how a turn is judged is its goal source
(`simulate.goal_source`): by default the simulated home's goals (`simulate.home_goals`, with
context-ambiguity scenarios around them when `SimConfig.ambiguity_share > 0`); SLURP requests
(`simulate.slurp_traffic`) or a judge observer (`eval.annotator.GoldSlots`) are other sources of
the same simulator. For each turn the source knows the goal; the simulator reacts to its verdict
(barge-in, retry with a strategy, give up, answer a feedback question)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState, Utterance
from selflearn.contracts.actions import Outcome
from selflearn.home.home import Home
from selflearn.logs.records import Context, Turn
from selflearn.simulate import sessions
from selflearn.simulate.ambiguity_source import ContextAmbiguity
from selflearn.simulate.background import BACKGROUND_SPEECH
from selflearn.simulate.config import SimConfig
from selflearn.simulate.goal_source import Attempt, DayResult, GoalSource, find_source
from selflearn.simulate.goals import GoalMenu
from selflearn.simulate.home_goals import HomeGoals
from selflearn.simulate.ids import make_ulid
from selflearn.simulate.phrasing import Phrasing, PhrasingModel, Strategy
from selflearn.simulate.population import EPOCH, Endpoint, Household, User, make_population
from selflearn.simulate.truth import FailedStage, TruthRow
from selflearn.text.wer import word_error_rate


def default_goal_source(config: SimConfig) -> GoalSource[Any]:
    """The simulated home's goals, with the ambiguity scenarios around them when configured."""
    home = HomeGoals()
    return ContextAmbiguity(home) if config.ambiguity_share > 0 else home


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class Simulator:
    """A population of households; `run_day(day, assistant)` simulates one day of traffic.

    `source` says what people want and judges turns (`simulate.goal_source`); None: the
    simulated home's goals (`default_goal_source`). A source serves one simulator."""

    def __init__(self, config: SimConfig, source: GoalSource[Any] | None = None) -> None:
        self.config = config
        self.households: list[Household] = make_population(config.users, config.seed)
        self.session_now: datetime | None = None  # local start of the session being simulated
        self.source: GoalSource[Any] = default_goal_source(config) if source is None else source
        self.source.attach(self)

    @property
    def users(self) -> list[User]:
        return [u for hh in self.households for u in hh.users]

    def _home_goals(self) -> HomeGoals:
        home = find_source(self.source, HomeGoals)
        if home is None:
            raise AttributeError(f"the goal source {type(self.source).__name__} has no home goal menus")
        return home

    @property
    def menus(self) -> dict[str, GoalMenu]:
        """Each household's goal menu (the home goal source's)."""
        return self._home_goals().menus

    @property
    def phrasing(self) -> PhrasingModel:
        """How people word home goals (the home goal source's phrasing model)."""
        return self._home_goals().phrasing

    @property
    def ambiguity_kinds(self) -> dict[str, str]:
        """Turn id -> ambiguity kind of the turns of ambiguity scenarios (simulator side only);
        empty without them."""
        amb = find_source(self.source, ContextAmbiguity)
        return amb.kinds if amb is not None else {}

    def run_day(
        self, day: int, assistant: Assistant, progress: Callable[[int], None] | None = None
    ) -> DayResult:
        result = DayResult(day)
        for hh in self.households:
            rng = random.Random(f"day:{self.config.seed}:{hh.household_id}:{day}")
            events: list[tuple[datetime, str, User | None]] = []
            day_start = EPOCH + timedelta(days=day - 1)
            for u in hh.users:
                for _ in range(_poisson(rng, u.sessions_per_day)):
                    hour = rng.choices(range(24), weights=u.active_hours, k=1)[0]
                    ts = day_start + timedelta(hours=hour, seconds=rng.uniform(0, 3600))
                    events.append((ts, "session", u))
            for _ in range(_poisson(rng, self.config.background_per_day)):
                ts = day_start + timedelta(hours=rng.uniform(8, 23))
                events.append((ts, "background", None))
            events.sort(key=lambda e: (e[0], e[1], e[2].user_id if e[2] else ""))
            for i, (ts, kind, user) in enumerate(events):
                erng = rng
                if self.config.paired_streams:
                    erng = random.Random(f"event:{self.config.seed}:{hh.household_id}:{day}:{i}")
                if kind == "session" and user is not None:
                    self._session(hh, user, ts, day, erng, assistant, result)
                else:
                    self._background(hh, ts, day, erng, assistant, result)
            if progress is not None:
                progress(len(hh.users))
        return self.source.end_day(result)

    # -- one session -------------------------------------------------------------------------
    def _session(
        self,
        hh: Household,
        user: User,
        ts: datetime,
        day: int,
        rng: random.Random,
        assistant: Assistant,
        result: DayResult,
    ) -> None:
        """One sitting: a few goals, each tried until it works or the person gives up. What is
        wanted, how it is said and how it is judged is the goal source's."""
        if self.config.realistic_sessions:
            self._session_realistic(hh, user, ts, day, rng, assistant, result)
            return
        endpoint = rng.choice(hh.endpoints)
        session_id = make_ulid(ts, rng)
        self.session_now = ts.replace(tzinfo=None)
        turn_index = 0
        n_goals = 1
        while rng.random() < 0.25 and n_goals < 4:
            n_goals += 1
        n_goals = self.source.plan_session(user, n_goals, rng)
        for _ in range(n_goals):
            picked = self.source.pick(hh, user, endpoint, rng)
            if picked is None:
                continue
            goal_id = make_ulid(ts, rng)
            session_rng, rng = rng, self._goal_stream(rng)
            phrasing = self.source.first_phrasing(user, picked, rng)
            for attempt in range(1, user.patience + 1):
                at = Attempt(hh, user, day, session_id, goal_id, attempt)
                tried = self._try(endpoint, turn_index, ts, phrasing, picked, at, rng, assistant, result)
                if tried is None:
                    # The device did not hear the wake word: nothing is logged; the person tries again.
                    ts = ts + timedelta(seconds=rng.uniform(2.0, 5.0))
                    continue
                turn_index += 1
                turn, success = tried
                gap = (
                    turn.feedback.barge_in_offset_ms if turn.feedback.barge_in else turn.response.duration_ms
                ) or 0
                ts = ts + timedelta(milliseconds=gap) + timedelta(seconds=rng.uniform(1.0, 5.0))
                if success or attempt == user.patience or rng.random() < 0.12 * attempt:
                    break  # done, or gives up
                phrasing = self.source.retry_phrasing(user, picked, phrasing, attempt + 1, rng)
            rng = session_rng
            ts = ts + timedelta(seconds=rng.uniform(5, 40))

    def _goal_stream(self, rng: random.Random) -> random.Random:
        """The stream one goal's attempts draw from: its own under `paired_streams` (seeded from
        the session's stream, which the goal's outcome then cannot shift), else the session's."""
        if not self.config.paired_streams:
            return rng
        return random.Random(rng.getrandbits(64))

    def _try(
        self,
        endpoint: Endpoint,
        turn_index: int,
        ts: datetime,
        phrasing: Phrasing,
        picked: Any,
        at: Attempt,
        rng: random.Random,
        assistant: Assistant,
        result: DayResult,
    ) -> tuple[Turn, bool] | None:
        """One attempt at a goal: the turn, judged, reacted to and logged with its truth row, as
        (turn, success); None when the device missed the wake word (nothing is logged then)."""
        state, before, outcome = self._turn(
            at.household, at.user, endpoint, at.session_id, turn_index, ts, phrasing, True, rng, assistant
        )
        if not state.turn.wake.detected:
            return None
        success, truth = self.source.judge(state, before, outcome, picked, at, phrasing, assistant)
        self._react(state.turn, success, at.user, rng)
        result.turns.append(state.turn)
        result.truth.append(truth)
        return state.turn, success

    def _session_realistic(
        self,
        hh: Household,
        user: User,
        ts: datetime,
        day: int,
        rng: random.Random,
        assistant: Assistant,
        result: DayResult,
    ) -> None:
        """`_session` with people's pacing and chaining (see `simulate.sessions`)."""
        endpoint = rng.choice(hh.endpoints)
        session_id = make_ulid(ts, rng)
        self.session_now = ts.replace(tzinfo=None)
        turn_index = 0
        n_goals = sessions.session_goals(rng)
        n_goals = self.source.plan_session(user, n_goals, rng)
        previous: Any = None
        for g in range(n_goals):
            picked = None
            related = previous is not None and rng.random() < sessions.FOLLOWUP_SHARE
            if related:
                picked = self.source.followup(hh, user, endpoint, previous, rng)
            if picked is None:
                related = False
                picked = self.source.pick(hh, user, endpoint, rng)
            if picked is None:
                continue
            if g > 0:
                ts = ts + timedelta(seconds=sessions.next_goal_think_s(rng, related))
            goal_id = make_ulid(ts, rng)
            session_rng, rng = rng, self._goal_stream(rng)
            phrasing = self.source.first_phrasing(user, picked, rng)
            for attempt in range(1, user.patience + 1):
                at = Attempt(hh, user, day, session_id, goal_id, attempt)
                tried = self._try(endpoint, turn_index, ts, phrasing, picked, at, rng, assistant, result)
                if tried is None:
                    ts = ts + timedelta(seconds=rng.uniform(2.0, 5.0))
                    continue
                turn_index += 1
                turn, success = tried
                dur = turn.response.duration_ms
                if (
                    success
                    and g < n_goals - 1
                    and not turn.feedback.barge_in
                    and dur > 1200
                    and rng.random() < sessions.BARGE_TO_MOVE_ON
                ):
                    turn.feedback.barge_in = True
                    turn.feedback.barge_in_offset_ms = int(dur * rng.uniform(0.2, 0.8))
                spoken = (turn.feedback.barge_in_offset_ms if turn.feedback.barge_in else dur) or 0
                ts = ts + timedelta(milliseconds=spoken)
                if success or attempt == user.patience or rng.random() < 0.12 * attempt:
                    break
                ts = ts + timedelta(seconds=sessions.retry_think_s(rng))
                phrasing = self.source.retry_phrasing(user, picked, phrasing, attempt + 1, rng)
            rng = session_rng
            previous = picked

    def _turn(
        self,
        hh: Household,
        user: User,
        endpoint: Endpoint,
        session_id: str,
        turn_index: int,
        ts: datetime,
        phrasing: Phrasing,
        directed: bool,
        rng: random.Random,
        assistant: Assistant,
    ) -> tuple[TurnState, Home, Outcome | None]:
        home = hh.home
        home.now = ts.replace(tzinfo=None)
        turn = Turn(
            turn_id=make_ulid(ts, rng),
            session_id=session_id,
            user_id=user.user_id,
            household_id=hh.household_id,
            turn_index=turn_index,
            timestamp=ts,
            device=endpoint.info.model_copy(),
            context=Context(
                room=endpoint.room, local_time=home.now, location=home.location, device_states=home.snapshot()
            ),
        )
        utt = Utterance(
            text=phrasing.text,
            speaker_id=user.user_id,
            noise_profile=user.noise_profile,
            voice=user.voice,
            is_directed=directed,
            careful=phrasing.careful,
        )
        self.source.dress(utt, phrasing)
        before = home.copy()
        state = assistant(TurnState(turn=turn, utterance=utt, home=home))
        return state, before, state.outcome

    def _react(self, turn: Turn, success: bool, user: User, rng: random.Random) -> None:
        from selflearn.logs.records import FeedbackKind

        dur = turn.response.duration_ms
        if not success and dur > 0 and rng.random() < user.barge_in_tendency:
            turn.feedback.barge_in = True
            turn.feedback.barge_in_offset_ms = int(dur * rng.uniform(0.15, 0.8))
        elif success and dur > 2500 and rng.random() < 0.03:  # impatience with a long answer
            turn.feedback.barge_in = True
            turn.feedback.barge_in_offset_ms = int(dur * rng.uniform(0.5, 0.95))
        if rng.random() < self.config.survey_rate and rng.random() < user.survey_tendency:
            # People mostly answer truthfully; a few click the wrong answer.
            truthful = rng.random() < 0.95
            good = success if truthful else not success
            turn.feedback.explicit = FeedbackKind.POSITIVE if good else FeedbackKind.NEGATIVE

    def _background(
        self,
        hh: Household,
        ts: datetime,
        day: int,
        rng: random.Random,
        assistant: Assistant,
        result: DayResult,
    ) -> None:
        tvs = [e for e in hh.endpoints if e.info.has_screen] or hh.endpoints
        endpoint = rng.choice(tvs)
        speaker = hh.users[0]
        text = rng.choice(BACKGROUND_SPEECH)
        session_id = make_ulid(ts, rng)
        phrasing = Phrasing(text, "background", "background")
        state, _before, _outcome = self._turn(
            hh, speaker, endpoint, session_id, 0, ts, phrasing, False, rng, assistant
        )
        if not state.turn.wake.detected:
            return  # the device heard nothing it would log
        turn = state.turn
        if turn.response.duration_ms > 0 and rng.random() < 0.5:  # "stop!"
            turn.feedback.barge_in = True
            turn.feedback.barge_in_offset_ms = int(turn.response.duration_ms * rng.uniform(0.1, 0.6))
        result.turns.append(turn)
        result.truth.append(
            TruthRow(
                turn_id=turn.turn_id,
                session_id=session_id,
                user_id=speaker.user_id,
                household_id=hh.household_id,
                day=day,
                goal_id=None,
                goal_intent=None,
                goal_args=None,
                spoken_text=text,
                directed=False,
                is_request=False,
                attempt=0,
                strategy="background",
                success=False,
                failed_stage=FailedStage.FALSE_WAKE,
                wer=word_error_rate(text, turn.asr.text),
                rewrite_fired=turn.rewrite is not None,
                success_without_rewrite=None,
            )
        )


def simulate_days(
    config: SimConfig,
    days: int,
    assistant: Assistant,
    on_day: Callable[[DayResult], None] | None = None,
    source: GoalSource[Any] | None = None,
) -> Simulator:
    sim = Simulator(config, source)
    for d in range(1, days + 1):
        res = sim.run_day(d, assistant)
        if on_day is not None:
            on_day(res)
    return sim


__all__ = [
    "EPOCH",
    "Attempt",
    "DayResult",
    "SimConfig",
    "Simulator",
    "Strategy",
    "default_goal_source",
    "simulate_days",
]
