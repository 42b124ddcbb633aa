"""The teaching components in the assistant: the very next turn uses what was taught, per user."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from selflearn.assistant.component import TurnState, Utterance
from selflearn.assistant.resolve import EntityResolver, PersonalPreferences
from selflearn.compose import DEFAULT_PIPELINE, build_assistant, default_config
from selflearn.home.factory import make_home
from selflearn.home.home import Home
from selflearn.home.intents import SlotType
from selflearn.logs.records import DeviceInfo, DeviceType, NluHypothesis, Slot, Turn
from selflearn.teach.component import TEACH_MODEL, TeachRuntime, UserPreferences
from selflearn.teach.store import Preference, PreferenceKind, PreferenceStore

K = PreferenceKind
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class _Talk:
    """Turns of simulated speech (clean ASR) through an assistant, one session per user."""

    def __init__(self, assistant: Any, home: Home) -> None:
        self.assistant, self.home, self.n = assistant, home, 0

    def __call__(self, text: str, user: str = "u1", session: str = "s1") -> TurnState:
        self.n += 1
        turn = Turn(
            turn_id=f"t{self.n:04d}",
            session_id=f"{user}-{session}",
            user_id=user,
            timestamp=T0 + timedelta(seconds=10 * self.n),
            device=DeviceInfo(device_id="speaker.kitchen", type=DeviceType.SPEAKER),
        )
        turn.context.room = "kitchen"
        utt = Utterance(text=text, speaker_id=user, noise_profile={"rate": 0.0})
        for _ in range(5):  # the wake word model may miss; say it again as a person would
            state = self.assistant(TurnState(turn=turn.model_copy(deep=True), utterance=utt, home=self.home))
            if state.turn.wake.detected:
                return state
        raise AssertionError(f"wake word never detected for {text!r}")


@pytest.fixture(scope="module")
def setup(small_nlu: Any) -> tuple[_Talk, TeachRuntime, Home]:
    home = make_home(random.Random(3), "h1")  # lives in austin, household team: chicago cubs
    runtime = TeachRuntime(PreferenceStore())
    assistant = build_assistant(default_config(seed=0, nlu=small_nlu, asr_error_rate=0.0, teach=runtime))
    return _Talk(assistant, home), runtime, home


def _arg(state: TurnState, name: str) -> str | None:
    return state.turn.action.arguments.get(name)


def test_the_next_turn_uses_the_taught_team_and_cuisine(setup: tuple[_Talk, TeachRuntime, Home]) -> None:
    talk, runtime, _home = setup
    taught = talk("i'm a warriors fan", user="ann")
    assert taught.turn.nlu.model == TEACH_MODEL and taught.turn.nlu.top.intent == "teach_preference"  # type: ignore[union-attr]
    assert taught.turn.feedback.teaching == "favorite_team=golden_state_warriors"
    assert "Golden State Warriors" in taught.turn.response.text
    score = talk("how did my team do", user="ann")
    assert _arg(score, "team") == "golden_state_warriors" and "Warriors" in score.turn.response.text
    talk("i like italian restaurants", user="ann")
    food = talk("find a restaurant", user="ann")
    assert _arg(food, "cuisine") == "italian"
    assert runtime.store.get("ann", K.CUISINE) is not None


def test_an_alias_is_used_on_the_next_turn(setup: tuple[_Talk, TeachRuntime, Home]) -> None:
    talk, _runtime, home = setup
    talk("call the bedroom floor lamp moonlight", user="bo")
    on = talk("turn on moonlight", user="bo")
    assert on.turn.rewrite is not None and on.turn.rewrite.source == "online-personal"
    assert _arg(on, "device") == "light.bedroom_floor_lamp"
    assert home.devices["light.bedroom_floor_lamp"].state["on"] is True


def test_a_preference_is_never_used_for_another_user(setup: tuple[_Talk, TeachRuntime, Home]) -> None:
    talk, _runtime, _home = setup
    talk("my favorite music is jazz", user="cy")
    mine = talk("play some music", user="cy")
    theirs = talk("play some music", user="dee")  # same household, same device
    assert _arg(mine, "genre") == "jazz"
    assert _arg(theirs, "genre") is None


def test_forgetting_is_immediate(setup: tuple[_Talk, TeachRuntime, Home]) -> None:
    talk, runtime, _home = setup
    talk("i'm a celtics fan", user="eve")
    assert _arg(talk("how did my team do", user="eve"), "team") == "boston_celtics"
    talk("forget that", user="eve")
    assert runtime.store.get("eve", K.FAVORITE_TEAM) is None
    assert _arg(talk("how did my team do", user="eve"), "team") != "boston_celtics"
    talk("i love tacos", user="eve")
    gone = talk("forget everything about me", user="eve")
    assert gone.turn.nlu.top.intent == "preference_forget_all"  # type: ignore[union-attr]
    assert runtime.store.preferences("eve") == [] and runtime.store.history("eve") == []
    mem = runtime.peek("eve")
    assert mem is not None and len(mem.recent) == 0  # nothing kept in memory either
    talk("i'm a bulls fan", user="eve")
    assert runtime.forget_user("eve") == 1 and runtime.peek("eve") is None


def test_a_repeated_request_opens_a_question(setup: tuple[_Talk, TeachRuntime, Home]) -> None:
    talk, runtime, _home = setup
    talk("find a restaurant", user="fay", session="m")
    again = talk("find a restaurant", user="fay", session="m")
    assert again.turn.response.text.endswith("By the way, what kind of food do you like best?")
    answer = talk("thai", user="fay", session="m")
    assert answer.turn.nlu.top.intent == "teach_answer"  # type: ignore[union-attr]
    talk("yes", user="fay", session="m")
    assert runtime.store.get("fay", K.CUISINE).source == "moment"  # type: ignore[union-attr]


def test_what_do_you_know_about_me(setup: tuple[_Talk, TeachRuntime, Home]) -> None:
    talk, _runtime, _home = setup
    talk("i'm into reggae music", user="gus")
    said = talk("what do you know about me", user="gus").turn.response.text
    assert said == "Here's what I know: you like reggae music."


def test_factory_inserts_the_components_only_when_asked(small_nlu: Any) -> None:
    plain = [e["component"] for e in default_config(nlu=small_nlu)]
    assert plain == [e["component"] for e in DEFAULT_PIPELINE]
    taught = [e["component"] for e in default_config(nlu=small_nlu, teach=":memory:")]
    assert taught.index("teach.intercept.v1") == taught.index("nlu.model.v1") - 1
    assert "response.teach.v1" in taught and "response.template.v1" not in taught


def test_resolver_consults_personal_preferences() -> None:
    home = make_home(random.Random(3), "h1")
    prefs = UserPreferences(
        [
            Preference("u", K.FAVORITE_TEAM, "", "boston_celtics", "", "teach", T0),
            Preference("u", K.ALIAS, "moonlight", "light.bedroom", "", "teach", T0),
        ],
        home,
    )
    assert isinstance(prefs, PersonalPreferences)
    res = EntityResolver()
    hyp = NluHypothesis(intent="sports_score", confidence=0.9)
    args, entities, failure = res.resolve(hyp, home, "kitchen", home.today, prefs=prefs)
    assert args == {"team": "boston_celtics"} and failure is None and entities[0].value == ""
    said = NluHypothesis(intent="sports_score", confidence=0.9, slots=[Slot(name="team", value="my team")])
    assert res.resolve(said, home, "kitchen", home.today, prefs=prefs)[0] == {"team": "boston_celtics"}
    other = NluHypothesis(intent="sports_score", confidence=0.9, slots=[Slot(name="team", value="cubs")])
    assert res.resolve(other, home, "kitchen", home.today, prefs=prefs)[0] == {"team": "chicago_cubs"}
    lamp = NluHypothesis(intent="lights_on", confidence=0.9, slots=[Slot(name="device", value="moon light")])
    assert res.resolve(lamp, home, "kitchen", home.today, prefs=prefs)[0]["device"] == "light.bedroom"
    assert res.resolve(hyp, home, "kitchen", home.today)[0] == {}  # no preferences: as before
    assert prefs.lookup(SlotType.TEAM, "the lakers") is None
