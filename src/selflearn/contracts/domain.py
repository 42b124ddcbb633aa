"""Which intents are protected: the actions no learned fix may steer a request into.

A deployment names its protected intents (locks, garage, alarms, purchases, security) in its
domain; where it names none, `protected_by_default` picks them from the intents' own names, so a
fresh install is guarded before anyone has configured anything. The rule looks at the words of an
intent's name (`door_unlock`, `HassLockUnlock`, `garage_open`): the words that undo a safeguard
(unlock, disarm) or spend money (purchase, buy, order, pay), and opening a garage or a door.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["PROTECTED_PAIRS", "PROTECTED_WORDS", "intent_words", "protected_by_default"]

PROTECTED_WORDS = frozenset({"unlock", "disarm", "purchase", "buy", "order", "pay", "payment", "checkout"})
"""A name holding one of these words is protected."""

PROTECTED_PAIRS: tuple[frozenset[str], ...] = (
    frozenset({"garage", "open"}),
    frozenset({"door", "open"}),
    frozenset({"security", "off"}),
    frozenset({"alarm", "disable"}),
)
"""A name holding both words of a pair is protected."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def intent_words(name: str) -> set[str]:
    """The lower-cased words of an intent name, split at non-letters and camelCase humps."""
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub(" ", name)) if w}


def protected_by_default(intents: Iterable[str]) -> frozenset[str]:
    """The intents among `intents` that the default policy protects (see module docstring)."""
    out = set()
    for name in intents:
        words = intent_words(name)
        if words & PROTECTED_WORDS or any(pair <= words for pair in PROTECTED_PAIRS):
            out.add(name)
    return frozenset(out)
