"""Small helpers the intent handlers share: reading a number argument, saying a time."""

from __future__ import annotations

from datetime import time

__all__ = ["clock_time", "int_arg", "say_time"]


def clock_time(value: str) -> str | None:
    """`value` when it is a clock time "HH:MM" (00:00-23:59), else None: a handler that gets a
    malformed time answers with a failed outcome instead of raising or saying "1:99 PM"."""
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        return None
    return value if len(value) == 5 and parsed.second == 0 else None


def say_time(hhmm: str) -> str:
    h, m = int(hhmm[:2]), int(hhmm[3:])
    return f"{12 if h % 12 == 0 else h % 12}:{m:02d} {'AM' if h < 12 else 'PM'}"


def int_arg(args: dict[str, str], name: str) -> int | None:
    try:
        return int(args[name])
    except (KeyError, ValueError):
        return None
