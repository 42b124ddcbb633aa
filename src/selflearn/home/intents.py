"""The catalog of smart-home intents: the one vocabulary shared by the grammar, the NLU, the
executor and the simulator's goals, so that every part agrees on what a request can mean."""

from __future__ import annotations

from selflearn.contracts.domain import IntentKind, IntentSpec, SlotSpec, SlotType
from selflearn.home.devices import Kind

__all__ = [
    "BY_NAME",
    "INTENTS",
    "INTENT_KINDS",
    "PROTECTED",
    "IntentKind",
    "IntentSpec",
    "SlotSpec",
    "SlotType",
    "get",
]


def _s(name: str, type_: SlotType, required: bool = False) -> SlotSpec:
    return SlotSpec(name, type_, required)


_DEV = _s("device", SlotType.DEVICE)
_ROOM = _s("room", SlotType.ROOM)
A, Q = IntentKind.ACTION, IntentKind.QUERY

INTENTS: tuple[IntentSpec, ...] = (
    IntentSpec("lights_on", A, (_DEV, _ROOM), description="switch lights on"),
    IntentSpec("lights_off", A, (_DEV, _ROOM), description="switch lights off"),
    IntentSpec("lights_dim", A, (_DEV, _ROOM), description="lower brightness by a step"),
    IntentSpec("lights_brighten", A, (_DEV, _ROOM), description="raise brightness by a step"),
    IntentSpec(
        "lights_set_brightness",
        A,
        (_DEV, _ROOM, _s("brightness", SlotType.NUMBER, True)),
        description="set brightness to a percentage",
    ),
    IntentSpec(
        "lights_set_color",
        A,
        (_DEV, _ROOM, _s("color", SlotType.COLOR, True)),
        description="set light colour",
    ),
    IntentSpec(
        "thermostat_set",
        A,
        (_s("temperature", SlotType.NUMBER, True), _ROOM),
        description="set the target temperature",
    ),
    IntentSpec("thermostat_raise", A, (_ROOM,), description="raise the target temperature by a step"),
    IntentSpec("thermostat_lower", A, (_ROOM,), description="lower the target temperature by a step"),
    IntentSpec(
        "temperature_query", Q, (_DEV, _ROOM), description="what is the temperature (room, oven, ...)"
    ),
    IntentSpec(
        "oven_preheat", A, (_s("temperature", SlotType.NUMBER, True),), description="preheat the oven"
    ),
    IntentSpec("oven_off", A, (), description="switch the oven off"),
    IntentSpec("garage_open", A, (), protected=True, description="open the garage door"),
    IntentSpec("garage_close", A, (), description="close the garage door"),
    IntentSpec("door_lock", A, (_DEV,), description="lock a door"),
    IntentSpec("door_unlock", A, (_DEV,), protected=True, description="unlock a door"),
    IntentSpec("blinds_open", A, (_ROOM,), description="open the blinds"),
    IntentSpec("blinds_close", A, (_ROOM,), description="close the blinds"),
    IntentSpec("volume_up", A, (_DEV, _ROOM), description="louder"),
    IntentSpec("volume_down", A, (_DEV, _ROOM), description="quieter"),
    IntentSpec(
        "volume_set", A, (_DEV, _ROOM, _s("level", SlotType.NUMBER, True)), description="set volume 0-10"
    ),
    IntentSpec("media_pause", A, (_DEV, _ROOM), description="pause playback"),
    IntentSpec("media_resume", A, (_DEV, _ROOM), description="resume playback"),
    IntentSpec(
        "play_music",
        A,
        (_s("genre", SlotType.GENRE), _s("artist", SlotType.ARTIST), _DEV, _ROOM),
        description="play music, optionally by genre or artist",
    ),
    IntentSpec(
        "play_media",
        A,
        (_s("media_title", SlotType.MEDIA_TITLE, True), _s("media_type", SlotType.MEDIA_TYPE), _DEV, _ROOM),
        description="play a movie, audiobook, podcast or song by title",
    ),
    IntentSpec("tv_on", A, (_ROOM,), description="switch the TV on"),
    IntentSpec("tv_off", A, (_ROOM,), description="switch the TV off"),
    IntentSpec("coffee_start", A, (), description="start brewing coffee"),
    IntentSpec(
        "alarm_set", A, (_s("time", SlotType.TIME, True), _s("date", SlotType.DATE)), description="set alarm"
    ),
    IntentSpec("alarm_cancel", A, (_s("time", SlotType.TIME),), description="cancel an alarm"),
    IntentSpec("timer_set", A, (_s("duration", SlotType.DURATION, True),), description="start a timer"),
    IntentSpec("timer_cancel", A, (), description="cancel the timer"),
    IntentSpec(
        "reminder_create",
        A,
        (_s("item", SlotType.ITEM, True), _s("time", SlotType.TIME)),
        description="remind me to ...",
    ),
    IntentSpec("shopping_add", A, (_s("item", SlotType.ITEM, True),), description="add to the shopping list"),
    IntentSpec(
        "shopping_remove", A, (_s("item", SlotType.ITEM, True),), description="remove from the shopping list"
    ),
    IntentSpec("shopping_query", Q, (), description="what is on my shopping list"),
    IntentSpec(
        "weather_query",
        Q,
        (_s("city", SlotType.CITY), _s("date", SlotType.DATE)),
        description="weather forecast",
    ),
    IntentSpec("time_query", Q, (), description="what time is it"),
    IntentSpec("device_status", Q, (_DEV,), description="is the garage door open / are the lights on"),
    IntentSpec("security_disarm", A, (), protected=True, description="disarm the security system"),
    IntentSpec(
        "purchase", A, (_s("item", SlotType.ITEM, True),), protected=True, description="order something"
    ),
    IntentSpec("sports_score", Q, (_s("team", SlotType.TEAM),), description="how did my team do"),
    IntentSpec("restaurant_find", Q, (_s("cuisine", SlotType.CUISINE),), description="find a restaurant"),
)

