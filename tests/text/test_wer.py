"""Word error rate: known cases and the metric's properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selflearn.text.wer import corpus_word_error_rate, word_error_rate, word_errors


def _reference_edits(r: list[str], h: list[str]) -> int:
    """Textbook Levenshtein DP over words, to check the fast implementation against."""
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        cur = [i] + [0] * len(h)
        for j, hw in enumerate(h, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rw != hw))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("turn off the lights", "turn off the lights", 0.0),
        ("turn off the lights", "turn of the lights", 0.25),  # one substitution
        ("turn off the lights", "turn off lights", 0.25),  # one deletion
        ("turn off the lights", "turn off the the lights", 0.25),  # one insertion
        ("set a timer", "set a time her", 2 / 3),  # substitution + insertion
        ("in to the room", "into the room", 0.5),  # merge = substitution + deletion
        ("turn off the lights", "", 1.0),
        ("a b", "c d e f", 2.0),  # insertions can push WER above one
        ("", "", 0.0),
        ("", "hello", 1.0),
    ],
)
def test_known_cases(ref: str, hyp: str, expected: float) -> None:
    assert word_error_rate(ref, hyp) == pytest.approx(expected)


def test_normalisation_ignores_case_and_punctuation_unless_disabled() -> None:
    assert word_error_rate("Turn OFF the lights.", "turn off the lights") == 0.0
    assert word_error_rate("Turn OFF the lights.", "turn off the lights", normalize=False) == 0.75


def test_word_errors_and_corpus_rate_weight_by_reference_length() -> None:
    assert word_errors("a b c d", "a x c") == (2, 4)
    pairs = [("a b c d", "a b c d"), ("x y", "x z")]  # 1 edit over 6 words, not mean(0, .5)
    assert corpus_word_error_rate(pairs) == pytest.approx(1 / 6)
    assert corpus_word_error_rate([]) == 0.0


_words = st.lists(st.sampled_from(["on", "off", "the", "lights", "of", "a", "timer"]), max_size=8)


@settings(max_examples=200, deadline=None)
@given(_words)
def test_identity_is_zero_and_empty_hypothesis_is_one(ws: list[str]) -> None:
    x = " ".join(ws)
    assert word_error_rate(x, x) == 0.0
    if ws:
        assert word_error_rate(x, "") == 1.0


@settings(max_examples=200, deadline=None)
@given(_words, _words, _words)
def test_edit_distance_is_a_metric_matching_the_textbook_dp(a: list[str], b: list[str], c: list[str]) -> None:
    x, y, z = " ".join(a), " ".join(b), " ".join(c)
    exy, n = word_errors(x, y)
    assert n == len(a)
    assert exy == _reference_edits(a, b)
    assert exy == word_errors(y, x)[0]  # symmetric
    assert exy <= word_errors(x, z)[0] + word_errors(z, y)[0]  # triangle inequality
    assert abs(len(a) - len(b)) <= exy <= max(len(a), len(b))
    assert word_error_rate(x, y) >= 0.0
