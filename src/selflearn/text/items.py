"""Free-text slot values (shopping items, reminder texts) in canonical form, so that "some milk"
said today and "milk" said yesterday are the same item to the resolver, the home and the logs."""

from __future__ import annotations

import re

__all__ = ["canonical_item"]

_ITEM_FILLERS = frozenset({"to", "some", "a", "an", "the", "more", "please", "me"})


def canonical_item(text: str) -> str:
    """Canonical free-text item: lower case, no punctuation, no leading filler ('some milk' ->
    'milk', 'to call mom' -> 'call mom'). Applied by the resolver and again by `apply`."""
    words = re.sub(r"[^\w\s']", " ", text.lower()).split()
    while len(words) > 1 and words[0] in _ITEM_FILLERS:
        words = words[1:]
    return " ".join(words)