BY_NAME: dict[str, IntentSpec] = {i.name: i for i in INTENTS}
PROTECTED: frozenset[str] = frozenset(i.name for i in INTENTS if i.protected)


_L, _T, _O, _G = Kind.LIGHT, Kind.THERMOSTAT, Kind.OVEN, Kind.GARAGE_DOOR
_PLAYERS = frozenset({Kind.SPEAKER, Kind.TV})

# Which device kinds an intent acts on or reads: drives device resolution and context defaults.
INTENT_KINDS: dict[str, frozenset[Kind]] = {
    **{i: frozenset({_L}) for i in ("lights_on", "lights_off", "lights_dim", "lights_brighten",
                                   "lights_set_brightness", "lights_set_color")},
    **{i: frozenset({_T}) for i in ("thermostat_set", "thermostat_raise", "thermostat_lower")},
    "temperature_query": frozenset({_T, _O}),
    "oven_preheat": frozenset({_O}), "oven_off": frozenset({_O}),
    "garage_open": frozenset({_G}), "garage_close": frozenset({_G}),
    "door_lock": frozenset({Kind.LOCK}), "door_unlock": frozenset({Kind.LOCK}),
    "blinds_open": frozenset({Kind.BLINDS}), "blinds_close": frozenset({Kind.BLINDS}),
    **{i: _PLAYERS for i in ("volume_up", "volume_down", "volume_set", "media_pause", "media_resume",
                             "play_music", "play_media")},
    "tv_on": frozenset({Kind.TV}), "tv_off": frozenset({Kind.TV}),
    "coffee_start": frozenset({Kind.COFFEE_MAKER}),
    "device_status": frozenset(Kind),
    "security_disarm": frozenset({Kind.SECURITY}),
}  # fmt: skip


def get(name: str) -> IntentSpec:
    """Look an intent up by name; unknown names are a programming error, not bad user input."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown intent {name!r}; known: {sorted(BY_NAME)}") from None
