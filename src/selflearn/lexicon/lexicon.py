"""One domain's searchable vocabularies, built lazily and shared by every turn and learner that
reads the same `Domain` object."""

from __future__ import annotations

from functools import cached_property, lru_cache

from selflearn.contracts.domain import Domain, Team
from selflearn.lexicon.catalog import MediaCatalog
from selflearn.lexicon.indexes import color_index, cuisine_index, media_type_index, team_index
from selflearn.text.matching import NameIndex

__all__ = ["Lexicon", "lexicon_for"]


class Lexicon:
    """Indexes over `domain`'s vocabularies (see `selflearn.lexicon.indexes`)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    @cached_property
    def colors(self) -> NameIndex:
        return color_index(self.domain.colors)

    @cached_property
    def media_types(self) -> NameIndex:
        return media_type_index(self.domain.media_type_words)

    @cached_property
    def catalog(self) -> MediaCatalog:
        return MediaCatalog(self.domain.media, self.domain.genre_words)

    @cached_property
    def teams(self) -> NameIndex:
        return team_index(self.domain.teams)

    @cached_property
    def teams_by_id(self) -> dict[str, Team]:
        return {t.team_id: t for t in self.domain.teams}

    @cached_property
    def cuisines(self) -> NameIndex:
        return cuisine_index(self.domain.cuisines, self.domain.cuisine_words)

    @cached_property
    def generic_names_longest_first(self) -> list[tuple[str, str]]:
        """(generic device word, device type), longest word first: "ceiling light" before "light"."""
        return sorted(self.domain.generic_device_names.items(), key=lambda kv: -len(kv[0]))


@lru_cache(maxsize=16)
def lexicon_for(domain: Domain) -> Lexicon:
    """The shared `Lexicon` of a domain object (domains hash by identity)."""
    return Lexicon(domain)
