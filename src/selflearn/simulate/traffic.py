"""Runs simulated people against an assistant, day by day, and writes the log and the truth.

For each turn the simulator knows the goal; it judges the assistant's outcome against the outcome
the goal's gold command would have had on the same home, and reacts (barge-in, retry with a
strategy, give up, answer a feedback question). For failed turns it replays the back half of the
pipeline with correct inputs to find the first stage that failed irrecoverably; for turns where a
rewrite fired it replays without the rewrite so wins and losses can be counted."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState, Utterance
from selflearn.contracts.actions import Command, Outcome
from selflearn.home.home import Home
from selflearn.logs.records import Context, NluHypothesis, NluStage, Slot, Turn
from selflearn.simulate import sessions
from selflearn.simulate.ambiguity import KINDS as AMBIGUITY_KINDS
from selflearn.simulate.ambiguity import AmbiguousGoal, adapt_goal, pick_ambiguous, plan_session
from selflearn.simulate.ambiguity import first_phrasing as ambiguous_first_phrasing
from selflearn.simulate.ambiguity import retry_phrasing as ambiguous_retry_phrasing
from selflearn.simulate.background import BACKGROUND_SPEECH
from selflearn.simulate.goals import Goal, GoalMenu, build_menu
from selflearn.simulate.ids import make_ulid
from selflearn.simulate.phrasing import Phrasing, PhrasingModel, Strategy
from selflearn.simulate.population import EPOCH, Endpoint, Household, User, make_population
from selflearn.simulate.truth import FailedStage, TruthRow
from selflearn.text.wer import word_error_rate


@dataclass
class SimConfig:
    """Knobs of the simulated world. Defaults are meant to be ordinary, not favourable."""

    users: int = 100
    seed: int = 0
    survey_rate: float = 0.06  # how often the assistant asks "did I do what you wanted?"
    background_per_day: float = 0.5  # overheard utterances per household per day
    favourite_share: float = 0.7  # chance a session's goal is one of the person's favourites
    n_favourites: int = 12
    goals_per_intent: int = 8
    intent_skew: float = 1.0
    # Share of goal picks that are context-ambiguity scenarios (simulate/ambiguity.py). 0 keeps
    # ordinary traffic exactly as before; benchmarks/context.py and LoopConfig.ambiguity_share raise it.
    ambiguity_share: float = 0.0
    # Pacing and chaining of requests as real people do it (simulate/sessions.py): overlapping think
    # times for retries and new goals, related follow-up goals, barge-ins to move on. The default:
    # in classic traffic (False, kept as an option) retries follow 1-5 s after a response and new
    # goals 5-40 s later, so timing alone tells them apart, which flatters every detector.
    realistic_sessions: bool = True
    # Share of people with personal patterns (private names for their things, simulate/personal.py)
    # that too few people share for the global rewrite layer to learn. 0 keeps ordinary traffic
    # exactly as before; applied by simulate.personal.attach (LoopConfig.personal_share calls it).
    personal_share: float = 0.0
    # Common random numbers for A/B arms: every session draws from its own stream and every goal
    # within it from a stream of its own, so a rewrite that changes one goal's outcome changes
    # nothing else people do that day. Two arms then differ by what the assistant did, not by
    # reshuffled dice (the household-day stream diverges at the first changed outcome). False keeps
    # the classic traffic exactly as before.
    paired_streams: bool = False


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


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class Simulator:
    """A population of households; `run_day(day, assistant)` simulates one day of traffic."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.households: list[Household] = make_population(config.users, config.seed)
        self.phrasing = PhrasingModel(seed=config.seed)
        self.menus: dict[str, GoalMenu] = {}
        self.ambiguity_kinds: dict[str, str] = {}  # turn id -> ambiguity kind (simulator side)
        self.session_now: datetime | None = None  # local start of the session being simulated
        for hh in self.households:
            mrng = random.Random(f"menu:{config.seed}:{hh.household_id}")
            menu = build_menu(
                hh.home, mrng, per_intent=config.goals_per_intent, intent_skew=config.intent_skew
            )
            self.menus[hh.household_id] = menu
            for u in hh.users:
                picks = {menu.sample(mrng).goal_key for _ in range(config.n_favourites * 2)}
                keys = [g.goal_key for g in menu.goals]
                u.favourite_goals = sorted(keys.index(k) for k in picks)[: config.n_favourites]
        if config.personal_share > 0:
            from selflearn.simulate.personal import attach

            attach(self)

    @property
    def users(self) -> list[User]:
        return [u for hh in self.households for u in hh.users]

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
        return result

    # -- one session -------------------------------------------------------------------------
    def _pick_goal(
        self, hh: Household, user: User, room: str, rng: random.Random
    ) -> tuple[Goal, Command] | None:
        menu = self.menus[hh.household_id]
        for _ in range(8):
            if user.favourite_goals and rng.random() < self.config.favourite_share:
                goal = menu.goals[rng.choice(user.favourite_goals)]
            else:
                goal = menu.sample(rng)
            cmd = goal.command(hh.home, room)
            # Only ask for what makes sense here and now (the home can do it).
            if hh.home.copy().apply(cmd).ok:
                return goal, cmd
        return None

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
        """One sitting: a few goals, each tried until it works or the person gives up. Subclasses
        change what is wanted and how it is judged through the `_goal_*` hooks."""
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
        if self.config.ambiguity_share > 0:
            n_goals = plan_session(self, user, n_goals, rng)
        for _ in range(n_goals):
            picked = self._goal_pick(hh, user, endpoint, rng)
            if picked is None:
                continue
            goal_id = make_ulid(ts, rng)
            session_rng, rng = rng, self._goal_stream(rng)
            phrasing = self._goal_first_phrasing(user, picked, rng)
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
                phrasing = self._goal_retry_phrasing(user, picked, phrasing, attempt + 1, rng)
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
        success, truth = self._goal_judge(state, before, outcome, picked, at, phrasing, assistant)
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
        if self.config.ambiguity_share > 0:
            n_goals = plan_session(self, user, n_goals, rng)
        previous: Any = None
        for g in range(n_goals):
            picked = None
            related = previous is not None and rng.random() < sessions.FOLLOWUP_SHARE
            if related:
                picked = self._goal_followup(hh, user, endpoint, previous, rng)
            if picked is None:
                related = False
                picked = self._goal_pick(hh, user, endpoint, rng)
            if picked is None:
                continue
            if g > 0:
                ts = ts + timedelta(seconds=sessions.next_goal_think_s(rng, related))
            goal_id = make_ulid(ts, rng)
            session_rng, rng = rng, self._goal_stream(rng)
            phrasing = self._goal_first_phrasing(user, picked, rng)
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
                phrasing = self._goal_retry_phrasing(user, picked, phrasing, attempt + 1, rng)
            rng = session_rng
            previous = picked

    def _goal_followup(
        self, hh: Household, user: User, endpoint: Endpoint, previous: Any, rng: random.Random
    ) -> Any:
        """A goal related to `previous` (same intent, or the same thing), or None."""
        goal, _gold = previous
        if isinstance(goal, AmbiguousGoal):
            return None
        menu = self.menus[hh.household_id]
        for _ in range(4):
            other = sessions.related_menu_goal(menu.goals, goal, rng)
            if other is None:
                return None
            cmd = other.command(hh.home, endpoint.room)
            if hh.home.copy().apply(cmd).ok:
                picked = (other, cmd)
                if self.config.ambiguity_share > 0:
                    return adapt_goal(self, hh, user, endpoint, picked)
                return picked
        return None

    # -- goal hooks: the home simulator's goals (a SLURP simulator overrides these) ------------------
    def _goal_pick(self, hh: Household, user: User, endpoint: Endpoint, rng: random.Random) -> Any:
        if self.config.ambiguity_share > 0:
            picked = pick_ambiguous(self, hh, user, endpoint, rng)
            if picked is not None:
                return picked
            return adapt_goal(self, hh, user, endpoint, self._pick_goal(hh, user, endpoint.room, rng))
        return self._pick_goal(hh, user, endpoint.room, rng)

    def _goal_first_phrasing(self, user: User, picked: Any, rng: random.Random) -> Phrasing:
        goal, _gold = picked
        if isinstance(goal, AmbiguousGoal):
            return ambiguous_first_phrasing(goal, rng)
        return self.phrasing.first(user, goal, rng)

    def _goal_retry_phrasing(
        self, user: User, picked: Any, previous: Phrasing, attempt: int, rng: random.Random
    ) -> Phrasing:
        goal, _gold = picked
        if isinstance(goal, AmbiguousGoal):
            return ambiguous_retry_phrasing(goal, previous, rng)
        return self.phrasing.retry(user, goal, previous, attempt, rng)

    def _goal_judge(
        self,
        state: TurnState,
        before: Home,
        outcome: Outcome | None,
        picked: Any,
        at: Attempt,
        phrasing: Phrasing,
        assistant: Assistant,
    ) -> tuple[bool, TruthRow]:
        """Judge the turn against the gold command's effect on the same home; the truth row."""
        goal, gold = picked
        expected = before.copy().apply(gold)
        success = outcome is not None and outcome.same_effect(expected)
        turn = state.turn
        truth = TruthRow(
            turn_id=turn.turn_id,
            session_id=at.session_id,
            user_id=at.user.user_id,
            household_id=at.household.household_id,
            day=at.day,
            goal_id=at.goal_id,
            goal_intent=goal.intent,
            goal_args=goal.args_json(gold),
            spoken_text=phrasing.text,
            directed=True,
            is_request=True,
            attempt=at.attempt,
            strategy=phrasing.strategy,
            success=success,
            failed_stage=FailedStage.CORRECT
            if success
            else self._failed_stage(state, before, goal, gold, expected, assistant),
            wer=word_error_rate(phrasing.text, turn.asr.text),
            rewrite_fired=turn.rewrite is not None,
            success_without_rewrite=self._without_rewrite(state, before, expected, assistant)
            if turn.rewrite is not None
            else None,
        )
        if isinstance(goal, AmbiguousGoal) and goal.kind in AMBIGUITY_KINDS:
            self.ambiguity_kinds[turn.turn_id] = goal.kind
        return success, truth

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

    # -- counterfactual replays (truth only) ----------------------------------------------------
    @staticmethod
    def _replay(
        state: TurnState,
        home: Home,
        pipeline_stages: Callable[[TurnState], TurnState],
        turn: Turn,
        resolved_args: dict[str, str] | None = None,
    ) -> Outcome | None:
        st = TurnState(
            turn=turn, utterance=state.utterance, home=home, resolved_args=resolved_args, replay=True
        )
        return pipeline_stages(st).outcome

    @staticmethod
    def _fresh_back(turn: Turn) -> Turn:
        t = turn.model_copy(deep=True)
        t.rewrite = None
        t.nlu = NluStage()
        t.resolution = type(t.resolution)()
        t.action = type(t.action)()
        t.response = type(t.response)()
        return t

    def _without_rewrite(
        self, state: TurnState, before: Home, expected: Outcome, assistant: Assistant
    ) -> bool:
        turn = self._fresh_back(state.turn)
        out = self._replay(state, before.copy(), assistant.back(exclude=("rewrite",)), turn)
        return out is not None and out.same_effect(expected)

    def _failed_stage(
        self,
        state: TurnState,
        before: Home,
        goal: Goal,
        gold: Command,
        expected: Outcome,
        assistant: Assistant,
    ) -> str:
        from selflearn.logs.records import AsrHypothesis

        # 1. Give the back half the words really said: if that works, recognition failed first.
        turn = self._fresh_back(state.turn)
        turn.asr.nbest = [AsrHypothesis(text=state.utterance.text, confidence=1.0)]
        out = self._replay(state, before.copy(), assistant.back(), turn)
        if out is not None and out.same_effect(expected):
            return FailedStage.ASR
        # 2. Give resolution the gold intent and slot values: if that works, understanding failed.
        turn = self._fresh_back(state.turn)
        turn.nlu = NluStage(
            model="gold",
            input_text=state.utterance.text,
            nbest=[
                NluHypothesis(
                    intent=goal.intent, confidence=1.0, slots=[Slot(name=k, value=v) for k, v in goal.surface]
                )
            ],
        )
        out = self._replay(state, before.copy(), assistant.stages(("resolution", "action")), turn)
        if out is not None and out.same_effect(expected):
            return FailedStage.NLU
        # 3. Give the executor the gold entities: if that works, entity resolution failed; if even
        # that fails, the right interpretation led to the wrong result.
        out = self._replay(
            state,
            before.copy(),
            assistant.stages(("action",)),
            turn,
            resolved_args=dict(gold.args),
        )
        if out is not None and out.same_effect(expected):
            return FailedStage.ENTITY_RESOLUTION
        return FailedStage.RESULT


def simulate_days(
    config: SimConfig,
    days: int,
    assistant: Assistant,
    on_day: Callable[[DayResult], None] | None = None,
) -> Simulator:
    sim = Simulator(config)
    for d in range(1, days + 1):
        res = sim.run_day(d, assistant)
        if on_day is not None:
            on_day(res)
    return sim


__all__ = ["EPOCH", "DayResult", "SimConfig", "Simulator", "Strategy", "simulate_days"]
