"""Seeded random households: which rooms, which devices, and what each household calls them.

Households differ in the words they use ("kitchen light" / "kitchen lamp" / "kitchen lights"),
and some give devices personal names ("moonlight" for a bedroom lamp) that only that household
uses: exactly the vocabulary a general assistant does not know and a self-learning one can pick up.
Aliases are unique within a household, so every name a member says means one device.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from selflearn.home.devices import COLORS, Cap, Device, Kind, Room, StateValue, make_device
from selflearn.home.home import Home
from selflearn.home.world import GROCERIES, TEAMS

# room id -> (name, aliases people commonly use)
ROOM_POOL: dict[str, tuple[str, tuple[str, ...]]] = {
    "kitchen": ("kitchen", ()),
    "living_room": ("living room", ("lounge", "family room", "front room")),
    "bedroom": ("bedroom", ("bed room",)),
    "master_bedroom": ("master bedroom", ("main bedroom", "primary bedroom")),
    "kids_room": ("kids room", ("kid's room", "children's room", "playroom")),
    "office": ("office", ("study", "home office")),
    "bathroom": ("bathroom", ("bath room",)),
    "hallway": ("hallway", ("hall", "entryway")),
    "dining_room": ("dining room", ("dining area",)),
    "garage": ("garage", ()),
    "basement": ("basement", ("cellar",)),
    "patio": ("patio", ("deck", "porch")),
}
_CHILD_NAMES = ("emma", "liam", "olivia", "noah", "ava", "mia", "lucas", "zoe")
_PERSONAL_LIGHT_NAMES = (
    "moonlight",
    "sunshine",
    "big light",
    "fairy lights",
    "starlight",
    "the glow",
    "nightlight",
)
# second light in a room: (suffix used in the entity id, name)
_SECOND_LIGHTS = {
    "living_room": (
        ("floor_lamp", "floor lamp"),
        ("reading_lamp", "reading lamp"),
        ("strip", "strip lights"),
    ),
    "bedroom": (("bedside_lamp", "bedside lamp"), ("floor_lamp", "floor lamp")),
    "master_bedroom": (("bedside_lamp", "bedside lamp"), ("reading_lamp", "reading lamp")),
    "office": (("desk_lamp", "desk lamp"),),
    "kitchen": (("pendant", "pendant lights"), ("under_cabinet", "under cabinet lights")),
    "dining_room": (("chandelier", "chandelier"),),
    "kids_room": (("night_light", "night light"),),
}
_SPEAKER_BRANDS = ("echo", "sonos", "smart speaker", "speaker")
_BLIND_WORDS = ("blinds", "shades", "curtains")
_BLIND_ROOMS = ("living_room", "bedroom", "master_bedroom", "office", "kitchen", "dining_room", "kids_room")
# Places households live in: ambiguous names are over-represented on purpose.
_HOME_PLACES = (
    "wilkerson_wa", "wilkerson_ca", "springfield_il", "springfield_mo", "portland_or", "portland_me",
    "seattle_wa", "tacoma_wa", "spokane_wa", "san_francisco_ca", "los_angeles_ca", "sacramento_ca",
    "new_york_ny", "chicago_il", "boston_ma", "austin_tx", "denver_co", "miami_fl", "atlanta_ga",
    "columbus_oh", "kansas_city_mo", "arlington_tx", "salem_or", "rochester_ny", "vancouver_wa",
)  # fmt: skip


class _Names:
    """Hands out names and aliases, dropping any alias another device already uses."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def claim(self, name: str, aliases: list[str]) -> tuple[str, tuple[str, ...]]:
        if name in self.used:
            raise AssertionError(f"duplicate device name {name!r}")
        self.used.add(name)
        kept: list[str] = []
        for a in aliases:
            if a and a not in self.used:
                self.used.add(a)
                kept.append(a)
        return name, tuple(kept)


