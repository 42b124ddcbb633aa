"""Spoken numbers, clock times, durations and dates: parsing what people say into canonical values
and rendering canonical values back into what a person would say.

Recognisers emit words ("seventy two", "half past seven"), the executor needs canonical values
(72, "07:30"). The renderers exist so the user simulator can say a goal's value and the resolver can
parse it back: every `render_*` output parses back to the value it rendered (property-tested).
Parsers return ``None`` for text that is not a number/time/duration/date instead of guessing, so the
resolver can report the slot as unresolved.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

__all__ = [
    "NUMBER_TOKENS",
    "NUMBER_WORDS",
    "WEEKDAYS",
    "normalize_spoken",
    "parse_date",
    "parse_duration",
    "parse_number",
    "parse_time",
    "render_date",
    "render_duration",
    "render_number",
    "render_time",
]

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = [
    "ten", "eleven", "twelve", "thirteen", "fourteen",
    "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}

_WORD_VALUE: dict[str, tuple[str, int]] = {}
for _i, _w in enumerate(_UNITS):
    _WORD_VALUE[_w] = ("unit", _i)
for _i, _w in enumerate(_TEENS):
    _WORD_VALUE[_w] = ("teen", 10 + _i)
for _i, _w in enumerate(_TENS):
    if _w:
        _WORD_VALUE[_w] = ("tens", 10 * _i)
_WORD_VALUE.update({"oh": ("unit", 0), "fourty": ("tens", 40), "nought": ("unit", 0)})

# Words that may follow a number without changing it ("seventy two degrees", "fifty percent").
_UNIT_SUFFIXES = frozenset(
    {"percent", "per", "cent", "degrees", "degree", "deg", "f", "fahrenheit", "celsius", "c", "points"}
)
_LEADING_FILLERS = frozenset({"to", "at", "for", "by", "about", "around", "level", "number"})

# Words that are (part of) a number as a recogniser writes it: cardinals, the common fractions
# and the first ten ordinals.
_ORDINALS = (
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth", "twentieth", "thirtieth",
)  # fmt: skip
NUMBER_WORDS = frozenset(
    [*_UNITS, *_TEENS, *_TENS[2:], "hundred", "thousand", "million", "half", "quarter", *_ORDINALS[:10]]
)
# ... and the other ordinals of a month's days and the named times: every token that carries a
# quantity in a request ("the twenty first at noon").
NUMBER_TOKENS = NUMBER_WORDS | frozenset([*_ORDINALS[10:], "noon", "midnight"])

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_PUNCT = re.compile(r"[^a-z0-9:.\s]")
_SPACE = re.compile(r"\s+")


def normalize_spoken(text: str) -> str:
    """Lower-case, spell out '%', unify 'a.m.'/'p.m.', drop punctuation except clock colons and
    decimal points, collapse spaces. Hyphens become spaces ("twenty-one" -> "twenty one")."""
    t = text.lower().replace("%", " percent ")
    t = re.sub(r"\b([ap])\.\s?m\.?(?=\s|$)", r"\1m", t)
    t = re.sub(r"\b([ap]) m\b", r"\1m", t)
    t = re.sub(r"(\d)([ap]m)\b", r"\1 \2", t)
    t = t.replace("'s", "").replace("'", "")
    t = _PUNCT.sub(" ", t)
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)  # dots that are not decimal points
    return _SPACE.sub(" ", t).strip()


# --------------------------------------------------------------------------------------- numbers


def render_number(n: int) -> str:
    """Say a non-negative integer in words, US style without 'and': 105 -> 'one hundred five'."""
    if n < 0:
        return "minus " + render_number(-n)
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS[n - 10]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TENS[tens] + (" " + _UNITS[unit] if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _UNITS[hundreds] + " hundred" + (" " + render_number(rest) if rest else "")
    for word, scale in sorted(_SCALES.items(), key=lambda kv: -kv[1]):
        if n >= scale:
            head, rest = divmod(n, scale)
            return render_number(head) + " " + word + (" " + render_number(rest) if rest else "")
    raise AssertionError("unreachable")


def _parse_number_tokens(tokens: list[str]) -> int | None:
    """Parse a token list that is exactly one number (words or digits); None if it is not."""
    if not tokens:
        return None
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0])
    negative = False
    if tokens[0] in ("minus", "negative"):
        negative, tokens = True, tokens[1:]
        if not tokens:
            return None
    total = 0  # completed scale groups (thousands, millions)
    group = 0  # the current group below one thousand
    last: str | None = None  # kind of the previous token
    last_scale = 10**12
    seen_any = False
    for i, tok in enumerate(tokens):
        if tok == "and":
            # only inside a number: "one hundred and five"
            if last not in ("hundred", "scale") or i == len(tokens) - 1:
                return None
            last = "and"
            continue
        if tok in ("a", "an"):
            if last is not None or i + 1 >= len(tokens) or tokens[i + 1] not in ("hundred", *_SCALES):
                return None
            group, last, seen_any = 1, "unit", True
            continue
        if tok.isdigit():
            v = int(tok)
            if last not in (None, "hundred", "scale", "and") or v >= 1000:
                return None
            if last in ("hundred", "and") and (v >= 100 or group % 100):
                return None
            group += v
            last, seen_any = ("unit" if v < 10 else "teen" if v < 20 else "digits"), True
            continue
        kind_val = _WORD_VALUE.get(tok)
        if kind_val is not None:
            kind, v = kind_val
            if kind == "unit":
                if last == "tens":
                    if v == 0:
                        return None
                elif last not in (None, "hundred", "scale", "and"):
                    return None
                if tok == "oh" and last is not None:
                    return None
            elif last not in (None, "hundred", "scale", "and"):
                return None
            group += v
            last, seen_any = kind, True
            continue
        if tok == "hundred":
            if last not in ("unit", "teen") or group >= 100 or group == 0:
                return None
            group *= 100
            last = "hundred"
            continue
        if tok in _SCALES:
            scale = _SCALES[tok]
            if group == 0 or scale >= last_scale or last in ("and", "scale"):
                return None
            total += group * scale
            group, last, last_scale = 0, "scale", scale
            continue
        return None
    if not seen_any or last == "and":
        return None
    value = total + group
    return -value if negative else value


def parse_number(text: str) -> int | None:
    """'seventy two' / '72' / 'fifty percent' / 'to 50%' / 'seventy-two degrees' -> int, else None.

    Leading fillers ("to", "at", "level") and trailing unit words are ignored; anything else that
    is not part of one number makes the whole text not a number.
    """
    tokens = normalize_spoken(text).split()
    while tokens and tokens[0] in _LEADING_FILLERS:
        tokens = tokens[1:]
    while tokens and tokens[-1] in _UNIT_SUFFIXES:
        tokens = tokens[:-1]
    if len(tokens) == 1 and re.fullmatch(r"\d+\.0+", tokens[0]):
        return int(float(tokens[0]))
    return _parse_number_tokens(tokens)


# ------------------------------------------------------------------------------------------ times

TimeStyle = Literal["words", "digits", "colloquial"]
_AM_WORDS = (("in", "the", "morning"), ("am",), ("this", "morning"), ("in", "the", "night"))
_PM_WORDS = (
    ("in", "the", "afternoon"),
    ("in", "the", "evening"),
    ("at", "night"),
    ("pm",),
    ("this", "afternoon"),
    ("this", "evening"),
    ("tonight",),
)
_HALF_MINUTES = {"quarter": 15, "half": 30}


def _hour12(h: int) -> int:
    return 12 if h % 12 == 0 else h % 12


def _period_words(h: int) -> str:
    if h < 12:
        return "in the morning"
    if h < 18:
        return "in the afternoon"
    return "in the evening"


def _ref_hour_words(h: int) -> str:
    """Name an hour for 'past'/'to' phrases: 'noon', 'midnight' or 'seven in the evening'."""
    if h == 0:
        return "midnight"
    if h == 12:
        return "noon"
    return f"{render_number(_hour12(h))} {_period_words(h)}"


def render_time(hhmm: str, style: TimeStyle = "words") -> str:
    """Say a canonical 'HH:MM' as a person would.

    words: 'seven thirty pm', 'seven oh five am', 'seven am'; digits: '7:30 pm', '7 am';
    colloquial: 'half past seven in the evening', 'quarter to noon', 'ten past midnight'.
    """
    h, m = _split_hhmm(hhmm)
    suffix = "am" if h < 12 else "pm"
    if style == "digits":
        return f"{_hour12(h)}:{m:02d} {suffix}" if m else f"{_hour12(h)} {suffix}"
    if style == "words":
        hw = render_number(_hour12(h))
        if m == 0:
            return f"{hw} {suffix}"
        mw = f"oh {render_number(m)}" if m < 10 else render_number(m)
        return f"{hw} {mw} {suffix}"
    if style == "colloquial":
        if m == 0:
            return {0: "midnight", 12: "noon"}.get(h, f"{render_number(_hour12(h))} {_period_words(h)}")
        if m <= 30:
            amount = {15: "quarter", 30: "half"}.get(m, render_number(m))
            return f"{amount} past {_ref_hour_words(h)}"
        amount = "quarter" if m == 45 else render_number(60 - m)
        return f"{amount} to {_ref_hour_words((h + 1) % 24)}"
    raise ValueError(f"unknown time style {style!r}")


def _split_hhmm(hhmm: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", hhmm)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"not a canonical HH:MM time: {hhmm!r}")
    return int(m.group(1)), int(m.group(2))


def _strip_suffix(tokens: list[str], options: tuple[tuple[str, ...], ...]) -> tuple[list[str], bool]:
    for opt in options:
        k = len(opt)
        if len(tokens) > k and tuple(tokens[-k:]) == opt:
            return tokens[:-k], True
    return tokens, False


def _parse_minutes(tokens: list[str]) -> int | None:
    """The minutes after an hour: 'thirty', 'oh five', 'o five', '05', 'forty five'."""
    if not tokens:
        return 0
    if len(tokens) == 1 and tokens[0].isdigit():
        return int(tokens[0]) if len(tokens[0]) == 2 and int(tokens[0]) < 60 else None
    if tokens[0] in ("oh", "o", "zero") and len(tokens) == 2:
        v = _parse_number_tokens(tokens[1:])
        return v if v is not None and 1 <= v <= 9 else None
    v = _parse_number_tokens(tokens)
    # a lone unit word is not minutes ("seven five" is not 7:05)
    if v is None or v >= 60 or v < 10:
        return None
    return v


def _parse_hour(tokens: list[str]) -> int | None:
    if tokens in (["noon"], ["midday"], ["twelve", "noon"]):
        return 12
    if tokens in (["midnight"], ["twelve", "midnight"]):
        return 0
    v = _parse_number_tokens(tokens)
    return v if v is not None and 0 <= v <= 24 else None


def _apply_meridiem(h: int, meridiem: str | None) -> int | None:
    if h == 24:
        return 0 if meridiem is None else None
    if meridiem is None:
        return h
    if not 1 <= h <= 12:
        return None
    if meridiem == "am":
        return 0 if h == 12 else h
    return 12 if h == 12 else h + 12


def parse_time(text: str) -> str | None:
    """'five am', '5:30 pm', 'half past seven', 'quarter to eight in the evening', 'noon',
    'seventeen forty five', '7 oclock' -> 'HH:MM'. Without am/pm an hour is taken as said (24h)."""
    tokens = normalize_spoken(text).replace(":", " : ").split()
    while tokens and tokens[0] in ("at", "for", "by", "around", "about"):
        tokens = tokens[1:]
    tokens = [t for t in tokens if t not in ("oclock",)]
    if len(tokens) >= 2 and tokens[-2:] == ["o", "clock"]:
        tokens = tokens[:-2]
    meridiem: str | None = None
    tokens, is_pm = _strip_suffix(tokens, _PM_WORDS)
    if is_pm:
        meridiem = "pm"
    else:
        tokens, is_am = _strip_suffix(tokens, _AM_WORDS)
        meridiem = "am" if is_am else None
    if len(tokens) >= 2 and tokens[-2:] == ["o", "clock"]:
        tokens = tokens[:-2]
    if not tokens:
        return None
    hour = _parse_hour(tokens)
    if hour is not None and tokens[-1] in ("noon", "midday", "midnight"):
        return f"{hour:02d}:00" if meridiem is None else None
    # "X past H", "X to H"
    for rel, sign in (("past", 1), ("after", 1), ("to", -1), ("till", -1), ("before", -1), ("of", -1)):
        if rel in tokens[1:-1]:
            i = tokens.index(rel, 1)
            amount_toks, hour_toks = tokens[:i], tokens[i + 1 :]
            if amount_toks and amount_toks[-1] in ("minutes", "minute", "mins", "min"):
                amount_toks = amount_toks[:-1]
            if amount_toks and amount_toks[0] == "a" and amount_toks[1:] == ["quarter"]:
                amount_toks = amount_toks[1:]
            amount = (
                _HALF_MINUTES.get(amount_toks[0]) if len(amount_toks) == 1 else None
            ) or _parse_number_tokens(amount_toks)
            base = _parse_hour(hour_toks)
            if amount is None or base is None or not 1 <= amount <= 59:
                return None
            if hour_toks[-1] in ("noon", "midday", "midnight"):
                if meridiem is not None:
                    return None
                h24: int | None = base
            else:
                h24 = _apply_meridiem(base, meridiem)
            if h24 is None:
                return None
            total = (h24 * 60 + sign * amount) % (24 * 60)
            return f"{total // 60:02d}:{total % 60:02d}"
    # digits "7:30", "7 : 30"
    if len(tokens) == 3 and tokens[1] == ":" and tokens[0].isdigit() and tokens[2].isdigit():
        h, mi = int(tokens[0]), int(tokens[2])
        if len(tokens[2]) != 2 or mi > 59:
            return None
        h2 = _apply_meridiem(h, meridiem)
        return f"{h2:02d}:{mi:02d}" if h2 is not None and h2 < 24 else None
    if ":" in tokens:
        return None
    # "730" / "1730" without a colon
    if len(tokens) == 1 and tokens[0].isdigit() and len(tokens[0]) in (3, 4):
        h, mi = int(tokens[0][:-2]), int(tokens[0][-2:])
        if mi > 59:
            return None
        h2 = _apply_meridiem(h, meridiem)
        return f"{h2:02d}:{mi:02d}" if h2 is not None and h2 < 24 else None
    # words: hour part then minutes part; try the shortest hour first
    for split in range(1, len(tokens) + 1):
        hw = _parse_hour(tokens[:split])
        if hw is None:
            continue
        mi2 = _parse_minutes(tokens[split:])
        if mi2 is None:
            continue
        if hw == 24 and mi2:
            continue
        h2 = _apply_meridiem(hw, meridiem)
        if h2 is None or h2 > 23:
            continue
        return f"{h2:02d}:{mi2:02d}"
    return None


# -------------------------------------------------------------------------------------- durations

DurationStyle = Literal["words", "digits", "colloquial"]
_DURATION_UNITS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60, "m": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
    "day": 86400, "days": 86400,
}  # fmt: skip


def _unit_phrase(n: int, unit: str, digits: bool) -> str:
    num = str(n) if digits else render_number(n)
    return f"{num} {unit}" + ("" if n == 1 else "s")


def _join(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return " ".join(parts[:-1]) + " and " + parts[-1]


def render_duration(seconds: int, style: DurationStyle = "words") -> str:
    """Say a duration in seconds: words 'one hour and thirty minutes', digits '1 hour and 30
    minutes', colloquial 'an hour and a half' / 'half an hour' / 'two and a half minutes'."""
    if seconds < 0:
        raise ValueError("durations are non-negative")
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if style == "colloquial":
        special = {1800: "half an hour", 3600: "an hour", 5400: "an hour and a half", 60: "a minute",
                   900: "a quarter of an hour", 30: "half a minute", 90: "a minute and a half"}  # fmt: skip
        if seconds in special:
            return special[seconds]
        if seconds % 3600 == 1800 and seconds > 3600:
            return f"{render_number(seconds // 3600)} and a half hours"
        if seconds < 3600 and seconds % 60 == 30 and seconds > 60:
            return f"{render_number(seconds // 60)} and a half minutes"
        style = "words"
    digits = style == "digits"
    if style not in ("words", "digits"):
        raise ValueError(f"unknown duration style {style!r}")
    parts = []
    if h:
        parts.append(_unit_phrase(h, "hour", digits))
    if m:
        parts.append(_unit_phrase(m, "minute", digits))
    if s or not parts:
        parts.append(_unit_phrase(s, "second", digits))
    return _join(parts)


