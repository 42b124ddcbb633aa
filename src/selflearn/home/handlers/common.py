"""Small helpers the intent handlers share: reading a number argument, saying a time."""

from __future__ import annotations

__all__ = ["int_arg", "say_time"]


def say_time(hhmm: str) -> str:
    h, m = int(hhmm[:2]), int(hhmm[3:])
    return f"{12 if h % 12 == 0 else h % 12}:{m:02d} {'AM' if h < 12 else 'PM'}"


def int_arg(args: dict[str, str], name: str) -> int | None:
    try:
        return int(args[name])
    except (KeyError, ValueError):
        return None
