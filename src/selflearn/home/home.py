"""The simulated home: rooms, devices with state, household lists, and the outside world it can
query. `Home.apply(Command)` gives every intent of `intents.INTENTS` its meaning.

How success is judged: the simulator applies the user's *gold* command to a copy of the home and
the assistant's command to another copy, and compares the two `Outcome`s with `same_effect` (ok,
state changes, answer key). So `apply` must be deterministic, and every write is recorded as a
change even when the value does not move: turning on the wrong lamp that was already on is still a
different effect from turning on the right one.

`Command.args` hold resolved canonical values: device -> entity id, room -> room id, numbers as
decimal strings, time "HH:MM", duration in seconds, date ISO, city -> place id, media_title ->
media id, artist -> artist id, other slots canonical lower-case strings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta

from selflearn.contracts.actions import Change, Command, Outcome
from selflearn.home.catalog import (
    GENRE_WORDS,
    MEDIA_TYPE_WORDS,
    MediaCatalog,
    MediaItem,
    MediaType,
    default_catalog,
)
from selflearn.home.devices import COLORS, Cap, Device, Kind, Room, StateValue, fmt_value
from selflearn.home.domain import simulated_domain
from selflearn.home.intents import BY_NAME, INTENT_KINDS, SlotType
from selflearn.home.weather import WeatherService
from selflearn.home.world import CUISINE_WORDS, CUISINES, GROCERIES, REMINDER_TEXTS, World
from selflearn.logs.records import DeviceState, StageError
from selflearn.text.items import canonical_item
from selflearn.text.matching import Match, NameIndex, norm_name
from selflearn.text.numbers import render_date, render_duration, render_number, render_time

__all__ = ["Home"]


_L, _T, _O = Kind.LIGHT, Kind.THERMOSTAT, Kind.OVEN
_PLAYERS = frozenset({Kind.SPEAKER, Kind.TV})

BRIGHTNESS_STEP = 20
THERMOSTAT_STEP = 2
THERMOSTAT_RANGE = (45, 90)
OVEN_RANGE = (150, 550)
VOLUME_RANGE = (0, 10)
FORECAST_DAYS = 10


def _fail(code: StageError, message: str) -> Outcome:
    return Outcome(ok=False, error=str(code), message=message)


def _say_time(hhmm: str) -> str:
    h, m = int(hhmm[:2]), int(hhmm[3:])
    return f"{12 if h % 12 == 0 else h % 12}:{m:02d} {'AM' if h < 12 else 'PM'}"


def _int_arg(args: dict[str, str], name: str) -> int | None:
    try:
        return int(args[name])
    except (KeyError, ValueError):
        return None


class _Index:
    """Name indexes of one household; immutable, shared by all copies of its home."""

    def __init__(self, rooms: Iterable[Room], devices: Iterable[Device]) -> None:
        devs = list(devices)
        self.devices = NameIndex((s, d.entity_id) for d in devs for s in d.surfaces)
        self.rooms = NameIndex((s, r.room_id) for r in rooms for s in (*r.surfaces, r.room_id))
        self.kind_of = {d.entity_id: d.kind for d in devs}


class Home:
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
        self._index: _Index | None = None

    # ------------------------------------------------------------------------------ copy, snapshot

    def copy(self) -> Home:
        """Deep copy of everything mutable; names, indexes, catalog and world are shared."""
        h = Home.__new__(Home)
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
        h._index = self._index_()
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

    # ------------------------------------------------------------------------------------ lookups

    def _index_(self) -> _Index:
        if self._index is None:
            self._index = _Index(self.rooms.values(), self.devices.values())
        return self._index

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

    # --------------------------------------------------------------------- what the home supports

    def supports(self, intent: str) -> bool:
        """Whether this home has what `intent` needs (a garage door for garage_open, ...).
        Queries about the world are always supported."""
        kinds = INTENT_KINDS.get(intent)
        if intent not in BY_NAME:
            return False
        if kinds is None:
            return True
        if intent == "lights_set_color":
            return bool(self.devices_of(_L, cap=Cap.COLOR))
        return bool(self.devices_of(kinds))

    def complete_args(self, intent: str, args: dict[str, str], room: str | None) -> dict[str, str]:
        """Fill the context default: a device intent naming neither device nor room acts in `room`
        (where the user is) when the home has a matching device there. Both the resolver and the
        simulator's gold commands use this, so they agree on what "turn on the lights" means."""
        out = dict(args)
        spec = BY_NAME.get(intent)
        if (
            spec is None
            or room is None
            or room not in self.rooms
            or spec.slot("room") is None
            or out.get("room")
            or out.get("device")
        ):
            return out
        sel = self._select(intent, {**out, "room": room})
        if isinstance(sel, list) and any(d.room == room for d in sel):
            out["room"] = room
        return out

    # -------------------------------------------------------------------------------------- apply

    def apply(self, cmd: Command) -> Outcome:
        """Carry out a command: actions change state, queries read it. Never raises for bad input;
        bad or missing arguments give a failed Outcome with a StageError code."""
        spec = BY_NAME.get(cmd.intent)
        handler = _HANDLERS.get(cmd.intent)
        if spec is None or handler is None:
            return _fail(StageError.ACTION_UNSUPPORTED, "Sorry, I can't do that.")
        args = {k: v for k, v in cmd.args.items() if v != ""}
        for s in spec.slots:
            if s.required and s.name not in args:
                what = s.name.replace("_", " ")
                return _fail(StageError.ACTION_MISSING_SLOT, f"Sorry, I need to know the {what}.")
        return handler(self, args)

    # ---------------------------------------------------------------------------- target choosing

    def _select(self, intent: str, args: dict[str, str]) -> list[Device] | Outcome:
        """The devices a device intent acts on, or a failed Outcome saying why there are none."""
        kinds = INTENT_KINDS.get(intent)
        if kinds is None:
            return []
        if intent == "temperature_query" and not args.get("device"):
            kinds = frozenset({_T})  # "how warm is it in the bedroom" reads the thermostat
        if intent in _MEDIA_INTENTS:
            return self._select_player(intent, args)
        cap = Cap.COLOR if intent == "lights_set_color" else None
        multi = intent.startswith("lights_") or intent.startswith("blinds_")
        dev_id = args.get("device")
        if dev_id:
            d = self.devices.get(dev_id)
            if d is None:
                return _fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that device.")
            if d.kind not in kinds or (cap and not d.has(cap)):
                return _fail(StageError.ACTION_UNSUPPORTED, f"Sorry, the {d.name} can't do that.")
            return [d]
        pool = self.devices_of(kinds, cap=cap)
        what = _KIND_WORDS.get(next(iter(kinds)) if len(kinds) == 1 else None, "device")
        room = args.get("room")
        if room:
            if room not in self.rooms:
                return _fail(StageError.ACTION_FAILED, "Sorry, I don't know that room.")
            here = [d for d in pool if d.room == room]
            if here:
                return here if multi else here[:1]
            # one thermostat heats the whole house, one oven cooks for every room
            if not multi and len(pool) == 1 and intent != "tv_on" and intent != "tv_off":
                return pool
            where = self.room_name(room)
            return _fail(StageError.ACTION_UNSUPPORTED, f"Sorry, there's no {what} in the {where}.")
        if not pool:
            return _fail(StageError.ACTION_UNSUPPORTED, f"Sorry, there's no {what} here.")
        if len(pool) == 1 or intent == "door_lock":  # "lock the doors" locks them all
            return pool
        return _fail(StageError.ACTION_MISSING_SLOT, f"Sorry, which {what} do you mean?")

    def _select_player(self, intent: str, args: dict[str, str]) -> list[Device] | Outcome:
        item: MediaItem | None = None
        cap = Cap.MEDIA
        if intent == "play_media":
            item = self.catalog.get(args.get("media_title", ""))
            if item is not None and item.needs_screen:
                cap = Cap.SCREEN
        dev_id = args.get("device")
        if dev_id:
            d = self.devices.get(dev_id)
            if d is None:
                return _fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that device.")
            if not d.has(cap):
                return _fail(StageError.ACTION_UNSUPPORTED, f"Sorry, the {d.name} can't play that.")
            return [d]
        pool = self.devices_of(_PLAYERS, cap=cap)
        if intent == "media_pause":
            pool = [d for d in pool if d.state["playing"] is not None and not d.state["paused"]]
        elif intent == "media_resume":
            pool = [d for d in pool if d.state["playing"] is not None and d.state["paused"]]
        room = args.get("room")
        if room:
            if room not in self.rooms:
                return _fail(StageError.ACTION_FAILED, "Sorry, I don't know that room.")
            pool = [d for d in pool if d.room == room]
        if not pool:
            if intent in ("media_pause", "media_resume"):
                return _fail(StageError.ACTION_FAILED, "Sorry, nothing is playing.")
            where = f" in the {self.room_name(room)}" if room else ""
            return _fail(StageError.ACTION_UNSUPPORTED, f"Sorry, there's nothing to play that on{where}.")

        def rank(d: Device) -> tuple[int, int]:
            active = d.state["playing"] is not None and not d.state["paused"]
            return (0 if active else 1, 0 if d.kind is Kind.SPEAKER else 1)

        if intent in ("media_pause", "media_resume") and not room:
            return pool  # pause everything that plays
        if room:
            return [min(pool, key=rank)]
        if len(pool) == 1:
            return pool
        if intent in ("volume_up", "volume_down", "volume_set"):
            active = [d for d in pool if d.state["playing"] is not None and not d.state["paused"]]
            if len(active) == 1:
                return active
        return _fail(StageError.ACTION_MISSING_SLOT, "Sorry, on which device?")

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

    # ---------------------------------------------------------------------------------- handlers

    def _write(self, d: Device, changes: list[Change], **values: StateValue) -> None:
        for k, v in values.items():
            d.state[k] = v
            changes.append((d.entity_id, k, fmt_value(v)))

    def _act(
        self,
        intent: str,
        args: dict[str, str],
        fn: Callable[[Device, list[Change]], None],
        say: Callable[[list[Device]], str],
    ) -> Outcome:
        sel = self._select(intent, args)
        if isinstance(sel, Outcome):
            return sel
        changes: list[Change] = []
        for d in sel:
            fn(d, changes)
        return Outcome(True, None, tuple(sorted(changes)), None, say(sel), tuple(d.entity_id for d in sel))

    def _names(self, devs: list[Device], args: dict[str, str]) -> str:
        if len(devs) == 1:
            return f"the {devs[0].name}"
        room = args.get("room")
        what = _PLURAL_WORDS.get(devs[0].kind, "devices") if devs else "devices"
        return f"the {what} in the {self.room_name(room)}" if room else f"the {what}"

    def _lights(self, intent: str, args: dict[str, str]) -> Outcome:
        if intent == "lights_on":

            def fn(d: Device, ch: list[Change]) -> None:
                self._write(d, ch, on=True)
                if d.state["brightness"] == 0:
                    self._write(d, ch, brightness=100)

            return self._act(intent, args, fn, lambda ds: f"OK, turning on {self._names(ds, args)}.")
        if intent == "lights_off":
            return self._act(
                intent,
                args,
                lambda d, ch: self._write(d, ch, on=False),
                lambda ds: f"OK, turning off {self._names(ds, args)}.",
            )
        if intent in ("lights_dim", "lights_brighten"):
            up = intent == "lights_brighten"

            def step(d: Device, ch: list[Change]) -> None:
                b = int(d.state["brightness"] or 0)
                if up:
                    self._write(d, ch, brightness=min(100, b + BRIGHTNESS_STEP), on=True)
                else:
                    nb = max(0, b - BRIGHTNESS_STEP)
                    self._write(d, ch, brightness=nb)
                    if nb == 0:
                        self._write(d, ch, on=False)

            verb = "Brightening" if up else "Dimming"
            return self._act(intent, args, step, lambda ds: f"{verb} {self._names(ds, args)}.")
        if intent == "lights_set_brightness":
            n = _int_arg(args, "brightness")
            if n is None or not 0 <= n <= 100:
                return _fail(StageError.ACTION_FAILED, "Sorry, brightness goes from 0 to 100 percent.")
            return self._act(
                intent,
                args,
                lambda d, ch: self._write(d, ch, brightness=n, on=n > 0),
                lambda ds: f"Setting {self._names(ds, args)} to {n} percent.",
            )
        color = args["color"]
        if color not in COLORS:
            return _fail(StageError.ACTION_FAILED, f"Sorry, I can't make the lights {color}.")
        return self._act(
            intent,
            args,
            lambda d, ch: self._write(d, ch, color=color, on=True),
            lambda ds: f"Making {self._names(ds, args)} {color}.",
        )

    def _thermostat(self, intent: str, args: dict[str, str]) -> Outcome:
        lo, hi = THERMOSTAT_RANGE
        if intent == "thermostat_set":
            n = _int_arg(args, "temperature")
            if n is None or not lo <= n <= hi:
                return _fail(StageError.ACTION_FAILED, f"Sorry, I can set {lo} to {hi} degrees.")
            target = n
        else:
            target = 0  # computed per device below
        delta = {"thermostat_raise": THERMOSTAT_STEP, "thermostat_lower": -THERMOSTAT_STEP}.get(intent, 0)
        result: list[int] = []

        def fn(d: Device, ch: list[Change]) -> None:
            cur = int(d.state["target"] or 0)
            t = target if intent == "thermostat_set" else min(hi, max(lo, cur + delta))
            result.append(t)
            self._write(d, ch, target=t)

        return self._act(intent, args, fn, lambda ds: f"Setting the {ds[0].name} to {result[0]} degrees.")

    def _temperature_query(self, args: dict[str, str]) -> Outcome:
        sel = self._select("temperature_query", args)
        if isinstance(sel, Outcome):
            return sel
        d = sel[0]
        if d.kind is _O:
            value = str(d.state["temperature"]) if d.state["on"] else "off"
            msg = f"The oven is at {value} degrees." if d.state["on"] else "The oven is off."
        else:
            value = str(d.state["current"])
            where = f" in the {self.room_name(args['room'])}" if args.get("room") else ""
            msg = f"It's {value} degrees{where}."
        return Outcome(True, None, (), f"temp:{d.entity_id}:{value}", msg, (d.entity_id,))

    def _simple(self, intent: str, args: dict[str, str]) -> Outcome:
        """Single-field actions: oven off, garage, locks, blinds, TV power, coffee, security."""
        field_, value, say = _SIMPLE[intent]
        if intent == "oven_preheat":
            n = _int_arg(args, "temperature")
            lo, hi = OVEN_RANGE
            if n is None or not lo <= n <= hi:
                return _fail(StageError.ACTION_FAILED, f"Sorry, the oven goes from {lo} to {hi} degrees.")
            return self._act(
                intent,
                args,
                lambda d, ch: self._write(d, ch, on=True, temperature=n),
                lambda ds: f"Preheating the oven to {n} degrees.",
            )
        return self._act(
            intent,
            args,
            lambda d, ch: self._write(d, ch, **{field_: value}),
            lambda ds: say.format(what=self._names(ds, args)),
        )

    def _media(self, intent: str, args: dict[str, str]) -> Outcome:
        if intent in ("volume_up", "volume_down", "volume_set"):
            lo, hi = VOLUME_RANGE
            level = _int_arg(args, "level") if intent == "volume_set" else None
            if intent == "volume_set" and (level is None or not lo <= level <= hi):
                return _fail(StageError.ACTION_FAILED, f"Sorry, the volume goes from {lo} to {hi}.")
            step = 1 if intent == "volume_up" else -1
            result: list[int] = []

            def vol(d: Device, ch: list[Change]) -> None:
                v = level if level is not None else min(hi, max(lo, int(d.state["volume"] or 0) + step))
                result.append(v)
                self._write(d, ch, volume=v)

            return self._act(intent, args, vol, lambda ds: f"Volume {result[0]} on {self._names(ds, args)}.")
        if intent in ("media_pause", "media_resume"):
            pause = intent == "media_pause"
            return self._act(
                intent,
                args,
                lambda d, ch: self._write(d, ch, paused=pause),
                lambda ds: "Paused." if pause else "Resuming.",
            )
        if intent == "play_music":
            artist, genre = args.get("artist"), args.get("genre")
            if artist is not None and artist not in self.catalog.artists:
                return _fail(StageError.ACTION_FAILED, "Sorry, I couldn't find music by that artist.")
            if genre is not None and genre not in self.catalog.genres:
                return _fail(StageError.ACTION_FAILED, f"Sorry, I don't have any {genre} music.")
            parts = [f"artist={artist}"] if artist else []
            parts += [f"genre={genre}"] if genre else []
            station = "station:" + (",".join(parts) or "mix")
            shown = {"rnb": "R&B", "hip hop": "hip hop"}.get(genre or "", genre)
            label = self.catalog.artists[artist] if artist else f"{shown} music" if genre else "some music"
            return self._act(
                intent, args, lambda d, ch: self._play(d, ch, station), lambda ds: f"Playing {label}."
            )
        # play_media
        item = self.catalog.get(args["media_title"])
        if item is None:
            return _fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that.")
        mt = args.get("media_type")
        if mt is not None and mt != item.type:
            return _fail(StageError.ACTION_FAILED, f"Sorry, I couldn't find a {mt} called {item.title}.")
        return self._act(
            intent,
            args,
            lambda d, ch: self._play(d, ch, item.media_id),
            lambda ds: f"Playing the {item.type} {item.title} on {self._names(ds, args)}.",
        )

    def _play(self, d: Device, ch: list[Change], media: str) -> None:
        if d.kind is Kind.TV:
            self._write(d, ch, power=True)
        self._write(d, ch, playing=media, paused=False)

    def _alarm(self, intent: str, args: dict[str, str]) -> Outcome:
        now_key = self.now.strftime("%Y-%m-%dT%H:%M")
        self.alarms = {a for a in self.alarms if a > now_key}  # rung alarms are gone
        if intent == "alarm_set":
            t = args["time"]
            try:
                at = time.fromisoformat(t)
                if "date" in args:
                    day = date.fromisoformat(args["date"])
                else:
                    later_today = at > self.now.time().replace(tzinfo=None)
                    day = self.today if later_today else self.today + timedelta(days=1)
            except ValueError:
                return _fail(StageError.ACTION_FAILED, "Sorry, I didn't get the time.")
            key = f"{day.isoformat()}T{at.strftime('%H:%M')}"
            if key <= now_key:
                return _fail(StageError.ACTION_FAILED, "Sorry, that time has already passed.")
            self.alarms.add(key)
            when = render_date(day, self.today)
            return Outcome(
                True, None, (("alarms", key, "set"),), None, f"Alarm set for {_say_time(key[-5:])} {when}."
            )
        t2 = args.get("time")
        hits = sorted(a for a in self.alarms if t2 is None or a.endswith("T" + t2))
        if not hits:
            return _fail(
                StageError.ACTION_FAILED,
                "Sorry, you don't have an alarm" + (f" at {_say_time(t2)}." if t2 else "."),
            )
        hits = hits if t2 else hits[:1]
        for a in hits:
            self.alarms.discard(a)
        changes = tuple(sorted(("alarms", a, "cancelled") for a in hits))
        return Outcome(True, None, changes, None, f"Cancelled your {_say_time(hits[0][-5:])} alarm.")

    def _timer(self, intent: str, args: dict[str, str]) -> Outcome:
        self.timers = {k: v for k, v in self.timers.items() if v[1] > self.now}
        if intent == "timer_set":
            n = _int_arg(args, "duration")
            if n is None or not 1 <= n <= 86400:
                return _fail(StageError.ACTION_FAILED, "Sorry, timers can run from one second to one day.")
            self._timer_seq += 1
            tid = f"timer{self._timer_seq}"
            self.timers[tid] = (n, self.now + timedelta(seconds=n))
            msg = f"Timer set for {render_duration(n)}."
            return Outcome(True, None, (("timers", tid, str(n)),), None, msg)
        if not self.timers:
            return _fail(StageError.ACTION_FAILED, "Sorry, there's no timer running.")
        tid = next(reversed(self.timers))
        del self.timers[tid]
        return Outcome(True, None, (("timers", tid, "cancelled"),), None, "Timer cancelled.")

    def _lists(self, intent: str, args: dict[str, str]) -> Outcome:
        if intent == "shopping_query":
            items = "|".join(self.shopping)
            msg = (
                ("Your shopping list has " + ", ".join(self.shopping) + ".")
                if self.shopping
                else ("Your shopping list is empty.")
            )
            return Outcome(True, None, (), f"shopping:{items}", msg)
        item = canonical_item(args["item"])
        if not item:
            return _fail(StageError.ACTION_MISSING_SLOT, "Sorry, what should I add?")
        if intent == "shopping_add":
            if item not in self.shopping:
                self.shopping.append(item)
            msg = f"Added {item} to your shopping list."
            return Outcome(True, None, (("shopping", item, "added"),), None, msg)
        if intent == "shopping_remove":
            if item not in self.shopping:
                return _fail(StageError.ACTION_FAILED, f"Sorry, {item} isn't on your shopping list.")
            self.shopping.remove(item)
            return Outcome(True, None, (("shopping", item, "removed"),), None, f"Removed {item}.")
        if intent == "purchase":
            self.orders.append(item)
            return Outcome(True, None, (("orders", item, "ordered"),), None, f"OK, I've ordered {item}.")
        # reminder_create
        t = args.get("time", "")
        self.reminders.append((item, t))
        when = f" at {_say_time(t)}" if t else ""
        msg = f"I'll remind you to {item}{when}."
        return Outcome(True, None, (("reminders", item, t or "anytime"),), None, msg)

    def _query(self, intent: str, args: dict[str, str]) -> Outcome:
        if intent == "time_query":
            hhmm = self.now.strftime("%H:%M")
            return Outcome(True, None, (), f"time:{hhmm}", f"It's {_say_time(hhmm)}.")
        if intent == "weather_query":
            place = self.weather.get(args.get("city", self.location))
            if place is None:
                return _fail(StageError.ACTION_FAILED, "Sorry, I don't know that place.")
            try:
                day = date.fromisoformat(args["date"]) if "date" in args else self.today
            except ValueError:
                return _fail(StageError.ACTION_FAILED, "Sorry, I didn't get the day.")
            if not 0 <= (day - self.today).days < FORECAST_DAYS:
                return _fail(StageError.ACTION_FAILED, "Sorry, I only have a ten-day forecast.")
            f = self.weather.forecast(place.place_id, day)
            when = render_date(day, self.today)
            msg = f"In {place.display} {when}: {f.condition}, high of {f.high}, low of {f.low}."
            return Outcome(True, None, (), f.key, msg)
        if intent == "sports_score":
            team_id = args.get("team", self.favorite_team or "")
            team = self.world.by_id.get(team_id)
            if team is None:
                if "team" in args:
                    return _fail(StageError.ACTION_FAILED, "Sorry, I don't know that team.")
                return _fail(StageError.ACTION_MISSING_SLOT, "Sorry, which team?")
            r = self.world.last_result(team_id, self.today)
            opp = self.world.by_id[r.opponent_id]
            us, them = r.score, r.opponent_score
            verb = "beat" if us > them else "lost to" if us < them else "tied"
            msg = f"The {team.nickname} {verb} the {opp.nickname} {us} to {them}."
            return Outcome(True, None, (), r.key, msg)
        if intent == "restaurant_find":
            cuisine = args.get("cuisine", "any")
            if cuisine != "any" and cuisine not in CUISINES:
                return _fail(StageError.ACTION_FAILED, f"Sorry, I don't know {cuisine} food.")
            names = self.world.restaurants(self.location, cuisine)
            label = "" if cuisine == "any" else f"{cuisine} "
            return Outcome(
                True,
                None,
                (),
                f"restaurants:{self.location}:{cuisine}:" + "|".join(names),
                f"Some {label}places nearby: " + ", ".join(names) + ".",
            )
        # device_status
        dev_id = args.get("device")
        if not dev_id:
            return _fail(StageError.ACTION_MISSING_SLOT, "Sorry, which device?")
        d = self.devices.get(dev_id)
        if d is None:
            return _fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that device.")
        summary = ",".join(f"{k}={fmt_value(v)}" for k, v in sorted(d.state.items()))
        return Outcome(True, None, (), f"status:{d.entity_id}:{summary}", _describe(d), (d.entity_id,))


