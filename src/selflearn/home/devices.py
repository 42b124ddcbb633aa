"""Rooms and devices of the simulated home.

A device's identity (id, kind, names, room, capabilities) never changes after the household is
built; only its `state` does. That split is what makes `Home.copy()` cheap: copies share the
identity and copy one small state dict per device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

StateValue = bool | int | str | None


class Kind(StrEnum):
    LIGHT = "light"
    THERMOSTAT = "thermostat"
    OVEN = "oven"
    GARAGE_DOOR = "garage_door"
    LOCK = "lock"
    BLINDS = "blinds"
    SPEAKER = "speaker"
    TV = "tv"
    COFFEE_MAKER = "coffee_maker"
    SECURITY = "security"


class Cap(StrEnum):
    """What a device can do; the executor checks capabilities, not kinds, where they differ."""

    POWER = "power"
    BRIGHTNESS = "brightness"
    COLOR = "color"
    TEMPERATURE = "temperature"
    OPEN_CLOSE = "open_close"
    LOCK = "lock"
    MEDIA = "media"
    VOLUME = "volume"
    SCREEN = "screen"
    BREW = "brew"
    ARM = "arm"


CAPABILITIES: dict[Kind, frozenset[str]] = {
    Kind.LIGHT: frozenset({Cap.POWER, Cap.BRIGHTNESS}),
    Kind.THERMOSTAT: frozenset({Cap.TEMPERATURE}),
    Kind.OVEN: frozenset({Cap.POWER, Cap.TEMPERATURE}),
    Kind.GARAGE_DOOR: frozenset({Cap.OPEN_CLOSE}),
    Kind.LOCK: frozenset({Cap.LOCK}),
    Kind.BLINDS: frozenset({Cap.OPEN_CLOSE}),
    Kind.SPEAKER: frozenset({Cap.MEDIA, Cap.VOLUME}),
    Kind.TV: frozenset({Cap.MEDIA, Cap.VOLUME, Cap.POWER, Cap.SCREEN}),
    Kind.COFFEE_MAKER: frozenset({Cap.BREW}),
    Kind.SECURITY: frozenset({Cap.ARM}),
}

# What each kind's state holds when nothing has happened yet.
DEFAULT_STATE: dict[Kind, dict[str, StateValue]] = {
    Kind.LIGHT: {"on": False, "brightness": 100, "color": "white"},
    Kind.THERMOSTAT: {"target": 70, "current": 70},
    Kind.OVEN: {"on": False, "temperature": 0},
    Kind.GARAGE_DOOR: {"open": False},
    Kind.LOCK: {"locked": True},
    Kind.BLINDS: {"open": False},
    Kind.SPEAKER: {"volume": 5, "playing": None, "paused": False},
    Kind.TV: {"power": False, "volume": 5, "playing": None, "paused": False},
    Kind.COFFEE_MAKER: {"brewing": False},
    Kind.SECURITY: {"armed": True},
}

# What people call a kind when they do not name the device ("turn on the lights").
GENERIC_NAMES: dict[str, Kind] = {
    "light": Kind.LIGHT, "lights": Kind.LIGHT, "lamp": Kind.LIGHT, "lamps": Kind.LIGHT,
    "thermostat": Kind.THERMOSTAT, "heating": Kind.THERMOSTAT, "heat": Kind.THERMOSTAT,
    "oven": Kind.OVEN, "stove": Kind.OVEN,
    "garage": Kind.GARAGE_DOOR, "garage door": Kind.GARAGE_DOOR,
    "door": Kind.LOCK, "doors": Kind.LOCK, "lock": Kind.LOCK, "locks": Kind.LOCK,
    "blinds": Kind.BLINDS, "shades": Kind.BLINDS, "curtains": Kind.BLINDS, "blind": Kind.BLINDS,
    "speaker": Kind.SPEAKER, "speakers": Kind.SPEAKER, "music": Kind.SPEAKER,
    "tv": Kind.TV, "television": Kind.TV, "telly": Kind.TV, "t v": Kind.TV,
    "coffee maker": Kind.COFFEE_MAKER, "coffee machine": Kind.COFFEE_MAKER,
    "security": Kind.SECURITY, "security system": Kind.SECURITY, "alarm system": Kind.SECURITY,
}  # fmt: skip

COLORS: tuple[str, ...] = (
    "white", "warm white", "cool white", "red", "orange", "yellow", "green", "blue", "purple",
    "pink", "cyan", "magenta", "teal", "lavender", "gold", "turquoise",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Room:
    """A room: `room_id` is the canonical value of room slots; `name` and `aliases` are what
    people say."""

    room_id: str
    name: str
    aliases: tuple[str, ...] = ()

    @property
    def surfaces(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(slots=True)
class Device:
    """One entity of the home. Identity fields are shared between copies; `state` is per copy.

    `aliases` and `capabilities` are immutable (tuple / frozenset) so copies can share them.
    """

    entity_id: str
    kind: Kind
    name: str
    room: str | None
    aliases: tuple[str, ...] = ()
    capabilities: frozenset[str] = frozenset()
    state: dict[str, StateValue] = field(default_factory=dict)

    def copy(self) -> Device:
        return Device(
            self.entity_id,
            self.kind,
            self.name,
            self.room,
            self.aliases,
            self.capabilities,
            self.state.copy(),
        )

    @property
    def surfaces(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def has(self, cap: str) -> bool:
        return cap in self.capabilities


def make_device(
    entity_id: str,
    kind: Kind,
    name: str,
    room: str | None,
    aliases: tuple[str, ...] = (),
    extra_caps: frozenset[str] = frozenset(),
    **state: StateValue,
) -> Device:
    """A device with its kind's capabilities and default state, overridden by `state`."""
    st = dict(DEFAULT_STATE[kind])
    unknown = set(state) - set(st)
    if unknown:
        raise ValueError(f"{entity_id}: unknown state fields {sorted(unknown)} for kind {kind}")
    st.update(state)
    return Device(entity_id, kind, name, room, tuple(aliases), CAPABILITIES[kind] | extra_caps, st)


def fmt_value(v: StateValue) -> str:
    """Stringify a state value the same way everywhere (logs, changes, answers)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    return str(v)
