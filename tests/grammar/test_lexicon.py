"""Spoken surface values: number, time and duration words, and the per-slot value pools."""

from __future__ import annotations

import pytest

from selflearn.grammar import lexicon
from selflearn.home.intents import INTENTS, SlotType


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "zero"), (7, "seven"), (15, "fifteen"), (20, "twenty"), (72, "seventy two"),
     (100, "one hundred"), (350, "three hundred fifty"), (999, "nine hundred ninety nine")],
)  # fmt: skip
def test_number_words(n: int, words: str) -> None:
    assert lexicon.number_words(n) == words


def test_number_words_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        lexicon.number_words(1000)


@pytest.mark.parametrize(
    ("hour", "minute", "said"),
    [(7, 0, "seven am"), (18, 30, "six thirty pm"), (12, 0, "noon"), (0, 0, "midnight"),
     (7, 15, "quarter past seven"), (8, 45, "quarter to nine"), (23, 45, "quarter to twelve"),
     (6, 5, "six oh five am"), (21, 20, "nine twenty pm")],
)  # fmt: skip
def test_spoken_time(hour: int, minute: int, said: str) -> None:
    assert lexicon.spoken_time(hour, minute) == said


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(600, "ten minutes"), (3600, "an hour"), (1800, "half an hour"), (60, "one minute"),
     (30, "thirty seconds"), (7200, "two hours"), (5400, "an hour and a half"),
     (3900, "an hour and five minutes")],
)  # fmt: skip
def test_spoken_duration(seconds: int, said: str) -> None:
    assert lexicon.spoken_duration(seconds) == said


def test_invalid_times_and_durations_raise() -> None:
    with pytest.raises(ValueError):
        lexicon.spoken_time(24, 0)
    with pytest.raises(ValueError):
        lexicon.spoken_duration(0)


def test_every_slot_of_every_intent_has_a_clean_pool() -> None:
    for spec in INTENTS:
        for slot in spec.slots:
            pool = lexicon.values_for(spec.name, slot.name)
            assert len(pool) >= 5, (spec.name, slot.name)
            assert len(set(pool)) == len(pool), (spec.name, slot.name)
            for v in pool:
                assert v == " ".join(v.split()) and v == v.lower() and "{" not in v, v


def test_unknown_slot_raises() -> None:
    with pytest.raises(KeyError):
        lexicon.values_for("lights_on", "color")


def test_intents_sharing_a_slot_type_share_values() -> None:
    # otherwise the NLU could tell shopping_add from purchase by the item alone
    items = {lexicon.values_for(i, "item") for i in ("shopping_add", "shopping_remove", "purchase")}
    assert len(items) == 1
    lights = {lexicon.values_for(i, "device") for i in ("lights_on", "lights_off", "lights_dim")}
    assert len(lights) == 1
    assert lexicon.values_for("alarm_set", "time") == lexicon.values_for("reminder_create", "time")


def test_numbers_are_mostly_words_sometimes_digits() -> None:
    for pool in (
        lexicon.BRIGHTNESS,
        lexicon.ROOM_TEMPERATURES,
        lexicon.VOLUME_LEVELS,
        lexicon.OVEN_TEMPERATURES,
    ):
        digits = sum(v.isdigit() for v in pool)
        assert 0 < digits < 0.35 * len(pool)
    assert {"seventy two", "72"} <= set(lexicon.ROOM_TEMPERATURES)


def test_named_values_people_actually_say_are_present() -> None:
    assert {"wilkerson", "springfield", "portland"} <= set(lexicon.AMBIGUOUS_CITIES) <= set(lexicon.CITIES)
    assert {"harry potter", "the hunger games"} <= set(lexicon.MEDIA_TITLES)
    # ambiguous titles exist as two media types
    assert "harry potter" in lexicon.MEDIA_TITLES_BY_TYPE["movie"]
    assert "harry potter" in lexicon.MEDIA_TITLES_BY_TYPE["audiobook"]
    assert {"ceiling light", "floor lamp", "lamp", "lights"} <= set(lexicon.LIGHT_DEVICES)
    assert "front door lock" in lexicon.LOCK_DEVICES
    assert {"seven am", "half past six", "six thirty pm"} <= set(lexicon.TIMES)
    assert {"ten minutes", "an hour"} <= set(lexicon.DURATIONS)
    assert {"today", "tomorrow", "on friday"} <= set(lexicon.DATES)
    assert set(lexicon.BY_TYPE) == set(SlotType)
