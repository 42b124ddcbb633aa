"""The template catalog: coverage of the intent catalog, well-formed slots, variety of phrasing."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from selflearn.grammar.templates import BY_ID, BY_INTENT, STYLES, TEMPLATES
from selflearn.home.intents import BY_NAME, INTENTS

# Politeness fillers: two templates that differ only by these are one phrasing, not two.
FILLERS = {"please", "hey", "ok", "okay", "just", "now", "um", "uh", "so", "well"}
WORDS = re.compile(r"\{[a-z_]+\}|[a-z0-9']+")


def _words(text: str) -> list[str]:
    return WORDS.findall(text)


def test_every_catalog_intent_has_at_least_12_templates() -> None:
    counts = {spec.name: len(BY_INTENT.get(spec.name, ())) for spec in INTENTS}
    assert min(counts.values()) >= 12, {k: v for k, v in counts.items() if v < 12}
    assert set(BY_INTENT) == set(BY_NAME)  # no templates for intents the catalog lacks
    assert sum(counts.values()) == len(TEMPLATES) >= 43 * 12


def test_ids_are_unique_and_numbered_per_intent() -> None:
    assert len(BY_ID) == len(TEMPLATES)
    for intent, templates in BY_INTENT.items():
        assert [t.id for t in templates] == [f"{intent}/{i:02d}" for i in range(1, len(templates) + 1)]
        assert all(t.intent == intent for t in templates)


def test_template_slots_are_slots_of_their_intent_and_required_ones_are_present() -> None:
    for t in TEMPLATES:
        spec = BY_NAME[t.intent]
        names = {s.name for s in spec.slots}
        required = {s.name for s in spec.slots if s.required}
        assert t.slots <= names, (t.id, t.slots - names)
        assert required <= t.slots, (t.id, required - t.slots)
        assert len(re.findall(r"\{", t.text)) == len(t.slots), f"{t.id}: a slot used twice"


def test_every_slot_is_used_and_optional_slots_have_with_and_without_variants() -> None:
    for spec in INTENTS:
        templates = BY_INTENT[spec.name]
        for slot in spec.slots:
            with_slot = [t for t in templates if slot.name in t.slots]
            assert with_slot, f"{spec.name}: slot {slot.name} never said"
            if not slot.required:
                assert len(with_slot) < len(templates), f"{spec.name}: {slot.name} always said"


def test_text_is_spoken_style() -> None:
    for t in TEMPLATES:
        assert re.fullmatch(r"[a-z0-9' {}_]+", t.text), t.id  # lower case, no punctuation
        assert t.text == t.text.strip() and "  " not in t.text, t.id
        assert "}{" not in t.text, t.id  # adjacent slots could not be told apart


def test_no_duplicate_templates_anywhere() -> None:
    dupes = [text for text, n in Counter(t.text for t in TEMPLATES).items() if n > 1]
    assert not dupes


def test_no_two_intents_share_a_carrier_with_the_same_slot_types() -> None:
    # "turn up the {device}" for both volume and lights would make the intent depend on the
    # device name alone.
    by_shape: dict[str, set[str]] = defaultdict(set)
    for t in TEMPLATES:
        types = {s.name: s.type.value for s in BY_NAME[t.intent].slots}
        shape = t.text.format(**{name: f"<{types[name]}>" for name in t.slots})
        by_shape[shape].add(t.intent)
    assert not {s: i for s, i in by_shape.items() if len(i) > 1}


def test_no_near_duplicates_within_an_intent() -> None:
    for templates in BY_INTENT.values():
        seen: dict[tuple[str, ...], str] = {}
        for t in templates:
            key = tuple(w for w in _words(t.text) if w not in FILLERS)
            assert key not in seen, f"{t.id} repeats {seen[key]} up to fillers"
            seen[key] = t.id


def test_every_template_has_carrier_words_beyond_its_slots() -> None:
    for t in TEMPLATES:
        carrier = [w for w in _words(t.text) if not w.startswith("{") and w not in FILLERS]
        assert carrier, t.id


def test_every_intent_has_every_style_and_explicit_spells_out_device_and_room() -> None:
    for spec in INTENTS:
        templates = BY_INTENT[spec.name]
        assert {t.style for t in templates} == set(STYLES), spec.name
        location = {s.name for s in spec.slots if s.name in ("device", "room")}
        for t in templates:
            if t.style == "explicit":
                assert location <= t.slots, t.id


def test_variety_uses_fillers_and_contractions() -> None:
    words = Counter(w for t in TEMPLATES for w in _words(t.text))
    for w in ("please", "hey", "could", "i'd", "what's", "it's", "don't", "i'm"):
        assert words[w] >= 3, w
    # phrasings start differently: no opening word dominates
    first = Counter(_words(t.text)[0] for t in TEMPLATES)
    assert first.most_common(1)[0][1] < 0.15 * len(TEMPLATES)


@pytest.mark.parametrize("intent", ["lights_on", "play_music", "weather_query", "volume_set"])
def test_several_slot_combinations_per_intent_with_location_slots(intent: str) -> None:
    combos = Counter(t.slots for t in BY_INTENT[intent])
    assert len(combos) >= 4
