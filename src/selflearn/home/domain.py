"""The simulated home's domain, exported as data: its intent catalog (with the device types each
intent acts on), device types and generic names, colours, media, genres, cuisines and teams.

This is the one place the simulated world hands its vocabulary to the runtime and the learners;
they read it as a `Domain`, exactly as they read a real deployment's (`selflearn domain export`
writes it as `domain.json`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from selflearn.contracts.domain import Domain, Effect
from selflearn.home.catalog import GENRE_WORDS, MEDIA_TYPE_WORDS, default_catalog
from selflearn.home.devices import COLORS, GENERIC_NAMES, Kind
from selflearn.home.intents import INTENT_KINDS, INTENTS
from selflearn.home.world import CUISINE_WORDS, CUISINES, TEAMS

__all__ = ["SIMULATED_DOMAIN_NAME", "simulated_domain"]

SIMULATED_DOMAIN_NAME = "selflearn-simulated-home"

# How the simulated home's intents meet its state (what `Home.apply` does to the target), for the
# learners that read a domain's effects: the context reranker.
_EFFECTS: dict[str, Effect] = {
    "lights_on": Effect.ON,
    "lights_off": Effect.OFF,
    "tv_on": Effect.ON,
    "tv_off": Effect.OFF,
    "oven_off": Effect.OFF,
    "oven_preheat": Effect.ON,
    "coffee_start": Effect.ON,
    "garage_open": Effect.ON,
    "garage_close": Effect.OFF,
    "blinds_open": Effect.ON,
    "blinds_close": Effect.OFF,
    "media_resume": Effect.RESUME,
}
_NEEDS_PLAYING = frozenset({"media_pause", "volume_up", "volume_down", "volume_set"})
_READS_WITHOUT_DEVICE = {"temperature_query": frozenset({str(Kind.THERMOSTAT)})}
_ROOM_DEVICE_TYPES = frozenset({str(Kind.LIGHT), str(Kind.BLINDS), str(Kind.TV)})


@lru_cache(maxsize=1)
def simulated_domain() -> Domain:
    """The simulated home's domain (one shared object per process)."""
    intents = tuple(
        replace(
            spec,
            device_types=frozenset(str(k) for k in INTENT_KINDS.get(spec.name, ())),
            effect=_EFFECTS.get(spec.name),
            needs_playing=spec.name in _NEEDS_PLAYING,
            reads_without_device=_READS_WITHOUT_DEVICE.get(spec.name, frozenset()),
        )
        for spec in INTENTS
    )
    return Domain(
        name=SIMULATED_DOMAIN_NAME,
        intents=intents,
        device_types=tuple(str(k) for k in Kind),
        generic_device_names={w: str(k) for w, k in GENERIC_NAMES.items()},
        colors=COLORS,
        media_type_words={w: str(t) for w, t in MEDIA_TYPE_WORDS.items()},
        genre_words=dict(GENRE_WORDS),
        cuisines=CUISINES,
        cuisine_words=dict(CUISINE_WORDS),
        teams=TEAMS,
        media=default_catalog().items,
        room_device_types=_ROOM_DEVICE_TYPES,
        title_intent="play_media",
    )