_MEDIA_INTENTS = frozenset(
    {"volume_up", "volume_down", "volume_set", "media_pause", "media_resume", "play_music", "play_media"}
)
_KIND_WORDS: dict[Kind | None, str] = {
    Kind.LIGHT: "light", Kind.THERMOSTAT: "thermostat", Kind.OVEN: "oven", Kind.GARAGE_DOOR: "garage door",
    Kind.LOCK: "lock", Kind.BLINDS: "blinds", Kind.SPEAKER: "speaker", Kind.TV: "TV",
    Kind.COFFEE_MAKER: "coffee maker", Kind.SECURITY: "security system",
}  # fmt: skip
_PLURAL_WORDS: dict[Kind, str] = {Kind.LIGHT: "lights", Kind.LOCK: "doors", Kind.BLINDS: "blinds"}
# intent -> (state field, value, what to say)
_SIMPLE: dict[str, tuple[str, StateValue, str]] = {
    "oven_preheat": ("on", True, ""),
    "oven_off": ("on", False, "Turning off {what}."),
    "garage_open": ("open", True, "Opening {what}."),
    "garage_close": ("open", False, "Closing {what}."),
    "door_lock": ("locked", True, "Locking {what}."),
    "door_unlock": ("locked", False, "Unlocking {what}."),
    "blinds_open": ("open", True, "Opening {what}."),
    "blinds_close": ("open", False, "Closing {what}."),
    "tv_on": ("power", True, "Turning on {what}."),
    "tv_off": ("power", False, "Turning off {what}."),
    "coffee_start": ("brewing", True, "Starting {what}."),
    "security_disarm": ("armed", False, "Disarming {what}."),
}
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


