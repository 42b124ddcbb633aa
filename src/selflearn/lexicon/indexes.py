"""Name indexes over one vocabulary each. The simulated world builds its indexes with these too, so
the assistant and the world it acts on read a name the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from selflearn.contracts.domain import Team
from selflearn.text.matching import NameIndex

__all__ = ["color_index", "cuisine_index", "media_type_index", "team_index"]


def team_index(teams: Iterable[Team]) -> NameIndex:
    """Full name, nickname and aliases of every team -> team id."""
    return NameIndex((s, t.team_id) for t in teams for s in t.surfaces)


def cuisine_index(cuisines: Iterable[str], words: Mapping[str, str]) -> NameIndex:
    """Cuisine names, the words for them ("sushi" -> japanese) and "<cuisine> food" -> cuisine."""
    cuisines = tuple(cuisines)
    entries = [(c, c) for c in cuisines] + [(w, c) for w, c in words.items()]
    entries += [(f"{c} food", c) for c in cuisines]
    return NameIndex(entries)


def color_index(colors: Iterable[str]) -> NameIndex:
    return NameIndex((c, c) for c in colors)


def media_type_index(words: Mapping[str, str]) -> NameIndex:
    """What people say for a media type ("film") -> the type ("movie")."""
    return NameIndex((w, str(t)) for w, t in words.items())
