"""Example/SpanSlot: spans are checked against the text when an example is made."""

from __future__ import annotations

import pytest

from selflearn.contracts.nlu_examples import Example, SpanSlot


def test_valid_example() -> None:
    ex = Example("play adele", "play_music", (SpanSlot("artist", "adele", 5, 10),), template_id="t1")
    assert ex.text[5:10] == "adele" and ex.template_id == "t1"
    assert Example("hello", "greet").slots == ()


@pytest.mark.parametrize(
    "slot",
    [SpanSlot("artist", "adele", 4, 9), SpanSlot("artist", "adele", 5, 99), SpanSlot("artist", "x", -1, 0)],
)
def test_bad_spans_fail_at_construction(slot: SpanSlot) -> None:
    with pytest.raises(ValueError, match="artist"):
        Example("play adele", "play_music", (slot,))


def test_empty_intent_fails() -> None:
    with pytest.raises(ValueError):
        Example("play adele", "")