def _describe(d: Device) -> str:
    s = d.state
    if d.kind is Kind.LIGHT:
        return f"The {d.name} is " + (f"on at {s['brightness']} percent." if s["on"] else "off.")
    if d.kind in (Kind.GARAGE_DOOR, Kind.BLINDS):
        return f"The {d.name} {'are' if d.name.endswith('s') else 'is'} {'open' if s['open'] else 'closed'}."
    if d.kind is Kind.LOCK:
        return f"The {d.name} is {'locked' if s['locked'] else 'unlocked'}."
    if d.kind is Kind.THERMOSTAT:
        return f"The {d.name} is set to {s['target']} degrees; it's {s['current']} now."
    if d.kind is Kind.OVEN:
        return f"The oven is at {s['temperature']} degrees." if s["on"] else "The oven is off."
    if d.kind is Kind.SECURITY:
        return f"The {d.name} is {'armed' if s['armed'] else 'disarmed'}."
    if d.kind is Kind.COFFEE_MAKER:
        return f"The {d.name} is {'brewing' if s['brewing'] else 'idle'}."
    if s.get("playing"):
        return f"The {d.name} is {'paused' if s['paused'] else 'playing'}."
    return f"The {d.name} is {'on' if s.get('power', True) else 'off'} and not playing anything."


