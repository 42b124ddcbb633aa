"""Rendering templates into labelled examples, template lookup, generation and the split."""

from __future__ import annotations

import string
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selflearn.grammar import lexicon
from selflearn.grammar.render import (
    Example,
    GrammarError,
    MissingSlotError,
    UnknownTemplateError,
    generate,
    render,
    split_templates,
    templates_for,
)
from selflearn.grammar.templates import BY_ID, BY_INTENT, TEMPLATES
from selflearn.home.intents import INTENTS


def _unrender(example: Example) -> str:
    """Put `{slot}` holes back where the spans are: must give the template text again."""
    text = example.text
    for s in sorted(example.slots, key=lambda s: s.start, reverse=True):
        text = text[: s.start] + "{" + s.name + "}" + text[s.end :]
    return text


def test_render_offsets_are_exact_for_every_template() -> None:
    for t in TEMPLATES:
        values = {s: lexicon.values_for(t.intent, s)[0] for s in t.slots}
        ex = render(t.id, values)
        assert ex.intent == t.intent and ex.template_id == t.id
        assert {s.name for s in ex.slots} == t.slots
        for s in ex.slots:
            assert ex.text[s.start : s.end] == s.value == values[s.name]
        assert _unrender(ex) == t.text


def test_render_example() -> None:
    ex = render("lights_on/14", {"device": "floor lamp", "room": "living room"})
    assert ex.text == "turn on the floor lamp in the living room"
    assert [(s.name, s.value, s.start, s.end) for s in ex.slots] == [
        ("device", "floor lamp", 12, 22),
        ("room", "living room", 30, 41),
    ]


def test_render_lowercases_values_collapses_spaces_and_ignores_extra_values() -> None:
    ex = render("lights_on/14", {"device": " Floor   Lamp ", "room": "Kitchen", "color": "red"})
    assert ex.text == "turn on the floor lamp in the kitchen"
    assert [s.name for s in ex.slots] == ["device", "room"]


def test_render_errors_name_template_and_slot() -> None:
    with pytest.raises(MissingSlotError, match=r"lights_on/14.*'room'") as info:
        render("lights_on/14", {"device": "lamp"})
    assert info.value.slot == "room" and info.value.template_id == "lights_on/14"
    assert info.value.code == "grammar-missing-slot"
    with pytest.raises(MissingSlotError, match="blank"):
        render("lights_on/14", {"device": "   ", "room": "den"})
    with pytest.raises(UnknownTemplateError) as unknown:
        render("lights_on/99", {})
    assert isinstance(unknown.value, LookupError) and isinstance(unknown.value, GrammarError)


@settings(max_examples=200, deadline=None)
@given(
    template_id=st.sampled_from(sorted(BY_ID)),
    raw=st.lists(
        st.text(alphabet=string.ascii_lowercase + string.digits + " '-:{}", min_size=1, max_size=25).filter(
            str.strip
        ),
        min_size=5,
        max_size=5,
    ),
)
def test_rendering_arbitrary_lowercase_values_gives_exact_spans(template_id: str, raw: list[str]) -> None:
    template = BY_ID[template_id]
    values = dict(zip(sorted(template.slots), raw, strict=False))
    ex = render(template_id, values)
    assert len(ex.slots) == len(template.slots)
    end = 0
    for s in ex.slots:  # in text order, not overlapping, exactly the (space-collapsed) value
        assert s.start >= end
        assert ex.text[s.start : s.end] == s.value == " ".join(values[s.name].split())
        end = s.end
    assert _unrender(ex) == template.text


def test_templates_for_exact_subset_and_styles() -> None:
    exact = templates_for("lights_on", {"device", "room"})
    assert exact and all(t.slots == {"device", "room"} for t in exact)
    subset = templates_for("lights_on", {"room"}, subset=True)
    assert {t.slots for t in subset} == {frozenset(), frozenset({"room"})}
    no_slots = templates_for("lights_on", ())
    assert no_slots and all(not t.slots for t in no_slots)
    explicit = templates_for("lights_on", styles=["explicit"])
    assert explicit and all(t.style == "explicit" and t.slots == {"device", "room"} for t in explicit)
    assert templates_for("garage_open") == list(BY_INTENT["garage_open"])
    assert templates_for("play_media", {"room"}) == []  # media_title is required
    with pytest.raises(KeyError):
        templates_for("make_pancakes")
    with pytest.raises(ValueError):
        templates_for("lights_on", styles=["rude"])  # type: ignore[list-item]


