"""Simulated people asking SLURP requests, judged against gold interpretations.

The households, people, endpoints, background speech and reactions (barge-in on failure, retries,
giving up, occasional explicit feedback) are the simulator's (`simulate.traffic.Simulator`); what
differs is what people want and how a turn is judged, which is this module's goal source,
`SlurpGoalSource` (`simulate.goal_source`). `SlurpSimulator` is the simulator with it. Goals are
real requests from a SLURP-format file (`simulate.slurp_goals`), and since SLURP requests (alarms,
weather, music, email, questions...) are not executed on the simulated home, a turn is judged by
its interpretation: the SLURP judging rule of `slurp_goals` (no stage failed, top intent = gold
intent, slot values = gold values as a normalized multiset, and for a goal without slots a
rewritten text must be one of the goal's own wordings, `SlurpGoal.judge`). With ``strict=False``
the last condition is dropped (the rule before it was added: any request of the intent passed).

The pipeline needs only wake, asr, (rewrite), nlu and response stages. Truth rows follow
`simulate.truth`: a failed turn is blamed on ``asr`` when the NLU (with the rewriter) on the words
really said would have been right, else on ``nlu``; for turns where a rewrite fired the NLU is
replayed on the un-rewritten text to count wins and losses. Each utterance carries the recording
its speaker is bound to (``Utterance.recording``), so a replayed recogniser can answer for it; a
retry of the same wording (repeat, careful) is heard in the request's next recording
(`SlurpGoals.next_recording`), so a person does not meet the same misrecognition on every retry.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState, Utterance
from selflearn.contracts.actions import Outcome
from selflearn.home.home import Home
from selflearn.logs.records import AsrHypothesis, Turn
from selflearn.simulate.goal_source import Attempt, DayResult, GoalSourceBase, World
from selflearn.simulate.phrasing import Phrasing, Strategy
from selflearn.simulate.population import Endpoint, Household, User
from selflearn.simulate.replay import fresh_back
from selflearn.simulate.slurp_goals import SlurpGoal, SlurpGoals, slot_multiset
from selflearn.simulate.traffic import SimConfig, Simulator
from selflearn.simulate.truth import FailedStage, TruthRow
from selflearn.speech.tts import voice_for_speaker
from selflearn.text.normalize import normalize_request
from selflearn.text.wer import word_error_rate, word_errors

__all__ = [
    "SlurpDayResult",
    "SlurpGoalSource",
    "SlurpPhrasing",
    "SlurpPhrasingModel",
    "SlurpSimulator",
    "TurnScore",
    "judge",
    "recording_voice",
]


@dataclass
class SlurpPhrasing(Phrasing):
    """A phrasing plus the recording it was read in (None for a paraphrase nobody recorded)."""

    recording: str | None = None


@dataclass(frozen=True)
class TurnScore:
    """Per request turn: was the top intent right, slot counts for F1, and word errors.

    `gold_slots` and `pred_slots` are the normalized (type, value) pairs (as `slot_multiset`
    normalizes them) of gold and of the top hypothesis, in order, for SLURP's SLU-F1
    (`selflearn.eval.slu_metrics`), which needs the values and not just exact-match counts."""

    intent_ok: bool
    slot_tp: int
    slot_fp: int
    slot_fn: int
    edits: int
    words: int
    gold_slots: tuple[tuple[str, str], ...] = ()
    pred_slots: tuple[tuple[str, str], ...] = ()


@dataclass
class SlurpDayResult(DayResult):
    scores: list[TurnScore] = field(default_factory=list)


class SlurpPhrasingModel:
    """What a person says for a SLURP goal: the request itself first (in the recording they are
    bound to); on a retry, the same sentence again or slowly and clearly, each time in the
    request's next recording where it has several, or another real phrasing of the request with
    their values filled in (for a goal without slots, one sharing a content word with it)."""

    def __init__(self, goals: SlurpGoals, same_meaning: bool = True) -> None:
        self.goals = goals
        # Retries of slot-less goals keep the meaning (see SlurpGoals.paraphrases); False is the
        # classic traffic before the strict judge, where any slot-less request of the intent would do.
        self.same_meaning = same_meaning

    def paraphrases(self, goal: SlurpGoal) -> list[str]:
        """The phrasings a retry of `goal` may take instead of its sentence."""
        return self.goals.paraphrases(goal, same_meaning=self.same_meaning)

    def first(self, user: User, goal: SlurpGoal) -> SlurpPhrasing:
        rec = self.goals.recording_for(user.user_id, goal)
        return SlurpPhrasing(goal.sentence, goal.goal_key, Strategy.FIRST, recording=rec)

    def retry(
        self, goal: SlurpGoal, previous: SlurpPhrasing, attempt: int, rng: random.Random
    ) -> SlurpPhrasing:
        """`attempt` is the number of the attempt about to be made (2 = first retry)."""
        paras = self.paraphrases(goal)
        # After repeated failure people stop repeating and start rephrasing.
        w_repeat, w_careful, w_para = (0.35, 0.25, 0.4) if attempt == 2 else (0.15, 0.25, 0.6)
        choice = rng.choices(
            [Strategy.REPEAT, Strategy.CAREFUL, Strategy.PARAPHRASE],
            weights=[w_repeat, w_careful, w_para if paras else 0.0],
            k=1,
        )[0]
        if choice == Strategy.PARAPHRASE:
            i = rng.randrange(len(paras))
            return SlurpPhrasing(paras[i], f"{goal.goal_key}:p{i}", choice)
        # Said again: another take of the request (its next recording), where there is one.
        rec = self.goals.next_recording(goal, previous.recording)
        return SlurpPhrasing(
            previous.text, previous.template_id, choice, careful=choice == Strategy.CAREFUL, recording=rec
        )


def recording_voice(recording: str, seed: int = 0) -> str:
    """The synthetic voice (spec) standing in for the reader of `recording`."""
    return voice_for_speaker(recording, seed).spec


def judge(state: TurnState, goal: SlurpGoal, wordings: Collection[str] | None = None) -> bool:
    """The SLURP judging rule on a finished turn (see `slurp_goals`): with `wordings` (the goal's
    own wordings, normalized, `SlurpGoals.own_wordings`) the strict rule, where a rewritten text
    of a slot-less goal must be one of them or the turn's own words (said or heard); without, the
    lenient rule (intent and slots only)."""
    if state.failure is not None:
        return False
    turn = state.turn
    if wordings is None or turn.rewrite is None:
        return goal.matches(turn.nlu.top)
    reading = turn.nlu.input_text or turn.text
    if normalize_request(reading) in (
        normalize_request(state.utterance.text),
        normalize_request(turn.asr.text),
    ):
        return goal.matches(turn.nlu.top)  # the rewrite gave back the turn's own words
    return goal.judge(turn.nlu.top, reading, wordings)


class SlurpGoalSource(GoalSourceBase[SlurpGoal]):
    """SLURP requests as a goal source: a person's favourites or a popularity draw, said as
    recorded and retried as people do (`SlurpPhrasingModel`), judged by interpretation (`judge`,
    strict unless ``strict=False``); each request turn's score is kept for the day's
    `SlurpDayResult` (`end_day`). `SimConfig.ambiguity_share` and `personal_share` are knobs of
    the home's goals and do nothing here (before sources were plugins, an ambiguity share above
    0 had the SLURP simulator plan sessions for home scenarios it never picked)."""

    def __init__(self, goals: SlurpGoals, voice_seed: int = 0, strict: bool = True) -> None:
        if not goals.goals:
            raise ValueError("no goals: the SLURP-format file had no readable requests")
        self.goals = goals
        self.voice_seed = voice_seed
        self.strict = strict  # the strict SLURP judge (slot-less goals: rewrites into own wordings)
        self.slurp_phrasing = SlurpPhrasingModel(goals, same_meaning=True)
        self._wordings: dict[str, frozenset[str]] = {}
        self._wordings_asr: object = None  # the ASR component the cached wordings were heard by
        self.favourites: dict[str, list[SlurpGoal]] = {}
        self._scores: list[TurnScore] = []
        # Goals by intent and by scenario, for related follow-ups (realistic sessions).
        self._by_intent: dict[str, list[SlurpGoal]] = {}
        self._by_scenario: dict[str, list[SlurpGoal]] = {}
        for g in goals.goals:
            self._by_intent.setdefault(g.intent, []).append(g)
            self._by_scenario.setdefault(g.intent.split("_", 1)[0], []).append(g)

    def attach(self, world: World) -> None:
        """Everyone's favourite requests (each person from a stream of their own)."""
        super().attach(world)
        config, goals = world.config, self.goals
        for u in world.users:
            frng = random.Random(f"favourites:{config.seed}:{u.user_id}")
            picks = {goals.sample(frng).goal_key: None for _ in range(config.n_favourites * 2)}
            by_key = {g.goal_key: g for g in goals.goals}
            self.favourites[u.user_id] = [by_key[k] for k in list(picks)[: config.n_favourites]]

    def end_day(self, result: DayResult) -> SlurpDayResult:
        scores, self._scores = self._scores, []
        return SlurpDayResult(result.day, result.turns, result.truth, scores)

    def dress(self, utterance: Utterance, phrasing: Phrasing) -> None:
        """The recording the speaker is bound to goes on the utterance (None for words nobody
        recorded), so a replayed recogniser can answer for it."""
        rec = phrasing.recording if isinstance(phrasing, SlurpPhrasing) else None
        utterance.recording = rec
        if rec is not None:
            # A recording is one person's reading: synthesized speech gets that reader's voice (the
            # same one `simulate.recognize_slurp` gives it, so recognitions are shared via the cache).
            utterance.voice = recording_voice(rec, self.voice_seed)

    def wordings(self, goal: SlurpGoal, assistant: Assistant) -> frozenset[str]:
        """The goal's own wordings (`SlurpGoals.own_wordings` with the phrasing model's
        paraphrases), with what the assistant's recogniser heard of its recordings when it replays
        a recognition-results file (anything with a ``heard(recording)`` method)."""
        asr = assistant.component("asr")
        if asr is not self._wordings_asr:
            self._wordings, self._wordings_asr = {}, asr
        got = self._wordings.get(goal.goal_key)
        if got is None:
            heard = getattr(asr, "heard", None)
            got = self.goals.own_wordings(
                goal, same_meaning=self.slurp_phrasing.same_meaning, heard=heard if callable(heard) else None
            )
            self._wordings[goal.goal_key] = got
        return got

    def accepts(self, state: TurnState, goal: SlurpGoal, assistant: Assistant) -> bool:
        """This source's judging rule on a finished turn: strict unless ``strict=False``."""
        return judge(state, goal, self.wordings(goal, assistant) if self.strict else None)

    def pick(self, hh: Household, user: User, endpoint: Endpoint, rng: random.Random) -> SlurpGoal:
        favs = self.favourites.get(user.user_id)
        if favs and rng.random() < self.world.config.favourite_share:
            return rng.choice(favs)
        return self.goals.sample(rng)

    def first_phrasing(self, user: User, picked: SlurpGoal, rng: random.Random) -> Phrasing:
        return self.slurp_phrasing.first(user, picked)

    def retry_phrasing(
        self, user: User, picked: SlurpGoal, previous: Phrasing, attempt: int, rng: random.Random
    ) -> Phrasing:
        assert isinstance(previous, SlurpPhrasing)
        return self.slurp_phrasing.retry(picked, previous, attempt, rng)

    def followup(
        self, hh: Household, user: User, endpoint: Endpoint, previous: SlurpGoal, rng: random.Random
    ) -> SlurpGoal | None:
        """Another real request with the same intent, or failing that the same scenario (the part
        of SLURP's label before the first underscore), weighted by popularity; None if none."""
        if not isinstance(previous, SlurpGoal):
            return None
        pools = [
            [g for g in self._by_intent.get(previous.intent, []) if g.goal_key != previous.goal_key],
            [
                g
                for g in self._by_scenario.get(previous.intent.split("_", 1)[0], [])
                if g.intent != previous.intent
            ],
        ]
        pools = [p for p in pools if p]
        if not pools:
            return None
        pool = rng.choice(pools)
        return rng.choices(pool, weights=[g.weight for g in pool], k=1)[0]

    def judge(
        self,
        state: TurnState,
        before: Home,
        outcome: Outcome | None,
        picked: SlurpGoal,
        at: Attempt,
        phrasing: Phrasing,
        assistant: Assistant,
    ) -> tuple[bool, TruthRow]:
        """SLURP requests are judged by interpretation (see slurp_goals), not by a home's state."""
        assert isinstance(phrasing, SlurpPhrasing)
        goal = picked
        success = self.accepts(state, goal, assistant)
        truth = self._truth(
            state,
            at.household,
            at.user,
            at.day,
            at.session_id,
            at.goal_id,
            goal,
            phrasing,
            at.attempt,
            success,
            assistant,
        )
        self._scores.append(_score(state.turn, goal, phrasing.text))
        return success, truth

    def _truth(
        self,
        state: TurnState,
        hh: Household,
        user: User,
        day: int,
        session_id: str,
        goal_id: str,
        goal: SlurpGoal,
        phrasing: SlurpPhrasing,
        attempt: int,
        success: bool,
        assistant: Assistant,
    ) -> TruthRow:
        turn = state.turn
        fired = turn.rewrite is not None
        return TruthRow(
            turn_id=turn.turn_id,
            session_id=session_id,
            user_id=user.user_id,
            household_id=hh.household_id,
            day=day,
            goal_id=goal_id,
            goal_intent=goal.intent,
            goal_args=goal.args_json(),
            spoken_text=phrasing.text,
            directed=True,
            is_request=True,
            attempt=attempt,
            strategy=phrasing.strategy,
            success=success,
            failed_stage=FailedStage.CORRECT if success else self._blame(state, goal, assistant),
            wer=word_error_rate(phrasing.text, turn.asr.text),
            rewrite_fired=fired,
            success_without_rewrite=self._replay_judge(state, goal, assistant, None, ("rewrite",))
            if fired
            else None,
        )

    def _replay_judge(
        self,
        state: TurnState,
        goal: SlurpGoal,
        assistant: Assistant,
        heard: str | None,
        exclude: tuple[str, ...] = (),
    ) -> bool:
        """Run the back half again on a fresh copy of the turn (with `heard` as the recognition
        when given, without the `exclude`d stages) and judge it."""
        turn: Turn = fresh_back(state.turn)
        if heard is not None:
            turn.asr.nbest = [AsrHypothesis(text=heard, confidence=1.0)]
            turn.asr.error = None
        st = assistant.back(exclude=exclude)(TurnState(turn=turn, utterance=state.utterance, replay=True))
        return self.accepts(st, goal, assistant)

    def _blame(self, state: TurnState, goal: SlurpGoal, assistant: Assistant) -> str:
        # A request whose intent the assistant was never built for is not a stage defect.
        nlu = assistant.component("nlu")
        known = getattr(getattr(nlu, "model", None), "intent_slots_", None)
        if isinstance(known, dict) and goal.intent not in known:
            return FailedStage.UNSUPPORTED
        # Give the back half the words really said: if that is understood, recognition failed first.
        if self._replay_judge(state, goal, assistant, state.utterance.text):
            return FailedStage.ASR
        return FailedStage.NLU


