"""Canonical form of a request as the NLU sees it: the key of rewrite tables and Markov states."""

from __future__ import annotations

import re

_PUNCT = re.compile(r"[^\w\s'%:]")
_SPACE = re.compile(r"\s+")


def normalize_request(text: str) -> str:
    """Lower-case, drop punctuation (keeping apostrophes, % and clock colons), collapse spaces.

    Deliberately does no spelling correction or stemming: two requests that differ in a word the
    recogniser got wrong must stay two states, or the miner could never learn to fix one.
    """
    t = _PUNCT.sub(" ", text.lower())
    return _SPACE.sub(" ", t).strip()