def test_generate_counts_and_labels() -> None:
    examples = generate(7, seed=3)
    assert Counter(e.intent for e in examples) == {spec.name: 7 for spec in INTENTS}
    for e in examples:
        assert e.template_id.startswith(e.intent + "/")
        assert {s.name for s in e.slots} == BY_ID[e.template_id].slots
        assert all(e.text[s.start : s.end] == s.value for s in e.slots)


def test_generate_is_deterministic_under_seed() -> None:
    assert generate(5, seed=11) == generate(5, seed=11)
    assert generate(5, seed=11) != generate(5, seed=12)


def test_generate_uses_every_template_evenly() -> None:
    n = 2 * len(BY_INTENT["lights_on"])
    used = Counter(e.template_id for e in generate(n, seed=0) if e.intent == "lights_on")
    assert set(used.values()) == {2}


def test_generate_restricted_to_template_ids_and_intents_draw_independently() -> None:
    ids = {t.id for t in BY_INTENT["timer_set"][:4]} | {t.id for t in BY_INTENT["lights_on"]}
    restricted = generate(6, seed=5, template_ids=ids)
    assert {e.intent for e in restricted} == {"timer_set", "lights_on"}
    assert {e.template_id for e in restricted} <= ids
    # lights_on examples do not depend on which other intents are generated
    full = [e for e in generate(6, seed=5) if e.intent == "lights_on"]
    assert [e for e in restricted if e.intent == "lights_on"] == full
    with pytest.raises(UnknownTemplateError):
        generate(1, seed=0, template_ids={"lights_on/99"})
    with pytest.raises(ValueError):
        generate(-1, seed=0)


def test_generated_media_type_matches_title() -> None:
    for e in generate(40, seed=1):
        if e.intent != "play_media":
            continue
        slots = {s.name: s.value for s in e.slots}
        if "media_type" in slots:
            kind = next(k for k, words in lexicon.MEDIA_TYPE_WORDS.items() if slots["media_type"] in words)
            assert slots["media_title"] in lexicon.MEDIA_TITLES_BY_TYPE[kind]


def test_generated_data_is_varied() -> None:
    # sentences with slots should hardly repeat; slotless ones repeat by nature
    with_slots = [e.text for e in generate(30, seed=2) if e.slots]
    assert len(with_slots) > 500
    assert len(set(with_slots)) > 0.9 * len(with_slots)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_split_keeps_coverage(seed: int) -> None:
    train, held_out = split_templates(seed)
    assert train.isdisjoint(held_out) and train | held_out == set(BY_ID)
    for intent, templates in BY_INTENT.items():
        in_train = [t for t in templates if t.id in train]
        assert len(in_train) >= 3, intent
        assert {t.slots for t in in_train} == {t.slots for t in templates}, intent
        assert any(t.id in held_out for t in templates), intent  # something new to meet
    assert 0.65 < len(train) / len(BY_ID) < 0.8


def test_split_is_seeded() -> None:
    assert split_templates(4) == split_templates(4)
    assert split_templates(4) != split_templates(5)
    train, held_out = split_templates(0, train_fraction=1.0)
    assert train == set(BY_ID) and not held_out
    small_train, _ = split_templates(0, train_fraction=0.05)
    assert all(sum(t.id in small_train for t in ts) >= 3 for ts in BY_INTENT.values())
    with pytest.raises(ValueError):
        split_templates(0, train_fraction=0.0)


def test_split_train_part_feeds_generate() -> None:
    train, _ = split_templates(0)
    examples = generate(3, seed=0, template_ids=train)
    assert {e.intent for e in examples} == {spec.name for spec in INTENTS}
    assert all(e.template_id in train for e in examples)
