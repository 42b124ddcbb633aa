"""Counterfactual replays of a turn's back half, for the truth table only.

For a failed turn the back half of the pipeline is replayed with correct inputs (the words really
said, the gold interpretation, the gold entities) to find the first stage that failed
irrecoverably; for a turn where a rewrite fired it is replayed without the rewrite, so wins and
losses can be counted. Moved out of `simulate.traffic.Simulator` so every goal source's judge
(`simulate.home_goals`, `simulate.slurp_traffic`) can use them without importing the simulator.
Replays draw no random numbers."""

from __future__ import annotations

from collections.abc import Callable

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState
from selflearn.contracts.actions import Command, Outcome
from selflearn.home.home import Home
from selflearn.logs.records import AsrHypothesis, NluHypothesis, NluStage, Slot, Turn
from selflearn.simulate.goals import Goal
from selflearn.simulate.truth import FailedStage

__all__ = ["failed_stage", "fresh_back", "replay", "without_rewrite"]


def replay(
    state: TurnState,
    home: Home,
    pipeline_stages: Callable[[TurnState], TurnState],
    turn: Turn,
    resolved_args: dict[str, str] | None = None,
) -> Outcome | None:
    st = TurnState(turn=turn, utterance=state.utterance, home=home, resolved_args=resolved_args, replay=True)
    return pipeline_stages(st).outcome


def fresh_back(turn: Turn) -> Turn:
    """A copy of `turn` with everything the back half wrote cleared."""
    t = turn.model_copy(deep=True)
    t.rewrite = None
    t.nlu = NluStage()
    t.resolution = type(t.resolution)()
    t.action = type(t.action)()
    t.response = type(t.response)()
    return t


def without_rewrite(state: TurnState, before: Home, expected: Outcome, assistant: Assistant) -> bool:
    """Would the turn have had the expected effect without the rewrite?"""
    turn = fresh_back(state.turn)
    out = replay(state, before.copy(), assistant.back(exclude=("rewrite",)), turn)
    return out is not None and out.same_effect(expected)


def failed_stage(
    state: TurnState,
    before: Home,
    goal: Goal,
    gold: Command,
    expected: Outcome,
    assistant: Assistant,
) -> str:
    """The first stage of a failed home turn that failed irrecoverably (`truth.FailedStage`)."""
    # 1. Give the back half the words really said: if that works, recognition failed first.
    turn = fresh_back(state.turn)
    turn.asr.nbest = [AsrHypothesis(text=state.utterance.text, confidence=1.0)]
    out = replay(state, before.copy(), assistant.back(), turn)
    if out is not None and out.same_effect(expected):
        return FailedStage.ASR
    # 2. Give resolution the gold intent and slot values: if that works, understanding failed.
    turn = fresh_back(state.turn)
    turn.nlu = NluStage(
        model="gold",
        input_text=state.utterance.text,
        nbest=[
            NluHypothesis(
                intent=goal.intent, confidence=1.0, slots=[Slot(name=k, value=v) for k, v in goal.surface]
            )
        ],
    )
    out = replay(state, before.copy(), assistant.stages(("resolution", "action")), turn)
    if out is not None and out.same_effect(expected):
        return FailedStage.NLU
    # 3. Give the executor the gold entities: if that works, entity resolution failed; if even
    # that fails, the right interpretation led to the wrong result.
    out = replay(
        state,
        before.copy(),
        assistant.stages(("action",)),
        turn,
        resolved_args=dict(gold.args),
    )
    if out is not None and out.same_effect(expected):
        return FailedStage.ENTITY_RESOLUTION
    return FailedStage.RESULT
