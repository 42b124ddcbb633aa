"""The pipeline checks what components declare: a requirement must be assigned upstream, and a
declared hand-off must be a TurnState field or a dotted extension name."""

from __future__ import annotations

import pytest

from selflearn.assistant.component import Pipeline, PipelineError, StageFailure, TurnState
from selflearn.assistant.execute import Executor
from selflearn.assistant.resolve import EntityResolver
from selflearn.assistant.respond import Responder
from selflearn.assistant.state import CORE_HANDOFFS, Stage
from selflearn.teach.component import TeachComponent, TeachResponder, TeachRuntime


class _Needs:
    name = "action"
    requires = ("resolved_args",)

    def __call__(self, state: TurnState) -> TurnState:
        return state


class _Typo:
    name = "nlu"
    assigns = ("resolved_arg",)

    def __call__(self, state: TurnState) -> TurnState:
        return state


class _Fails:
    name = "nlu"

    def __call__(self, state: TurnState) -> TurnState:
        raise StageFailure("nlu-no-intent")


def test_a_requirement_must_be_assigned_upstream() -> None:
    Pipeline([EntityResolver(), _Needs()])  # the resolver assigns resolved_args first
    with pytest.raises(PipelineError, match=r"_Needs \('action'\) requires \['resolved_args'\]"):
        Pipeline([_Needs(), EntityResolver()])
    with pytest.raises(PipelineError, match="neither a TurnState hand-off"):
        Pipeline([_Typo()])


def test_the_teaching_question_needs_its_intercept() -> None:
    rt = TeachRuntime(":memory:")
    Pipeline([TeachComponent(rt), EntityResolver(), Executor(), TeachResponder(rt)])
    with pytest.raises(PipelineError, match=r"requires \['teach.step'\]"):
        Pipeline([EntityResolver(), Executor(), TeachResponder(rt)])


def test_the_first_failure_is_recorded_on_the_state() -> None:
    from selflearn.assistant.component import Utterance
    from selflearn.logs.records import Turn

    assert {"resolved_args", "unresolved", "command", "outcome", "failure", "preferences"} == CORE_HANDOFFS
    assert [str(s) for s in Stage][:2] == ["wake", "asr"]
    turn = Turn.model_validate(_minimal_turn())
    st = Pipeline([_Fails(), Responder()])(TurnState(turn, Utterance("hm")))
    assert st.failure == "nlu-no-intent" and st.turn.nlu.error == "nlu-no-intent" and st.turn.response.text


def _minimal_turn() -> dict[str, object]:
    return {
        "turn_id": "t1",
        "session_id": "s1",
        "user_id": "u1",
        "timestamp": "2026-12-07T10:00:00+00:00",
        "device": {"device_id": "d1", "type": "speaker"},
    }