_Handler = Callable[[Home, dict[str, str]], Outcome]


def _h(fn: Callable[[Home, str, dict[str, str]], Outcome], intent: str) -> _Handler:
    return lambda home, args: fn(home, intent, args)


_HANDLERS: dict[str, _Handler] = {}
for _name in INTENT_KINDS:
    if _name.startswith("lights_"):
        _HANDLERS[_name] = _h(Home._lights, _name)
for _name in ("thermostat_set", "thermostat_raise", "thermostat_lower"):
    _HANDLERS[_name] = _h(Home._thermostat, _name)
for _name in _SIMPLE:
    _HANDLERS[_name] = _h(Home._simple, _name)
for _name in _MEDIA_INTENTS:
    _HANDLERS[_name] = _h(Home._media, _name)
for _name in ("alarm_set", "alarm_cancel"):
    _HANDLERS[_name] = _h(Home._alarm, _name)
for _name in ("timer_set", "timer_cancel"):
    _HANDLERS[_name] = _h(Home._timer, _name)
for _name in ("shopping_add", "shopping_remove", "shopping_query", "purchase", "reminder_create"):
    _HANDLERS[_name] = _h(Home._lists, _name)
for _name in ("time_query", "weather_query", "sports_score", "restaurant_find", "device_status"):
    _HANDLERS[_name] = _h(Home._query, _name)
_HANDLERS["temperature_query"] = lambda home, args: home._temperature_query(args)

_missing = {i.name for i in BY_NAME.values()} - set(_HANDLERS)
if _missing:  # every intent in the catalog must have a meaning
    raise AssertionError(f"intents without semantics: {sorted(_missing)}")

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


def artist_id(name: str) -> str:
    """Canonical artist value for a display name ("The Beatles" -> "beatles")."""
    return norm_name(name)
