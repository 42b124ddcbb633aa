"""Parsing teaching talk: acts, typed values, and ordinary requests left alone."""

from __future__ import annotations

import random

import pytest

from selflearn.home.factory import make_home
from selflearn.home.home import Home
from selflearn.teach.parse import Act, Expect, TeachingParser, normalize_teaching
from selflearn.teach.store import PreferenceKind

K = PreferenceKind


@pytest.fixture(scope="module")
def home() -> Home:
    return make_home(random.Random(3), "h1")  # kitchen lights, bedroom lights, living room lights, ...


@pytest.fixture(scope="module")
def parser() -> TeachingParser:
    return TeachingParser()


@pytest.mark.parametrize(
    ("text", "act", "kind", "value"),
    [
        ("I'm a Warriors fan", Act.TEACH, K.FAVORITE_TEAM, "golden_state_warriors"),
        ("my favourite team is the san francisco giants", Act.TEACH, K.FAVORITE_TEAM, "san_francisco_giants"),
        ("i'm a big dubs fan", Act.TEACH, K.FAVORITE_TEAM, "golden_state_warriors"),
        ("I like Italian restaurants", Act.TEACH, K.CUISINE, "italian"),
        ("i love tacos", Act.TEACH, K.CUISINE, "mexican"),
        ("my favorite music is jazz", Act.TEACH, K.MUSIC_GENRE, "jazz"),
        ("i mostly listen to hip hop", Act.TEACH, K.MUSIC_GENRE, "hip hop"),
        ("what do you know about me", Act.QUERY, None, None),
        ("what's my favorite team", Act.QUERY, K.FAVORITE_TEAM, None),
        ("forget that", Act.FORGET, None, None),
        ("forget my favorite team", Act.FORGET, K.FAVORITE_TEAM, None),
        ("i'm not a warriors fan anymore", Act.FORGET, K.FAVORITE_TEAM, None),
        ("forget everything about me", Act.FORGET_ALL, None, None),
        ("learn my preferences", Act.LEARN, None, None),
        ("get to knew me", Act.LEARN, None, None),  # a misheard word in a fixed phrase
        ("that's not what i wanted", Act.DISSATISFIED, None, None),
    ],
)
def test_self_contained_acts(
    parser: TeachingParser, home: Home, text: str, act: Act, kind: K | None, value: str | None
) -> None:
    p = parser.parse(text, home)
    assert (p.act, p.kind, p.value) == (act, kind, value)


@pytest.mark.parametrize(
    "text",
    [
        "i'd like to listen to some jazz while i cook",
        "how did the warriors do",
        "play some jazz",
        "i'm craving italian",
        "find me an italian restaurant",
        "turn on the lights",
        "how did my team do",
        "what's the weather tomorrow",
    ],
)
def test_ordinary_requests_pass_through(parser: TeachingParser, home: Home, text: str) -> None:
    assert parser.parse(text, home).act is Act.NONE


def test_aliases_name_a_device_of_the_home(parser: TeachingParser, home: Home) -> None:
    for text in (
        "call the bedroom lights moonlight",
        "when i say moonlight i mean the bedroom lights",
        "the bedroom lights are called moonlight".replace("are", "is"),
    ):
        p = parser.parse(text, home)
        assert (p.act, p.kind, p.key, p.value) == (Act.TEACH, K.ALIAS, "moonlight", "light.bedroom"), text
    assert parser.parse("call the bedroom lights moonlight", None).act is Act.NONE  # no home, no devices


def test_answers_and_confirmations_need_the_dialogue_context(parser: TeachingParser, home: Home) -> None:
    asking_team = Expect(K.FAVORITE_TEAM)
    confirming = Expect(K.FAVORITE_TEAM, confirming=True)
    assert parser.parse("the warriors", home).act is Act.NONE
    ans = parser.parse("the warriors", home, asking_team)
    assert (ans.act, ans.value, ans.display) == (
        Act.ANSWER,
        "golden_state_warriors",
        "the Golden State Warriors",
    )
    assert parser.parse("i'd say italian", home, Expect(K.CUISINE)).value == "italian"
    assert parser.parse("skip", home, asking_team).act is Act.SKIP
    assert parser.parse("i don't really have one", home, asking_team).act is Act.SKIP
    assert parser.parse("that's enough for now", home, asking_team).act is Act.STOP
    assert parser.parse("yes", home, confirming).act is Act.CONFIRM
    assert parser.parse("no", home, confirming).act is Act.DENY
    corr = parser.parse("no the celtics", home, confirming)
    assert (corr.act, corr.value) == (Act.CORRECT, "boston_celtics")
    # a full statement stands on its own even while a question is open
    assert parser.parse("i like thai food", home, asking_team).act is Act.TEACH
    alias = parser.parse("the kitchen lights", home, Expect(K.ALIAS, key="sparky"))
    assert (alias.act, alias.key, alias.value) == (Act.ANSWER, "sparky", "light.kitchen")


def test_just_taught_only_an_explicit_no_corrects(parser: TeachingParser, home: Home) -> None:
    soft = Expect(K.FAVORITE_TEAM, confirming=True, soft=True)
    assert parser.parse("how did my team do", home, soft).act is Act.NONE
    p = parser.parse("no i said the boston celtics", home, soft)
    assert (p.act, p.value) == (Act.CORRECT, "boston_celtics")


def test_normalisation_spells_out_what_recognisers_write() -> None:
    assert normalize_teaching("I'm a fan, my FAVOURITE!") == "i am a fan my favorite"
    assert normalize_teaching("im into jazz") == "i am into jazz"


def test_teaching_string_for_the_log(parser: TeachingParser, home: Home) -> None:
    assert parser.parse("i'm a warriors fan", home).teaching == "favorite_team=golden_state_warriors"
    assert parser.parse("call the kitchen lights sparky", home).teaching == "alias:sparky=light.kitchen"


def test_a_shared_nickname_is_decided_by_the_rest_of_the_words(parser: TeachingParser, home: Home) -> None:
    confirming = Expect(K.FAVORITE_TEAM, confirming=True)
    # "san" lost by the recogniser: the remaining words still fit one of the two Giants better
    assert parser.parse("no i said the francisco giants", home, confirming).value == "san_francisco_giants"
    assert parser.parse("no the new york giants", home, confirming).value == "new_york_giants"
    assert parser.parse("i root for the sacramento kings", home).value == "sacramento_kings"


def test_ordinary_requests_of_the_whole_grammar_are_not_intercepted(
    parser: TeachingParser, home: Home
) -> None:
    from selflearn.grammar import generate

    examples = generate(6, 1)
    taken = [e.text for e in examples if parser.parse(e.text, home).act is not Act.NONE]
    assert len(examples) > 200 and taken == []
