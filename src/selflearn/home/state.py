"""What a simulated home holds: rooms, devices with state, alarms, timers and household lists, and
the outside world (weather, teams, restaurants, media catalog) it can query.

This is the data every other part of the home reads or writes; it knows nothing of names or
intents. Lookups by name live in `search`, choosing an intent's devices in `targets`, what each
intent does in `handlers`, and `home.Home` puts them together.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Self

from selflearn.home.catalog import MediaCatalog, default_catalog
from selflearn.home.devices import Device, Room, fmt_value
from selflearn.home.domain import simulated_domain
from selflearn.home.weather import WeatherService
from selflearn.home.world import World
from selflearn.logs.records import DeviceState

__all__ = ["HomeState"]


class HomeState:
    """A household's home and world. Mutable; copy it (cheap) before trying a command.

    `now` is the local wall clock, set by the caller (naive or aware, used as-is).
    """

    def __init__(
        self,
        household_id: str,
        rooms: Iterable[Room],
        devices: Iterable[Device],
        *,
        now: datetime | None = None,
        location: str = "seattle_wa",
        favorite_team: str | None = None,
        catalog: MediaCatalog | None = None,
        weather: WeatherService | None = None,
        world: World | None = None,
    ) -> None:
        self.household_id = household_id
        self.rooms: dict[str, Room] = {r.room_id: r for r in rooms}
        self.devices: dict[str, Device] = {d.entity_id: d for d in devices}
        for d in self.devices.values():
            if d.room is not None and d.room not in self.rooms:
                raise ValueError(f"device {d.entity_id} is in unknown room {d.room!r}")
        self.catalog = catalog or default_catalog()
        self.weather = weather or _default_weather()
        self.world = world or _default_world()
        self.domain = simulated_domain()
        if self.weather.get(location) is None:
            raise ValueError(f"unknown location {location!r}")
        self.now = now or datetime(2026, 11, 24, 8, 0)
        self.location = location
        self.favorite_team = favorite_team
        self.alarms: set[str] = set()  # "YYYY-MM-DDTHH:MM"
        self.timers: dict[str, tuple[int, datetime]] = {}  # id -> (seconds, ends at)
        self.reminders: list[tuple[str, str]] = []  # (item, "HH:MM" or "")
        self.shopping: list[str] = []
        self.orders: list[str] = []
        self._timer_seq = 0

    # ------------------------------------------------------------------------------ copy, snapshot

    def copy(self) -> Self:
        """Deep copy of everything mutable; names, indexes, catalog and world are shared."""
        h = type(self).__new__(type(self))
        h.household_id = self.household_id
        h.rooms = self.rooms
        h.devices = {k: d.copy() for k, d in self.devices.items()}
        h.catalog, h.weather, h.world, h.domain = self.catalog, self.weather, self.world, self.domain
        h.now, h.location, h.favorite_team = self.now, self.location, self.favorite_team
        h.alarms = set(self.alarms)
        h.timers = dict(self.timers)
        h.reminders = list(self.reminders)
        h.shopping = list(self.shopping)
        h.orders = list(self.orders)
        h._timer_seq = self._timer_seq
        return h

    def snapshot(self) -> list[DeviceState]:
        """Every device's state, stringified, as the log's context records it."""
        return [
            DeviceState(
                entity_id=d.entity_id,
                kind=str(d.kind),
                name=d.name,
                room=d.room,
                state={k: fmt_value(v) for k, v in d.state.items()},
            )
            for d in self.devices.values()
        ]

    # ------------------------------------------------------------------------------------ reading

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def place(self) -> str:
        return self.location

    def devices_of(
        self, kinds: str | Iterable[str] | None = None, room: str | None = None, cap: str | None = None
    ) -> list[Device]:
        """Devices of the given kind(s), in a room, with a capability (each filter optional)."""
        ks = {kinds} if isinstance(kinds, str) else (set(kinds) if kinds is not None else None)
        return [
            d
            for d in self.devices.values()
            if (ks is None or d.kind in ks)
            and (room is None or d.room == room)
            and (cap is None or d.has(cap))
        ]


_WEATHER: WeatherService | None = None
_WORLD: World | None = None


def _default_weather() -> WeatherService:
    global _WEATHER
    if _WEATHER is None:
        _WEATHER = WeatherService()
    return _WEATHER


def _default_world() -> World:
    global _WORLD
    if _WORLD is None:
        _WORLD = World()
    return _WORLD