class SlurpSimulator(Simulator):
    """`Simulator(config, SlurpGoalSource(goals, voice_seed, strict))`, kept for its callers: the
    goal behaviour is the source's; this class only builds it and hands its attributes on.
    `run_day` returns a `SlurpDayResult`."""

    source: SlurpGoalSource

    def __init__(
        self, config: SimConfig, goals: SlurpGoals, voice_seed: int = 0, strict: bool = True
    ) -> None:
        super().__init__(config, SlurpGoalSource(goals, voice_seed=voice_seed, strict=strict))

    @property
    def goals(self) -> SlurpGoals:
        return self.source.goals

    @property
    def voice_seed(self) -> int:
        return self.source.voice_seed

    @property
    def strict(self) -> bool:
        return self.source.strict

    def run_day(
        self, day: int, assistant: Assistant, progress: Callable[[int], None] | None = None
    ) -> SlurpDayResult:
        res = super().run_day(day, assistant, progress)
        assert isinstance(res, SlurpDayResult)
        return res

    def wordings(self, goal: SlurpGoal, assistant: Assistant) -> frozenset[str]:
        """`SlurpGoalSource.wordings`."""
        return self.source.wordings(goal, assistant)

    def judge(self, state: TurnState, goal: SlurpGoal, assistant: Assistant) -> bool:
        """This simulator's judging rule on a finished turn (`SlurpGoalSource.accepts`)."""
        return self.source.accepts(state, goal, assistant)


def _score(turn: Turn, goal: SlurpGoal, spoken: str) -> TurnScore:
    top = turn.nlu.top
    pred_slots = _normalized((s.name, s.value) for s in top.slots) if top is not None else ()
    gold_slots = _normalized(goal.slots)
    pred, gold = Counter(pred_slots), Counter(gold_slots)
    tp = sum((pred & gold).values())
    edits, words = word_errors(spoken, turn.asr.text)
    return TurnScore(
        intent_ok=top is not None and top.intent == goal.intent,
        slot_tp=tp,
        slot_fp=sum(pred.values()) - tp,
        slot_fn=sum(gold.values()) - tp,
        edits=edits,
        words=words,
        gold_slots=gold_slots,
        pred_slots=pred_slots,
    )


def _normalized(slots: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The (type, value) pairs in order, normalized as `slot_multiset` counts them."""
    return tuple(pair for s in slots for pair in slot_multiset([s]))
