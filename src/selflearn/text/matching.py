"""Scored name matching: exact, fuzzy (rapidfuzz) and phonetic (metaphone).

Every lookup the resolver does (device names, rooms, media titles, places, artists, teams) goes
through a `NameIndex`, so they all score alike: 1.0 for an exact name or alias, less for a fuzzy
or sound-alike match. Indexes are built once per name list and are immutable, so homes copied per
turn share them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from rapidfuzz import fuzz, process

_NON_WORD = re.compile(r"[^a-z0-9\s]")
_SPACE = re.compile(r"\s+")
_LEADING = ("the ", "my ", "our ", "a ", "an ")


@lru_cache(maxsize=65536)
def norm_name(text: str) -> str:
    """Canonical form for name matching: ascii, lower case, no apostrophes or punctuation, no
    leading article ("The Beatles" ~ "beatles", "Beyoncé" ~ "beyonce", "AC/DC" ~ "ac dc")."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    t = t.replace("'", "").replace("&", " and ")
    t = _SPACE.sub(" ", _NON_WORD.sub(" ", t)).strip()
    changed = True
    while changed:
        changed = False
        for art in _LEADING:
            if t.startswith(art) and len(t) > len(art):
                t = t[len(art) :]
                changed = True
    return t


@lru_cache(maxsize=65536)
def phonetic(text: str) -> str:
    """Metaphone code of a normalised name, words kept apart ("harry potter" -> "HR PTR")."""
    return " ".join(jellyfish.metaphone(w) for w in text.split())


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    score: float
    surface: str  # the name or alias that matched best


class NameIndex:
    """Match a spoken name against (surface, key) pairs. Several surfaces may share a key and a
    surface may map to several keys (an ambiguous name); each key gets its best surface's score.
    """

    # fuzzy subset matches ("kitchen" in "kitchen light") and sound-alikes score below exact ones
    SUBSET_WEIGHT = 0.9
    PHONETIC_WEIGHT = 0.92

    def __init__(self, entries: Iterable[tuple[str, str]]) -> None:
        self._exact: dict[str, list[str]] = {}
        surfaces: list[str] = []
        keys: list[str] = []
        for surface, key in entries:
            n = norm_name(surface)
            if not n:
                continue
            lst = self._exact.setdefault(n, [])
            if key not in lst:
                lst.append(key)
                surfaces.append(n)
                keys.append(key)
        self._surfaces = surfaces
        self._keys = keys
        self._phon = [phonetic(s) for s in surfaces]

    def __len__(self) -> int:
        return len(self._surfaces)

    def keys(self) -> list[str]:
        return list(dict.fromkeys(self._keys))

    def exact(self, query: str) -> list[str]:
        return list(self._exact.get(norm_name(query), ()))

    def match(self, query: str, limit: int = 5, cutoff: float = 0.6) -> list[Match]:
        """Best keys for `query`, highest score first (ties in index order). Exact matches score
        1.0 and, when there are any, nothing else is returned."""
        q = norm_name(query)
        if not q or not self._surfaces:
            return []
        hit = self._exact.get(q)
        if hit:
            return [Match(k, 1.0, q) for k in hit]
        best: dict[str, Match] = {}

        def offer(idx: int, score: float) -> None:
            key = self._keys[idx]
            cur = best.get(key)
            if cur is None or score > cur.score:
                best[key] = Match(key, score, self._surfaces[idx])

        cut = cutoff * 100
        n = limit * 2
        for _, s, idx in process.extract(q, self._surfaces, scorer=fuzz.ratio, limit=n, score_cutoff=cut):
            offer(idx, min(s / 100, 0.99))
        for _, s, idx in process.extract(
            q, self._surfaces, scorer=fuzz.token_set_ratio, limit=n, score_cutoff=cut
        ):
            offer(idx, min(s / 100, 0.99) * self.SUBSET_WEIGHT)
        pq = phonetic(q)
        if len(pq.replace(" ", "")) >= 3:  # shorter codes match almost anything
            for _, s, idx in process.extract(pq, self._phon, scorer=fuzz.ratio, limit=n, score_cutoff=cut):
                offer(idx, min(s / 100, 0.99) * self.PHONETIC_WEIGHT)
        ranked = sorted(best.values(), key=lambda m: -m.score)
        return [m for m in ranked if m.score >= cutoff][:limit]