def make_home(rng: random.Random | int, household_id: str, *, now: datetime | None = None) -> Home:
    """A random but reproducible household: same seed (or same Random state) -> same home."""
    r = random.Random(rng) if isinstance(rng, int) else rng
    names = _Names()

    # ---- rooms: kitchen, living room and a bedroom always; 0-4 more from the pool
    n_rooms = r.randint(3, 7)
    bedroom = r.choice(["bedroom", "master_bedroom"])
    others = [k for k in ROOM_POOL if k not in ("kitchen", "living_room", bedroom)]
    chosen = ["kitchen", "living_room", bedroom, *r.sample(others, n_rooms - 3)]
    rooms: list[Room] = []
    for rid in chosen:
        rname, raliases = ROOM_POOL[rid]
        al = [a for a in raliases if r.random() < 0.7]
        if rid == "kids_room" and r.random() < 0.5:
            al.append(f"{r.choice(_CHILD_NAMES)}'s room")
        rooms.append(Room(rid, rname, tuple(al)))
    room_ids = {rm.room_id for rm in rooms}
    room_name = {rm.room_id: rm.name for rm in rooms}

    devices: list[Device] = []

    def add(
        entity_id: str,
        kind: Kind,
        name: str,
        room: str | None,
        aliases: list[str],
        extra_caps: frozenset[str] = frozenset(),
        **state: StateValue,
    ) -> Device:
        nm, al = names.claim(name, aliases)
        d = make_device(entity_id, kind, nm, room, al, extra_caps=extra_caps, **state)
        devices.append(d)
        return d

    # ---- lights: household-specific nouns; most rooms have one, some two
    noun = r.choice(["light", "lights", "lamp"])
    alt_nouns = [w for w in ("light", "lights", "lamp") if w != noun]
    lights: list[Device] = []
    for rid in chosen:
        if rid not in ("kitchen", "living_room") and r.random() < 0.15:
            continue
        rn = room_name[rid]
        second = _SECOND_LIGHTS.get(rid) if r.random() < 0.35 else None
        color = rid == "living_room" or r.random() < 0.4
        on = r.random() < 0.3
        bright = r.choice([30, 50, 70, 80, 100])
        state: dict[str, StateValue] = {
            "on": on,
            "brightness": bright,
            "color": r.choice(COLORS[:3]) if color else "white",
        }
        caps = frozenset({Cap.COLOR}) if color else frozenset()
        if second:
            main_name = f"{rn} ceiling light" if r.random() < 0.5 else f"{rn} {noun}"
            main_id = f"light.{rid}_ceiling" if "ceiling" in main_name else f"light.{rid}"
        else:
            main_name, main_id = f"{rn} {noun}", f"light.{rid}"
        aliases = [f"{rn} {a}" for a in alt_nouns if r.random() < 0.5 and "ceiling" not in main_name]
        lights.append(add(main_id, Kind.LIGHT, main_name, rid, aliases, extra_caps=caps, **state))
        if second:
            suffix, sname = r.choice(second)
            lights.append(
                add(
                    f"light.{rid}_{suffix}",
                    Kind.LIGHT,
                    f"{rn} {sname}",
                    rid,
                    [sname],
                    extra_caps=frozenset({Cap.COLOR}) if r.random() < 0.3 else frozenset(),
                    on=r.random() < 0.3,
                    brightness=r.choice([40, 60, 100]),
                )
            )
    if lights and r.random() < 0.35:
        # a personal name for one lamp, known only to this household
        pool = [d for d in lights if d.room in ("bedroom", "master_bedroom", "kids_room", "living_room")]
        lamp = r.choice(pool or lights)
        personal = r.choice(_PERSONAL_LIGHT_NAMES)
        if personal not in names.used:
            names.used.add(personal)
            idx = devices.index(lamp)
            devices[idx] = Device(
                lamp.entity_id, lamp.kind, lamp.name, lamp.room,
                (*lamp.aliases, personal), lamp.capabilities, lamp.state,
            )  # fmt: skip

    # ---- climate and kitchen
    therm_room = "hallway" if "hallway" in room_ids else "living_room"
    target = r.randint(66, 72)
    add(
        f"thermostat.{therm_room}", Kind.THERMOSTAT, "thermostat", therm_room,
        [a for a in ("heating", "the heat", "nest") if r.random() < 0.5],
        target=target, current=target + r.randint(-3, 2),
    )  # fmt: skip
    add("oven.kitchen", Kind.OVEN, "oven", "kitchen", ["stove"] if r.random() < 0.5 else [])
    if r.random() < 0.85:
        add(
            "coffee_maker.kitchen", Kind.COFFEE_MAKER, "coffee maker", "kitchen",
            [a for a in ("coffee machine", "espresso machine", "coffee pot") if r.random() < 0.5],
        )  # fmt: skip

    # ---- doors
    if r.random() < 0.8:
        groom = "garage" if "garage" in room_ids else None
        add("garage_door.main", Kind.GARAGE_DOOR, "garage door", groom, ["garage"], open=r.random() < 0.2)
    add("lock.front_door", Kind.LOCK, "front door", "hallway" if "hallway" in room_ids else None,
        ["front door lock", "front lock"], locked=r.random() < 0.8)  # fmt: skip
    if r.random() < 0.6:
        add("lock.back_door", Kind.LOCK, "back door", "kitchen", ["back door lock", "back lock"])
    if "patio" in room_ids and r.random() < 0.5:
        add("lock.patio_door", Kind.LOCK, "patio door", "patio", ["patio door lock"])

    # ---- blinds
    blind_word = r.choice(_BLIND_WORDS)
    for rid in chosen:
        if rid in _BLIND_ROOMS and r.random() < 0.4:
            rn = room_name[rid]
            others_w = [f"{rn} {w}" for w in _BLIND_WORDS if w != blind_word and r.random() < 0.4]
            add(f"blinds.{rid}", Kind.BLINDS, f"{rn} {blind_word}", rid, others_w, open=r.random() < 0.5)

    # ---- media
    brand = r.choice(_SPEAKER_BRANDS)
    speaker_rooms = ["kitchen"] + [
        rid for rid in chosen if rid in ("living_room", "bedroom", "master_bedroom", "office", "kids_room")
        and r.random() < 0.5
    ]  # fmt: skip
    for rid in speaker_rooms:
        rn = room_name[rid]
        name = f"{rn} {brand}" if brand != "speaker" else f"{rn} speaker"
        aliases = [f"{rn} speaker"] if brand != "speaker" else []
        add(f"speaker.{rid}", Kind.SPEAKER, name, rid, aliases, volume=r.randint(3, 7))
    tv_rooms = ["living_room"] + [
        rid for rid in chosen if rid in ("bedroom", "master_bedroom") and r.random() < 0.3
    ]
    for rid in tv_rooms:
        rn = room_name[rid]
        aliases = [f"{rn} television"]
        if len(tv_rooms) == 1:
            aliases += ["tv", "television"]
        add(f"tv.{rid}", Kind.TV, f"{rn} tv", rid, aliases, volume=r.randint(3, 8))

    # ---- security
    if r.random() < 0.8:
        add("security.home", Kind.SECURITY, "security system", None,
            ["alarm system", "home security"], armed=r.random() < 0.5)  # fmt: skip

    home = Home(
        household_id,
        rooms,
        devices,
        now=now,
        location=r.choice(_HOME_PLACES),
        favorite_team=r.choice(TEAMS).team_id,
    )
    home.shopping = r.sample(list(GROCERIES), r.randint(0, 4))
    if r.random() < 0.3:
        wake = (home.today + timedelta(days=1)).isoformat() + r.choice(
            ["T06:00", "T06:30", "T07:00", "T07:30"]
        )
        home.alarms.add(wake)
    if r.random() < 0.2:
        # something already playing, so "pause" / "turn it down" have a target
        song = r.choice([it for it in home.catalog.items if it.type == "song"])
        spk = home.devices_of(Kind.SPEAKER)[0]
        spk.state["playing"] = song.media_id
    return home
