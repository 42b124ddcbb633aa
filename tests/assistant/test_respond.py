"""The response stage: text from the outcome or the failure, visual flag, spoken duration."""

from __future__ import annotations

from datetime import UTC, datetime

from selflearn.assistant.component import Component, Pipeline, TurnState, Utterance, create
from selflearn.assistant.execute import Executor
from selflearn.assistant.resolve import EntityResolver
from selflearn.assistant.respond import FAILURE_TEXT, Responder, speech_ms
from selflearn.assistant.state import Unresolved
from selflearn.contracts.actions import Outcome
from selflearn.home.devices import Kind, Room, make_device
from selflearn.home.home import Home
from selflearn.logs.records import DeviceInfo, DeviceType, NluHypothesis, NluStage, Slot, StageError, Turn


def tiny_home() -> Home:
    rooms = [Room("living_room", "living room"), Room("kitchen", "kitchen")]
    devices = [
        make_device("light.kitchen", Kind.LIGHT, "kitchen light", "kitchen"),
        make_device("tv.living_room", Kind.TV, "tv", "living_room"),
    ]
    return Home("hh", rooms, devices, now=datetime(2026, 11, 24, 9, 0))


def make_state(
    intent: str | None = None,
    slots: dict[str, str] | None = None,
    device_id: str = "speaker-1",
    dtype: DeviceType = DeviceType.SPEAKER,
    has_screen: bool = False,
) -> TurnState:
    turn = Turn(
        turn_id="t1",
        session_id="s1",
        user_id="u1",
        timestamp=datetime(2026, 11, 24, 9, tzinfo=UTC),
        device=DeviceInfo(device_id=device_id, type=dtype, has_screen=has_screen),
    )
    if intent is not None:
        hyp = NluHypothesis(
            intent=intent, confidence=0.9, slots=[Slot(name=k, value=v) for k, v in (slots or {}).items()]
        )
        turn.nlu = NluStage(nbest=[hyp])
    return TurnState(turn=turn, utterance=Utterance(text=""), home=tiny_home())


PIPE = Pipeline([EntityResolver(), Executor(), Responder()])


def test_registered_component() -> None:
    comp = create("response.template.v1")
    assert isinstance(comp, Responder) and isinstance(comp, Component) and comp.name == "response"


def test_speaks_the_outcome_with_its_duration() -> None:
    st = PIPE(make_state("lights_on", {"device": "kitchen light"}))
    text = st.turn.response.text
    assert text == "OK, turning on the kitchen light."
    assert st.turn.response.duration_ms == 60 * len(text) + 300 == speech_ms(text)
    assert st.turn.response.has_visual is False
    assert speech_ms("") == 0


def test_failure_messages() -> None:
    st = PIPE(make_state("lights_on", {"device": "hot tub"}))
    assert st.turn.response.text == "Sorry, I don't know which device you mean."
    st = PIPE(make_state("weather_query", {"city": "zzyzx qq"}))
    assert st.turn.response.text == "Sorry, I don't know where zzyzx qq is."
    st = PIPE(make_state("play_media", {"media_title": "qwerty asdf"}))
    assert st.turn.response.text == "Sorry, I couldn't find qwerty asdf."
    # a failure recorded by an earlier stage (the pipeline puts its code in state.failure)
    for code, text in [
        (StageError.NLU_NO_INTENT, "Sorry, I didn't understand."),
        (StageError.NLU_LOW_CONFIDENCE, "Sorry, I didn't understand."),
        (StageError.ASR_NO_TEXT, "Sorry, I didn't catch that."),
        (StageError.ER_AMBIGUOUS, "Sorry, which one did you mean?"),
        ("some-new-code", "Sorry, something went wrong."),
    ]:
        st = make_state()
        st.failure = str(code)
        assert Responder()(st).turn.response.text == text
    assert set(FAILURE_TEXT) == set(StageError)
    # no NLU hypothesis and no recorded failure
    assert Responder()(make_state()).turn.response.text == "Sorry, I didn't understand."


def test_executor_failure_uses_the_outcome_message() -> None:
    st = PIPE(make_state("oven_off"))
    assert st.turn.response.text == "Sorry, there's no oven here."
    assert st.turn.errors == ["action-unsupported"]


def test_outcome_from_before_a_later_failure_is_not_spoken() -> None:
    st = make_state("lights_on")
    st.outcome = Outcome(True, message="Done.")
    assert Responder()(st).turn.response.text == "Done."
    st.failure = "er-unresolved"
    st.unresolved = Unresolved("room", "room", "attic")
    assert Responder()(st).turn.response.text == "Sorry, I don't know which room you mean."


def test_visual_when_the_device_has_a_screen() -> None:
    assert PIPE(make_state("time_query", dtype=DeviceType.SCREEN)).turn.response.has_visual
    assert PIPE(make_state("time_query", has_screen=True)).turn.response.has_visual
    # the device spoken to is the home's TV
    assert PIPE(make_state("time_query", device_id="tv.living_room")).turn.response.has_visual
    assert not PIPE(make_state("time_query")).turn.response.has_visual


def test_without_an_executor_it_says_back_what_it_understood() -> None:
    """Intents nobody executes (a SLURP-format assistant's) are answered with the interpretation,
    so people and log readers can tell what was understood."""
    st = Responder()(make_state("calendar_remove", {"event_name": "eric's bday", "date": "friday"}))
    assert st.turn.response.text == "OK, calendar remove: eric's bday, friday."
    st = Responder()(make_state("weather_query"))
    assert st.turn.response.text == "OK, weather query."
    assert st.turn.response.duration_ms == speech_ms("OK, weather query.")
