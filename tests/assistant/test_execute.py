"""The executor: applies the resolved command, records the action stage, raises on failure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from selflearn.assistant.component import Component, Pipeline, StageFailure, TurnState, Utterance, create
from selflearn.assistant.execute import Executor
from selflearn.assistant.respond import Responder
from selflearn.contracts.actions import Command, Outcome
from selflearn.home.devices import Kind, Room, make_device
from selflearn.home.home import Home
from selflearn.logs.records import DeviceInfo, DeviceType, NluHypothesis, NluStage, Slot, StageError, Turn


def tiny_home() -> Home:
    rooms = [Room("kitchen", "kitchen"), Room("bedroom", "bedroom")]
    devices = [
        make_device("light.kitchen", Kind.LIGHT, "kitchen light", "kitchen"),
        make_device("light.bedroom", Kind.LIGHT, "bedroom light", "bedroom"),
        make_device("lock.front_door", Kind.LOCK, "front door", None, locked=False),
    ]
    return Home("hh", rooms, devices, now=datetime(2026, 11, 24, 9, 0))


def make_state(home: Home | None, intent: str | None, slots: dict[str, str] | None = None) -> TurnState:
    turn = Turn(
        turn_id="t1",
        session_id="s1",
        user_id="u1",
        timestamp=datetime(2026, 11, 24, 9, tzinfo=UTC),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
    )
    if intent is not None:
        turn.nlu = NluStage(
            nbest=[
                NluHypothesis(
                    intent=intent,
                    confidence=0.9,
                    slots=[Slot(name=k, value=v) for k, v in (slots or {}).items()],
                )
            ]
        )
    return TurnState(turn=turn, utterance=Utterance(text=""), home=home)


def test_registered_component() -> None:
    comp = create("action.home.v1")
    assert isinstance(comp, Executor) and isinstance(comp, Component) and comp.name == "action"


def test_applies_resolved_args_and_records_the_action() -> None:
    home = tiny_home()
    st = make_state(home, "lights_on", {"device": "kitchen light"})
    st.resolved_args = {"device": "light.kitchen"}
    st = Executor()(st)
    act = st.turn.action
    assert (act.name, act.arguments, act.status, act.error) == (
        "lights_on",
        {"device": "light.kitchen"},
        "ok",
        None,
    )
    assert act.changes == ["light.kitchen.on=true"]
    assert home.devices["light.kitchen"].state["on"] is True
    out = st.outcome
    assert isinstance(out, Outcome) and out.ok
    assert st.command == Command("lights_on", {"device": "light.kitchen"})
    # the outcome is what the judge compares with the gold command's effect
    gold = tiny_home().apply(Command("lights_on", {"device": "light.kitchen"}))
    assert out.same_effect(gold)


def test_query_records_no_changes() -> None:
    st = make_state(tiny_home(), "time_query")
    st.resolved_args = {}
    st = Executor()(st)
    assert st.turn.action.status == "ok" and st.turn.action.changes == []
    assert st.outcome.answer == "time:09:00"


def test_failure_is_recorded_then_raised() -> None:
    home = tiny_home()
    st = make_state(home, "lights_on")
    st.resolved_args = {}  # two lights, no room: which one?
    with pytest.raises(StageFailure) as exc:
        Executor()(st)
    assert exc.value.code == StageError.ACTION_MISSING_SLOT
    assert st.turn.action.status == "failed" and st.turn.action.error == "action-missing-slot"
    assert st.turn.action.name == "lights_on" and not st.outcome.ok
    # through the pipeline: the error lands in the turn and the response explains it
    st = Pipeline([Executor(), Responder()])(make_state(tiny_home(), "garage_open"))
    assert st.turn.errors == ["action-unsupported"] and st.failure == "action-unsupported"
    assert st.turn.response.text == "Sorry, there's no garage door here."


def test_protected_intent_runs_when_asked_explicitly() -> None:
    home = tiny_home()
    st = make_state(home, "door_lock")
    st.resolved_args = {"device": "lock.front_door"}
    Executor()(st)
    assert home.devices["lock.front_door"].state["locked"] is True
    st = make_state(home, "door_unlock")
    st.resolved_args = {"device": "lock.front_door"}
    assert Executor()(st).turn.action.changes == ["lock.front_door.locked=false"]


def test_without_resolver_uses_raw_slots_and_without_intent_does_nothing() -> None:
    st = Executor()(make_state(tiny_home(), "timer_set", {"duration": "60"}))
    assert st.turn.action.arguments == {"duration": "60"} and st.turn.action.status == "ok"
    st = Executor()(make_state(tiny_home(), None))
    assert st.turn.action.status == "none" and st.outcome is None
    with pytest.raises(StageFailure) as exc:
        Executor()(make_state(None, "time_query"))
    assert exc.value.code == StageError.ACTION_FAILED