def _parse_quantity(tokens: list[str]) -> float | None:
    if not tokens:
        return None
    if tokens in (["a"], ["an"], ["one"]):
        return 1.0
    if tokens in (["half"], ["half", "a"], ["half", "an"], ["a", "half"]):
        return 0.5
    if tokens in (["a", "quarter", "of", "an"], ["quarter", "of", "an"], ["a", "quarter"], ["quarter"],
                  ["a", "quarter", "of", "a"], ["quarter", "of", "a"]):  # fmt: skip
        return 0.25
    if len(tokens) >= 4 and tokens[-3:] == ["and", "a", "half"]:
        head = _parse_quantity(tokens[:-3])
        return None if head is None else head + 0.5
    if len(tokens) == 1 and re.fullmatch(r"\d+\.\d+", tokens[0]):
        return float(tokens[0])
    v = _parse_number_tokens(tokens)
    return None if v is None else float(v)


def parse_duration(text: str) -> int | None:
    """'ten minutes', 'an hour and a half', '1 hour 30 minutes', 'half an hour', '90 seconds',
    'two and a half hours', '1.5 hours' -> seconds (int), else None."""
    tokens = normalize_spoken(text).split()
    while tokens and tokens[0] in ("for", "in", "of"):
        tokens = tokens[1:]
    if tokens[-2:] == ["from", "now"]:
        tokens = tokens[:-2]
    while tokens and tokens[-1] in ("timer", "long", "countdown"):
        tokens = tokens[:-1]
    # "10m" / "90s" / "2h"
    expanded: list[str] = []
    for t in tokens:
        mm = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m|h|min|mins|sec|secs|hr|hrs)", t)
        expanded.extend([mm.group(1), mm.group(2)] if mm else [t])
    tokens = expanded
    if tokens and tokens[-1] == "and":
        return None  # cut off mid-phrase
    total = 0.0
    buf: list[str] = []
    last_unit: int | None = None
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t in _DURATION_UNITS and (buf or t not in ("s", "m", "h")):
            q = _parse_quantity(buf)
            if q is None:
                return None
            last_unit = _DURATION_UNITS[t]
            total += q * last_unit
            buf = []
        elif t == "and" and not buf and last_unit is not None and tokens[i + 1 : i + 3] == ["a", "half"]:
            total += 0.5 * last_unit
            i += 2
        elif t in ("and", ",") and not buf and last_unit is not None:
            pass
        else:
            buf.append(t)
        i += 1
    if buf or last_unit is None:
        return None
    return round(total)


