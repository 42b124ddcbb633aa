"""The media catalog as the runtime searches it: titles (with aliases), artists and genres of a
domain's media items.

Several titles exist as more than one type ("Harry Potter" is a movie and an audiobook): a request
that names only the title is ambiguous, and `find` puts the most popular first, deterministically,
as the catalog's default reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

from selflearn.contracts.domain import MediaItem
from selflearn.text.matching import Match, NameIndex, norm_name

__all__ = ["MediaCatalog"]


class MediaCatalog:
    """Immutable media catalog with title, artist and genre lookups, built from a domain's media
    items and genre words. One instance is shared by every home of a domain (`Lexicon.catalog`)."""

    def __init__(self, items: tuple[MediaItem, ...], genre_words: Mapping[str, str] | None = None) -> None:
        self.items = items
        self.genre_words = dict(genre_words or {})
        self.by_id: dict[str, MediaItem] = {}
        for it in items:
            if it.media_id in self.by_id:
                raise ValueError(f"duplicate media id {it.media_id}")
            self.by_id[it.media_id] = it

    def get(self, media_id: str) -> MediaItem | None:
        return self.by_id.get(media_id)

    @cached_property
    def titles(self) -> NameIndex:
        return NameIndex((s, it.media_id) for it in self.items for s in (it.title, *it.aliases))

    @cached_property
    def artist_index(self) -> NameIndex:
        return NameIndex((a, norm_name(a)) for a in self.artists.values())

    @cached_property
    def artists(self) -> dict[str, str]:
        """Canonical artist id (normalised name) -> display name, for music artists only."""
        out: dict[str, str] = {}
        for it in self.items:
            if it.artist and it.type in ("song", "album") and it.artist != "Various Artists":
                out.setdefault(norm_name(it.artist), it.artist)
        return out

    @cached_property
    def genres(self) -> tuple[str, ...]:
        return tuple(sorted({it.genre for it in self.items if it.type == "song" and it.genre}))

    @cached_property
    def genre_index(self) -> NameIndex:
        return NameIndex([(g, g) for g in self.genres] + [(w, g) for w, g in self.genre_words.items()])

    def songs(self, *, artist: str | None = None, genre: str | None = None) -> list[MediaItem]:
        """Songs by canonical artist id and/or genre, most popular first (ties by id)."""
        out = [
            it
            for it in self.items
            if it.type == "song"
            and (artist is None or (it.artist is not None and norm_name(it.artist) == artist))
            and (genre is None or it.genre == genre)
        ]
        return sorted(out, key=lambda it: (-it.popularity, it.media_id))

    def find(self, title: str, media_type: str | None = None, limit: int = 5) -> list[Match]:
        """Items matching a spoken title, best first; equal scores ordered by popularity so the
        first is the catalog's default reading of an ambiguous title."""
        matches = self.titles.match(title, limit=limit * 3)
        if media_type:
            matches = [m for m in matches if self.by_id[m.key].type == media_type]
        matches.sort(key=lambda m: (-round(m.score, 3), -self.by_id[m.key].popularity, m.key))
        return matches[:limit]
