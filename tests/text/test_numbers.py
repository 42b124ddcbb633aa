"""Spoken numbers, times, durations and dates: examples people say, and render -> parse round trips."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selflearn.text.numbers import (
    normalize_spoken,
    parse_date,
    parse_duration,
    parse_number,
    parse_time,
    render_date,
    render_duration,
    render_number,
    render_time,
)

TODAY = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("seventy two", 72),
        ("seventy-two", 72),
        ("72", 72),
        ("fifty percent", 50),
        ("50%", 50),
        ("to 50 %", 50),
        ("seventy two degrees", 72),
        ("zero", 0),
        ("ten", 10),
        ("nineteen", 19),
        ("one hundred and five", 105),
        ("a hundred", 100),
        ("three hundred fifty", 350),
        ("two thousand twenty six", 2026),
        ("one million two thousand", 1_002_000),
        ("level seven", 7),
    ],
)
def test_parse_number_examples(text: str, value: int) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text",
    ["", "lights", "seventy seventy", "five twenty", "nineteen eighty four", "one and", "hundred", "a"],
)
def test_parse_number_rejects_non_numbers(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "hhmm"),
    [
        ("five am", "05:00"),
        ("5 am", "05:00"),
        ("5am", "05:00"),
        ("7 a.m.", "07:00"),
        ("5:30 pm", "17:30"),
        ("5:30pm", "17:30"),
        ("half past seven", "07:30"),
        ("quarter to eight in the evening", "19:45"),
        ("quarter past six in the morning", "06:15"),
        ("ten past midnight", "00:10"),
        ("twenty to noon", "11:40"),
        ("noon", "12:00"),
        ("twelve noon", "12:00"),
        ("midnight", "00:00"),
        ("seven thirty", "07:30"),
        ("seven oh five pm", "19:05"),
        ("seventeen forty five", "17:45"),
        ("twenty one", "21:00"),
        ("twenty three fifteen", "23:15"),
        ("seven o'clock", "07:00"),
        ("at 6 pm", "18:00"),
        ("eight tonight", "20:00"),
        ("twelve am", "00:00"),
        ("twelve pm", "12:00"),
        ("1730", "17:30"),
        ("ten", "10:00"),
    ],
)
def test_parse_time_examples(text: str, hhmm: str) -> None:
    assert parse_time(text) == hhmm


@pytest.mark.parametrize("text", ["", "banana", "thirteen pm", "five minutes", "25:00", "7:75", "half past"])
def test_parse_time_rejects(text: str) -> None:
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("ten minutes", 600),
        ("an hour and a half", 5400),
        ("1 hour 30 minutes", 5400),
        ("one hour and thirty minutes", 5400),
        ("half an hour", 1800),
        ("a quarter of an hour", 900),
        ("90 seconds", 90),
        ("two and a half hours", 9000),
        ("1.5 hours", 5400),
        ("a minute", 60),
        ("five mins", 300),
        ("10m", 600),
        ("for twenty minutes", 1200),
        ("five minutes from now", 300),
        ("a minute and a half", 90),
    ],
)
def test_parse_duration_examples(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten", "minutes", "ten apples", "an hour and"])
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("today", 0),
        ("tonight", 0),
        ("this evening", 0),
        ("tomorrow", 1),
        ("tomorrow's", 1),
        ("tomorrow morning", 1),
        ("the day after tomorrow", 2),
        ("tuesday", 0),
        ("on friday", 3),
        ("next tuesday", 7),
        ("monday", 6),
        ("this weekend", 4),
        ("in three days", 3),
    ],
)
def test_parse_date_examples(text: str, delta: int) -> None:
    assert parse_date(text, TODAY) == TODAY + timedelta(days=delta)


def test_parse_date_iso_and_rejects() -> None:
    assert parse_date("2026-12-01", TODAY) == date(2026, 12, 1)
    assert parse_date("2026-13-01", TODAY) is None
    assert parse_date("someday", TODAY) is None


def test_normalize_spoken() -> None:
    assert normalize_spoken("Set it to 50%!") == "set it to 50 percent"
    assert normalize_spoken("7 A.M.") == "7 am"
    assert normalize_spoken("seventy-two") == "seventy two"
    assert normalize_spoken("1.5 hours.") == "1.5 hours"


def test_render_examples() -> None:
    assert render_number(105) == "one hundred five"
    assert render_number(72) == "seventy two"
    assert render_time("07:05", "words") == "seven oh five am"
    assert render_time("17:30", "digits") == "5:30 pm"
    assert render_time("19:45", "colloquial") == "quarter to eight in the evening"
    assert render_time("12:00", "colloquial") == "noon"
    assert render_duration(5400, "colloquial") == "an hour and a half"
    assert render_duration(5400, "words") == "one hour and thirty minutes"
    assert render_duration(3661, "digits") == "1 hour 1 minute and 1 second"
    assert render_date(TODAY + timedelta(days=3), TODAY) == "friday"
    with pytest.raises(ValueError):
        render_time("24:00")


@given(st.integers(min_value=0, max_value=999_999_999))
def test_number_round_trip(n: int) -> None:
    assert parse_number(render_number(n)) == n


@given(st.integers(min_value=0, max_value=24 * 60 - 1), st.sampled_from(["words", "digits", "colloquial"]))
def test_time_round_trip(minute: int, style: str) -> None:
    hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
    assert parse_time(render_time(hhmm, style)) == hhmm  # type: ignore[arg-type]


def test_time_round_trip_exhaustive() -> None:
    """Every minute of the day in every style: the renderer and parser agree everywhere."""
    for minute in range(24 * 60):
        hhmm = f"{minute // 60:02d}:{minute % 60:02d}"
        for style in ("words", "digits", "colloquial"):
            assert parse_time(render_time(hhmm, style)) == hhmm, (hhmm, style)


@given(st.integers(min_value=0, max_value=3 * 86400), st.sampled_from(["words", "digits", "colloquial"]))
def test_duration_round_trip(seconds: int, style: str) -> None:
    assert parse_duration(render_duration(seconds, style)) == seconds  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=400))
def test_date_round_trip(days: int) -> None:
    d = TODAY + timedelta(days=days)
    assert parse_date(render_date(d, TODAY), TODAY) == d