# ------------------------------------------------------------------------------------------ dates


def parse_date(text: str, today: date) -> date | None:
    """'today', 'tomorrow', 'tonight', 'the day after tomorrow', 'friday', 'next friday', 'this
    weekend', 'in three days', ISO '2026-11-25' -> a date relative to `today`, else None.

    A bare weekday means its next occurrence from today on (today included)."""
    t = normalize_spoken(text)
    t = re.sub(r"^(on|for|this coming|coming|the|this)\s+", "", t)
    t = re.sub(r"\s+(morning|afternoon|evening|night)$", "", t)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            return None
    if t in ("today", "tonight", "now", "morning", "afternoon", "evening", "this evening", "night"):
        return today
    if t in ("tomorrow", "tomorrow morning", "next day"):
        return today + timedelta(days=1)
    if t in ("day after tomorrow", "the day after tomorrow"):
        return today + timedelta(days=2)
    if t in ("weekend", "this weekend"):
        return today + timedelta(days=(5 - today.weekday()) % 7)
    if t == "next week":
        return today + timedelta(days=7)
    m = re.fullmatch(r"in (.+) days?", t)
    if m:
        n = 1 if m.group(1) in ("a", "one") else parse_number(m.group(1))
        return today + timedelta(days=n) if n is not None and 0 <= n <= 366 else None
    words = t.split()
    nxt = False
    if words and words[0] == "next":
        nxt, words = True, words[1:]
    if len(words) == 1 and words[0] in WEEKDAYS:
        delta = (WEEKDAYS.index(words[0]) - today.weekday()) % 7
        if nxt and delta == 0:
            delta = 7
        return today + timedelta(days=delta)
    return None


def render_date(d: date, today: date) -> str:
    """Say a date relative to today: 'today', 'tomorrow', 'the day after tomorrow', a weekday name
    within the coming week, else the ISO date."""
    delta = (d - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    if delta == 2:
        return "the day after tomorrow"
    if 3 <= delta <= 6:
        return WEEKDAYS[d.weekday()]
    return d.isoformat()
