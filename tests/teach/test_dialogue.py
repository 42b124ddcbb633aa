"""The guided teaching sub-dialogue: ask, parse, confirm, store; skip, no, changes of mind."""

from __future__ import annotations

import random

import pytest

from selflearn.home.factory import make_home
from selflearn.home.home import Home
from selflearn.teach.dialogue import DialogueState, Mode, TeachingDialogue, summarize
from selflearn.teach.moments import TeachableMoment
from selflearn.teach.parse import Act
from selflearn.teach.store import PreferenceKind, PreferenceStore

K = PreferenceKind


@pytest.fixture(scope="module")
def home() -> Home:
    return make_home(random.Random(3), "h1")


def _talk(dlg: TeachingDialogue, st: DialogueState, home: Home, *texts: str) -> list[tuple[Act, str]]:
    out = []
    for t in texts:
        step = dlg.step(st, t, home)
        out.append((step.parsed.act, step.response))
    return out


def test_guided_questions_confirm_and_store(home: Home) -> None:
    store = PreferenceStore()
    dlg, st = TeachingDialogue(store), DialogueState("u1")
    steps = _talk(
        dlg, st, home, "learn my preferences", "the warriors", "yes", "skip", "probably jazz", "yeah"
    )
    acts = [a for a, _ in steps]
    assert acts == [Act.LEARN, Act.ANSWER, Act.CONFIRM, Act.SKIP, Act.ANSWER, Act.CONFIRM]
    assert steps[0][1].endswith("What's your favourite sports team?")
    assert steps[1][1] == "So your team is the Golden State Warriors, right?"
    assert "What kind of food" in steps[2][1]
    assert steps[4][1] == "So you like jazz music, right?"
    assert st.mode is Mode.IDLE
    assert {(p.kind, p.value) for p in store.preferences("u1")} == {
        (K.FAVORITE_TEAM, "golden_state_warriors"),
        (K.MUSIC_GENRE, "jazz"),
    }
    assert {p.source for p in store.preferences("u1")} == {"dialogue"}


def test_no_then_a_change_of_mind_stores_only_the_final_value(home: Home) -> None:
    store = PreferenceStore()
    dlg, st = TeachingDialogue(store, questions=(K.CUISINE,)), DialogueState("u1")
    steps = _talk(
        dlg, st, home, "learn my preferences", "italian", "no", "thai", "actually make that greek", "yes"
    )
    assert [a for a, _ in steps] == [Act.LEARN, Act.ANSWER, Act.DENY, Act.ANSWER, Act.CORRECT, Act.CONFIRM]
    assert steps[2][1] == "Sorry. What kind of food do you like best?"
    assert steps[4][1] == "OK, Greek then, right?"
    assert store.get("u1", K.CUISINE).value == "greek"  # type: ignore[union-attr]
    assert [c.new_value for c in store.history("u1")] == ["greek"]  # nothing stored before the yes


def test_unprompted_teaching_is_stored_at_once_and_can_be_corrected_or_forgotten(home: Home) -> None:
    store = PreferenceStore()
    dlg, st = TeachingDialogue(store), DialogueState("u1")
    step = dlg.step(st, "i'm a giants fan", home)
    assert step.stored is not None and step.response.startswith("Got it, I'll remember")
    assert st.mode is Mode.TAUGHT
    fix = dlg.step(st, "no i said the san francisco giants", home)
    assert fix.parsed.act is Act.CORRECT and store.get("u1", K.FAVORITE_TEAM).value == "san_francisco_giants"  # type: ignore[union-attr]
    forget = dlg.step(st, "forget that", home)
    assert forget.forgotten == ((K.FAVORITE_TEAM, ""),) and store.get("u1", K.FAVORITE_TEAM) is None


def test_stop_query_and_forget_everything(home: Home) -> None:
    store = PreferenceStore()
    dlg, st = TeachingDialogue(store), DialogueState("u1")
    _talk(dlg, st, home, "i like thai food", "call the kitchen lights sparky")
    steps = _talk(dlg, st, home, "learn my preferences", "that's enough for now", "what do you know about me")
    assert steps[1][0] is Act.STOP and st.mode is Mode.IDLE
    assert steps[2][1] == "Here's what I know: sparky means the kitchen lights and you like Thai food."
    gone = dlg.step(st, "forget everything about me", home)
    assert gone.parsed.act is Act.FORGET_ALL and store.preferences("u1") == []
    assert dlg.step(st, "what do you know about me", home).response == "I don't know anything about you yet."


def test_an_unrelated_request_leaves_the_dialogue(home: Home) -> None:
    dlg, st = TeachingDialogue(PreferenceStore()), DialogueState("u1")
    dlg.step(st, "learn my preferences", home)
    step = dlg.step(st, "turn on the kitchen lights", home)
    assert not step.handled and st.mode is Mode.IDLE


def test_a_moment_asks_or_offers(home: Home) -> None:
    store = PreferenceStore()
    dlg, st = TeachingDialogue(store), DialogueState("u1")
    ask = dlg.open(st, TeachableMoment("repeated_request", K.CUISINE, "t1"), home)
    assert ask == "What kind of food do you like best?" and st.mode is Mode.ASKING
    st2 = DialogueState("u2")
    offer = dlg.open(st2, TeachableMoment("slot_rephrase", K.ALIAS, "t2", "moonlight", "light.bedroom"), home)
    assert offer == "Should I remember that moonlight means the bedroom lights?"
    dlg.step(st2, "yes please", home)
    assert store.get("u2", K.ALIAS, "moonlight").source == "moment"  # type: ignore[union-attr]


def test_replays_do_not_write(home: Home) -> None:
    store = PreferenceStore()
    dlg = TeachingDialogue(store)
    step = dlg.step(DialogueState("u1"), "i'm a warriors fan", home, write=False)
    assert step.handled and step.stored is None and store.preferences("u1") == []


def test_summary_of_nothing() -> None:
    assert summarize([]) == "I don't know anything about you yet."


def test_a_misheard_alias_name_is_corrected_not_kept(home: Home) -> None:
    store = PreferenceStore()
    dlg, st = TeachingDialogue(store), DialogueState("u1")
    dlg.step(st, "call the kitchen lights foggy", home)  # the recogniser heard "foggy" for "ziggy"
    fix = dlg.step(st, "no i said ziggy", home)
    assert (fix.parsed.act, fix.parsed.key, fix.parsed.value) == (Act.CORRECT, "ziggy", "light.kitchen")
    assert [(p.key, p.value) for p in store.preferences("u1")] == [("ziggy", "light.kitchen")]
