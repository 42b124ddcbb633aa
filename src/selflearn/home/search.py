"""Finding things in a home by what people call them, and the vocabulary a home offers.

The assistant resolves spoken names through these lookups (devices, rooms, media, places,
teams), structurally, via `selflearn.assistant.home_api.HomeApi`; the simulator draws what a
person might say from `slot_values`. Both read the same household, so they agree on its names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Self

from selflearn.home.catalog import GENRE_WORDS, MEDIA_TYPE_WORDS, MediaType
from selflearn.home.devices import COLORS, Cap, Device, Room
from selflearn.home.intents import INTENT_KINDS, SlotType
from selflearn.home.state import HomeState
from selflearn.home.world import CUISINE_WORDS, CUISINES, GROCERIES, REMINDER_TEXTS
from selflearn.text.items import canonical_item
from selflearn.text.matching import Match, NameIndex, norm_name
from selflearn.text.numbers import render_date, render_duration, render_number, render_time

__all__ = ["HomeSearch"]


class _Index:
    """Name indexes of one household; immutable, shared by all copies of its home."""

    def __init__(self, rooms: Iterable[Room], devices: Iterable[Device]) -> None:
        devs = list(devices)
        self.devices = NameIndex((s, d.entity_id) for d in devs for s in d.surfaces)
        self.rooms = NameIndex((s, r.room_id) for r in rooms for s in (*r.surfaces, r.room_id))
        self.kind_of = {d.entity_id: d.kind for d in devs}


class HomeSearch(HomeState):
    """A home's state with its lookups by name and its vocabulary (see module docstring)."""

    _index: _Index | None = None  # built on first lookup, then shared by copies

    def copy(self) -> Self:
        h = super().copy()
        h._index = self._index_()
        return h

    # ------------------------------------------------------------------------------------ lookups

    def _index_(self) -> _Index:
        if self._index is None:
            self._index = _Index(self.rooms.values(), self.devices.values())
        return self._index

    def exact_devices(self, name: str) -> list[str]:
        """Entity ids whose name or alias is exactly `name` (after normalisation)."""
        return self._index_().devices.exact(name)

    def find_devices(self, name: str, kinds: Iterable[str] | None = None, limit: int = 5) -> list[Match]:
        """Devices whose name or alias matches `name`, best first; `kinds` restricts the result."""
        idx = self._index_()
        ms = idx.devices.match(name, limit=limit * 2 if kinds else limit)
        if kinds is not None:
            ks = set(kinds)
            ms = [m for m in ms if idx.kind_of[m.key] in ks]
        return ms[:limit]

    def find_rooms(self, name: str, limit: int = 3) -> list[Match]:
        return self._index_().rooms.match(name, limit=limit)

    def find_media(self, title: str, media_type: str | None = None, limit: int = 5) -> list[Match]:
        return self.catalog.find(title, media_type, limit)

    def find_places(self, name: str, limit: int = 5) -> list[Match]:
        """Places by name; an ambiguous name prefers the household's own state."""
        here = self.weather.get(self.location)
        return self.weather.find(name, prefer_region=here.region if here else None, limit=limit)

    def find_teams(self, name: str, limit: int = 5) -> list[Match]:
        """Teams by name; an ambiguous nickname prefers the favourite team, then home-city teams."""
        here = self.weather.get(self.location)
        city = here.name if here else ""
        prefer = tuple(
            ([self.favorite_team] if self.favorite_team else [])
            + [t.team_id for t in self.world.teams if t.city == city]
        )
        return self.world.find_team(name, prefer=prefer, limit=limit)

    @property
    def city(self) -> str:
        """The name of the city the household is in ("" when the location is unknown)."""
        here = self.weather.get(self.location)
        return here.name if here else ""

    def room_name(self, room_id: str | None) -> str:
        r = self.rooms.get(room_id or "")
        return r.name if r else "house"

    def has_screen(self, entity_id: str) -> bool:
        d = self.devices.get(entity_id)
        return d is not None and d.has(Cap.SCREEN)

    # -------------------------------------------------------------------------------- slot values

    def slot_values(self, slot_type: SlotType | str, intent: str | None = None) -> list[tuple[str, str]]:
        """(what a person would say, canonical resolved value) for a slot type in this home.

        With `intent`, values are limited to ones that make sense for it (brightness 0-100,
        devices of the intent's kinds, items on the list for shopping_remove...). Ambiguous
        surfaces appear once per meaning ("wilkerson" -> wilkerson_ca and wilkerson_wa), so a
        simulated user can mean one and say the ambiguous name. Lists are ordered most common
        first (the household's own city and teams, popular titles, usual alarm times), so a
        caller may read the order as a popularity ranking.
        """
        st = SlotType(slot_type)
        out: list[tuple[str, str]] = []
        if st is SlotType.DEVICE:
            kinds = INTENT_KINDS.get(intent or "")
            cap = Cap.COLOR if intent == "lights_set_color" else None
            for d in self.devices_of(kinds, cap=cap):
                out += [(s, d.entity_id) for s in d.surfaces]
        elif st is SlotType.ROOM:
            kinds = INTENT_KINDS.get(intent or "")
            rooms = {d.room for d in self.devices_of(kinds)} if kinds is not None else set(self.rooms)
            for r in self.rooms.values():
                if r.room_id in rooms:
                    out += [(s, r.room_id) for s in r.surfaces]
        elif st is SlotType.NUMBER:
            out = [(render_number(n), str(n)) for n in _NUMBER_VALUES.get(intent or "", range(0, 101))]
        elif st is SlotType.COLOR:
            out = [
                (c, c)
                for c in sorted(COLORS, key=lambda c: (c not in _COMMON_COLORS, _rank(_COMMON_COLORS, c)))
            ]
        elif st is SlotType.TIME:
            if intent == "alarm_cancel":
                times = sorted({a[-5:] for a in self.alarms})
            else:
                quarter_hours = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 15, 30, 45)]
                times = list(dict.fromkeys([*_COMMON_TIMES, *quarter_hours]))
            words = [(render_time(t, "words"), t) for t in times]
            spoken = [(render_time(t, "colloquial"), t) for t in times]
            out = words + [p for p in spoken if p not in words]
        elif st is SlotType.DURATION:
            words = [(render_duration(secs, "words"), str(secs)) for secs in _DURATIONS]
            spoken = [(render_duration(secs, "colloquial"), str(secs)) for secs in _DURATIONS]
            out = words + [p for p in spoken if p not in words]
        elif st is SlotType.DATE:
            for k in range(7):
                day = self.today + timedelta(days=k)
                out.append((render_date(day, self.today), day.isoformat()))
        elif st is SlotType.CITY:
            here = self.weather.get(self.location)
            region = here.region if here else None
            places = sorted(
                self.weather.places,
                key=lambda p: (p.place_id != self.location, p.region != region, -p.population, p.place_id),
            )
            out = [(s.lower(), p.place_id) for p in places for s in p.surfaces]
        elif st is SlotType.MEDIA_TITLE:
            ranked = sorted(self.catalog.items, key=lambda it: (-it.popularity, it.media_id))
            for it in ranked:
                out += [(s.lower(), it.media_id) for s in sorted((it.title, *it.aliases), key=len)]
        elif st is SlotType.MEDIA_TYPE:
            out = [(w, str(t)) for w, t in MEDIA_TYPE_WORDS.items()]
        elif st is SlotType.GENRE:
            genres = sorted(self.catalog.genres, key=lambda g: -len(self.catalog.songs(genre=g)))
            out = [(g, g) for g in genres] + [(w, g) for w, g in GENRE_WORDS.items()]
        elif st is SlotType.ARTIST:
            pop: dict[str, int] = {}
            for it in self.catalog.items:
                if it.artist and it.type in (MediaType.SONG, MediaType.ALBUM):
                    aid = norm_name(it.artist)
                    pop[aid] = max(pop.get(aid, 0), it.popularity)
            artists = sorted(self.catalog.artists.items(), key=lambda kv: (-pop.get(kv[0], 0), kv[0]))
            out = [(name.lower(), aid) for aid, name in artists]
        elif st is SlotType.ITEM:
            if intent == "shopping_remove":
                items: Iterable[str] = self.shopping
            elif intent == "reminder_create":
                items = REMINDER_TEXTS
            elif intent in ("shopping_add", "purchase"):
                items = GROCERIES
            else:
                items = (*GROCERIES, *REMINDER_TEXTS)
            out = [(i, canonical_item(i)) for i in items]
        elif st is SlotType.TEAM:
            here = self.weather.get(self.location)
            city = here.name if here else ""
            teams = sorted(
                self.world.teams,
                key=lambda t: (t.team_id != self.favorite_team, t.city != city, -t.popularity, t.team_id),
            )
            out = [(s.lower(), t.team_id) for t in teams for s in (t.nickname, t.name)]
        elif st is SlotType.CUISINE:
            out = [(c, c) for c in CUISINES] + [(w, c) for w, c in CUISINE_WORDS.items()]  # common first
        return out


_NUMBER_VALUES: dict[str, range] = {
    "lights_set_brightness": range(0, 101, 5),
    "thermostat_set": range(60, 81),
    "oven_preheat": range(200, 501, 25),
    "volume_set": range(0, 11),
}
# Values people use most come first: slot_values lists are read as popularity rankings.
_DURATIONS = (300, 600, 60, 900, 1800, 1200, 180, 120, 3600, 2700, 30, 90, 5400, 7200, 1500, 240, 420, 480)
_COMMON_TIMES = (
    "07:00", "06:30", "07:30", "06:00", "08:00", "06:45", "05:30", "09:00", "18:00", "17:00",
    "12:00", "20:00", "06:15", "07:15", "05:00", "08:30", "19:00", "21:00", "10:00", "15:00",
)  # fmt: skip
_COMMON_COLORS = ("red", "blue", "green", "white", "warm white", "purple", "yellow", "orange", "pink")


def _rank(seq: tuple[str, ...], item: str) -> int:
    return seq.index(item) if item in seq else len(seq)
