"""Seeded households: reproducible, varied, and named so every name means one device."""

from __future__ import annotations

import random
from collections import Counter

from selflearn.home.devices import Kind
from selflearn.home.factory import ROOM_POOL, make_home
from selflearn.home.intents import INTENTS

HOMES = [make_home(seed, f"hh{seed}") for seed in range(60)]


def test_same_seed_same_home() -> None:
    a, b = make_home(42, "hh"), make_home(42, "hh")
    assert a.snapshot() == b.snapshot()
    assert [(d.name, d.aliases) for d in a.devices.values()] == [
        (d.name, d.aliases) for d in b.devices.values()
    ]
    assert (a.location, a.favorite_team, a.shopping, a.alarms) == (
        b.location,
        b.favorite_team,
        b.shopping,
        b.alarms,
    )
    c = make_home(random.Random(42), "hh")
    assert c.snapshot() == a.snapshot()
    assert make_home(43, "hh").snapshot() != a.snapshot()


def test_rooms_and_required_devices() -> None:
    for h in HOMES:
        assert 3 <= len(h.rooms) <= 7
        assert set(h.rooms) <= set(ROOM_POOL)
        assert {"kitchen", "living_room"} <= set(h.rooms)
        assert len(h.devices_of(Kind.THERMOSTAT)) == 1 and len(h.devices_of(Kind.OVEN)) == 1
        assert h.devices_of(Kind.TV) and h.devices_of(Kind.SPEAKER) and 1 <= len(h.devices_of(Kind.LOCK)) <= 3
        assert all(d.room is None or d.room in h.rooms for d in h.devices.values())
        assert h.weather.get(h.location) is not None and h.favorite_team in h.world.by_id


def test_names_are_unique_within_a_household() -> None:
    for h in HOMES:
        surfaces = [s for d in h.devices.values() for s in d.surfaces]
        assert len(surfaces) == len(set(surfaces)), Counter(surfaces).most_common(3)
        for d in h.devices.values():
            assert h.exact_devices(d.name) == [d.entity_id]


def test_households_vary() -> None:
    garages = sum(bool(h.devices_of(Kind.GARAGE_DOOR)) for h in HOMES)
    assert 0.6 * len(HOMES) <= garages < len(HOMES)  # most, not all
    nouns = Counter(
        h.devices["light.kitchen"].name.split()[-1] for h in HOMES if "light.kitchen" in h.devices
    )
    assert {"light", "lights", "lamp"} <= set(nouns)
    two_lights = sum(any(len(h.devices_of(Kind.LIGHT, room=r)) == 2 for r in h.rooms) for h in HOMES)
    assert two_lights > 5
    personal = {"moonlight", "sunshine", "big light", "fairy lights", "starlight", "the glow", "nightlight"}
    with_personal = [h for h in HOMES if any(set(d.aliases) & personal for d in h.devices.values())]
    assert 5 <= len(with_personal) < len(HOMES)
    assert len({h.location for h in HOMES}) > 10
    assert len({tuple(sorted(h.rooms)) for h in HOMES}) > 20


def test_every_intent_supported_by_some_household() -> None:
    for spec in INTENTS:
        assert any(h.supports(spec.name) for h in HOMES), spec.name
