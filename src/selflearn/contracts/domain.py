"""The deployment's domain as data: intents with their slots, which intents are protected, device
types, and the vocabularies and inventories requests are resolved against (colours, media types
and titles, genres, cuisines, teams).

The runtime and the learners read a `Domain`, never the simulated home: the simulated home
exports one (`selflearn.home.domain`), SLURP's intents another, a real assistant's adapter another,
and a deployment can write its own as JSON (`Domain.from_dict`, `selflearn.lexicon.io`). What is
per household and changes (rooms, devices, places, state) is not part of the domain: the home the
assistant acts on supplies it at serving time.

Protected intents are the actions no learned fix may steer a request into. A domain flags them;
unless it opts out (`protect_by_default = False`), `protected_by_default` adds the ones the
intents' own names give away, so a fresh install is guarded before anyone has configured
anything. That rule looks at the words of an intent's name (`door_unlock`, `HassLockUnlock`,
`garage_open`): the words that undo a safeguard (unlock, disarm) or spend money (purchase, buy,
order, pay), and opening a garage or a door.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

__all__ = [
    "DOMAIN_FORMAT_VERSION",
    "PROTECTED_PAIRS",
    "PROTECTED_WORDS",
    "Domain",
    "DomainError",
    "Effect",
    "IntentKind",
    "IntentSpec",
    "MediaItem",
    "SlotSpec",
    "SlotType",
    "Team",
    "intent_words",
    "protected_by_default",
]

DOMAIN_FORMAT_VERSION = 1


class IntentKind(StrEnum):
    ACTION = "action"  # changes the home's state
    QUERY = "query"  # reads state or the world and answers


class SlotType(StrEnum):
    DEVICE = "device"  # a named device in the home, resolved to an entity id
    ROOM = "room"  # a room in the home
    NUMBER = "number"  # an integer (brightness %, degrees, volume level)
    COLOR = "color"
    TIME = "time"  # a clock time, normalised "HH:MM"
    DURATION = "duration"  # seconds
    DATE = "date"  # "today", "tomorrow", weekday names
    CITY = "city"  # resolved against the weather service's places
    MEDIA_TITLE = "media_title"  # resolved against the media catalog
    MEDIA_TYPE = "media_type"  # movie, audiobook, podcast, song, album
    GENRE = "genre"
    ARTIST = "artist"
    ITEM = "item"  # free text: shopping items, reminder text
    TEAM = "team"
    CUISINE = "cuisine"


@dataclass(frozen=True)
class SlotSpec:
    """A slot an intent can carry; `required` slots must be filled (by the user, context or a default)."""

    name: str
    type: SlotType
    required: bool = False


class Effect(StrEnum):
    """What an action leaves its target in, as far as context needs to know: "turn it off" after
    the TV was turned on means the TV, and an intent that would change nothing is an unlikely
    reading."""

    ON = "on"  # leaves its target active (on, open, running)
    OFF = "off"  # leaves its target inactive
    RESUME = "resume"  # resumes a paused player


@dataclass(frozen=True)
class IntentSpec:
    """One intent: what it means, which slots it takes, and whether rewrites may target it.

    The last four fields describe how the intent meets the state of the home; the context reranker
    reads them (a deployment that leaves them empty simply gets less from context):
    `effect` (see `Effect`), `needs_playing` (acts only on something playing: pause, volume),
    `reads_without_device` (the device types it reads when no device is named: "what's the
    temperature" reads the thermostat)."""

    name: str
    kind: IntentKind
    slots: tuple[SlotSpec, ...] = field(default_factory=tuple)
    protected: bool = False  # security or money: never the target of a learned rewrite by default
    description: str = ""
    device_types: frozenset[str] = frozenset()  # the device types it acts on or reads (none: any)
    effect: Effect | None = None
    needs_playing: bool = False
    reads_without_device: frozenset[str] = frozenset()

    def slot(self, name: str) -> SlotSpec | None:
        return next((s for s in self.slots if s.name == name), None)


PROTECTED_WORDS = frozenset({"unlock", "disarm", "purchase", "buy", "order", "pay", "payment", "checkout"})
"""A name holding one of these words is protected."""

PROTECTED_PAIRS: tuple[frozenset[str], ...] = (
    frozenset({"garage", "open"}),
    frozenset({"door", "open"}),
    frozenset({"security", "off"}),
    frozenset({"alarm", "disable"}),
)
"""A name holding both words of a pair is protected."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def intent_words(name: str) -> set[str]:
    """The lower-cased words of an intent name, split at non-letters and camelCase humps."""
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", _CAMEL.sub(" ", name)) if w}


def protected_by_default(intents: Iterable[str]) -> frozenset[str]:
    """The intents among `intents` that the default policy protects (see module docstring)."""
    out = set()
    for name in intents:
        words = intent_words(name)
        if words & PROTECTED_WORDS or any(pair <= words for pair in PROTECTED_PAIRS):
            out.add(name)
    return frozenset(out)


class DomainError(ValueError):
    """A domain file that cannot be read: the message names the field and the entry."""


@dataclass(frozen=True, slots=True)
class Team:
    """A sports team a `team` slot can name; `team_id` is the slot's canonical value."""

    team_id: str
    city: str
    nickname: str
    league: str
    popularity: int = 50
    aliases: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.city} {self.nickname}"

    @property
    def surfaces(self) -> tuple[str, ...]:
        return (self.name, self.nickname, *self.aliases)


@dataclass(frozen=True, slots=True)
class MediaItem:
    """One playable item. `artist` is the performer (songs, albums) or author (audiobooks); `type`
    is one of the domain's media types (song, album, movie, audiobook, podcast, ...)."""

    media_id: str
    title: str
    type: str
    artist: str | None = None
    genre: str | None = None
    popularity: int = 50  # 0..100; breaks ties between items that share a title
    aliases: tuple[str, ...] = ()

    @property
    def needs_screen(self) -> bool:
        return self.type == "movie"


@dataclass(frozen=True, eq=False)
class Domain:
    """What a deployment's requests can mean and name. Immutable; compare domains by `digest`."""

    name: str
    intents: tuple[IntentSpec, ...]
    device_types: tuple[str, ...] = ()
    generic_device_names: Mapping[str, str] = field(default_factory=dict)  # "lights" -> "light"
    colors: tuple[str, ...] = ()
    media_type_words: Mapping[str, str] = field(default_factory=dict)  # "film" -> "movie"
    genre_words: Mapping[str, str] = field(default_factory=dict)  # "rap" -> "hip hop"
    cuisines: tuple[str, ...] = ()
    cuisine_words: Mapping[str, str] = field(default_factory=dict)  # "sushi" -> "japanese"
    teams: tuple[Team, ...] = ()
    media: tuple[MediaItem, ...] = ()
    protect_by_default: bool = True
    # The device types a room names as the target ("the bedroom lights", "the living room tv");
    # with other intents a room means something else (the room's thermostat, where to play).
    room_device_types: frozenset[str] = frozenset()
    # The intent that plays a title of `media` ("play gone girl"), if the domain has one.
    title_intent: str | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for spec in self.intents:
            if spec.name in seen:
                raise DomainError(f"domain {self.name!r}: intent {spec.name!r} is listed twice")
            seen.add(spec.name)
        if self.title_intent is not None and self.title_intent not in seen:
            raise DomainError(f"domain {self.name!r}: title_intent {self.title_intent!r} is not an intent")

    @cached_property
    def by_name(self) -> dict[str, IntentSpec]:
        return {i.name: i for i in self.intents}

    @cached_property
    def protected(self) -> frozenset[str]:
        """The flagged intents, plus the default policy's unless the domain opts out."""
        flagged = {i.name for i in self.intents if i.protected}
        if self.protect_by_default:
            flagged |= protected_by_default(i.name for i in self.intents)
        return frozenset(flagged)

    def intent(self, name: str) -> IntentSpec | None:
        return self.by_name.get(name)

    def device_types_of(self, intent: str) -> frozenset[str] | None:
        """The device types `intent` acts on or reads; None when it names no device type."""
        spec = self.by_name.get(intent)
        return spec.device_types if spec is not None and spec.device_types else None

    @cached_property
    def digest(self) -> str:
        """sha256 of the canonical JSON: what an artifact trained on this domain records."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_intents(cls, name: str, intents: Iterable[str]) -> Domain:
        """A domain known only by its intent names (say, read off a log or an NLU model): free-text
        slots, no vocabularies, protected intents by the default policy."""
        return cls(name, tuple(IntentSpec(i, IntentKind.ACTION) for i in sorted(set(intents))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": DOMAIN_FORMAT_VERSION,
            "name": self.name,
            "protect_by_default": self.protect_by_default,
            "intents": [
                {
                    "name": i.name,
                    "kind": str(i.kind),
                    "slots": [{"name": s.name, "type": str(s.type), "required": s.required} for s in i.slots],
                    "protected": i.protected,
                    "description": i.description,
                    "device_types": sorted(i.device_types),
                    "effect": None if i.effect is None else str(i.effect),
                    "needs_playing": i.needs_playing,
                    "reads_without_device": sorted(i.reads_without_device),
                }
                for i in self.intents
            ],
            "room_device_types": sorted(self.room_device_types),
            "title_intent": self.title_intent,
            "device_types": list(self.device_types),
            "generic_device_names": dict(self.generic_device_names),
            "colors": list(self.colors),
            "media_type_words": dict(self.media_type_words),
            "genre_words": dict(self.genre_words),
            "cuisines": list(self.cuisines),
            "cuisine_words": dict(self.cuisine_words),
            "teams": [
                {
                    "team_id": t.team_id,
                    "city": t.city,
                    "nickname": t.nickname,
                    "league": t.league,
                    "popularity": t.popularity,
                    "aliases": list(t.aliases),
                }
                for t in self.teams
            ],
            "media": [
                {
                    "media_id": m.media_id,
                    "title": m.title,
                    "type": m.type,
                    "artist": m.artist,
                    "genre": m.genre,
                    "popularity": m.popularity,
                    "aliases": list(m.aliases),
                }
                for m in self.media
            ],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Domain:
        """Read a domain written by `to_dict` or by hand. Only `name` and `intents` are required;
        a wrong field raises `DomainError` naming it (and the entry's index)."""
        r = _Reader(d, "domain")
        version = r.get("format_version", int, DOMAIN_FORMAT_VERSION)
        if version > DOMAIN_FORMAT_VERSION:
            raise DomainError(f"domain: format_version {version} is newer than this selflearn reads")
        intents = []
        for n, raw in enumerate(r.get("intents", list)):
            ir = _Reader(raw, f"intents[{n}]")
            slots = []
            for m, sraw in enumerate(ir.get("slots", list, [])):
                sr = _Reader(sraw, f"intents[{n}].slots[{m}]")
                slots.append(
                    SlotSpec(
                        sr.get("name", str),
                        sr.enum("type", SlotType, SlotType.ITEM),
                        sr.get("required", bool, False),
                    )
                )
            intents.append(
                IntentSpec(
                    ir.get("name", str),
                    ir.enum("kind", IntentKind, IntentKind.ACTION),
                    tuple(slots),
                    protected=ir.get("protected", bool, False),
                    description=ir.get("description", str, ""),
                    device_types=frozenset(ir.strings("device_types")),
                    effect=ir.enum("effect", Effect, None),
                    needs_playing=ir.get("needs_playing", bool, False),
                    reads_without_device=frozenset(ir.strings("reads_without_device")),
                )
            )
        teams = []
        for n, raw in enumerate(r.get("teams", list, [])):
            tr = _Reader(raw, f"teams[{n}]")
            teams.append(
                Team(
                    tr.get("team_id", str),
                    tr.get("city", str),
                    tr.get("nickname", str),
                    tr.get("league", str, ""),
                    tr.get("popularity", int, 50),
                    tuple(tr.strings("aliases")),
                )
            )
        media = []
        for n, raw in enumerate(r.get("media", list, [])):
            mr = _Reader(raw, f"media[{n}]")
            media.append(
                MediaItem(
                    mr.get("media_id", str),
                    mr.get("title", str),
                    mr.get("type", str),
                    mr.optional("artist"),
                    mr.optional("genre"),
                    mr.get("popularity", int, 50),
                    tuple(mr.strings("aliases")),
                )
            )
        return cls(
            name=r.get("name", str),
            intents=tuple(intents),
            device_types=tuple(r.strings("device_types")),
            generic_device_names=r.mapping("generic_device_names"),
            colors=tuple(r.strings("colors")),
            media_type_words=r.mapping("media_type_words"),
            genre_words=r.mapping("genre_words"),
            cuisines=tuple(r.strings("cuisines")),
            cuisine_words=r.mapping("cuisine_words"),
            teams=tuple(teams),
            media=tuple(media),
            protect_by_default=r.get("protect_by_default", bool, True),
            room_device_types=frozenset(r.strings("room_device_types")),
            title_intent=r.optional("title_intent"),
        )


_MISSING = object()


class _Reader:
    """Typed field access on one JSON object, with errors that say where."""

    def __init__(self, raw: object, where: str) -> None:
        if not isinstance(raw, Mapping):
            raise DomainError(f"{where}: expected an object, got {type(raw).__name__}")
        self.raw, self.where = raw, where

    def get(self, key: str, typ: type, default: Any = _MISSING) -> Any:
        if key not in self.raw or self.raw[key] is None:
            if default is _MISSING:
                raise DomainError(f"{self.where}: field {key!r} is missing")
            return default
        value = self.raw[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise DomainError(f"{self.where}.{key}: expected {typ.__name__}, got {type(value).__name__}")
        return value

    def optional(self, key: str) -> str | None:
        value = self.get(key, str, None)
        return value if value else None

    def strings(self, key: str) -> list[str]:
        values = self.get(key, list, [])
        for n, v in enumerate(values):
            if not isinstance(v, str):
                raise DomainError(f"{self.where}.{key}[{n}]: expected a string, got {type(v).__name__}")
        return list(values)

    def mapping(self, key: str) -> dict[str, str]:
        values = self.get(key, dict, {})
        for k, v in values.items():
            if not isinstance(v, str):
                raise DomainError(f"{self.where}.{key}[{k!r}]: expected a string, got {type(v).__name__}")
        return dict(values)

    def enum(self, key: str, typ: type[StrEnum], default: StrEnum | None) -> Any:
        value = self.get(key, str, None if default is None else str(default))
        if value is None:
            return None
        try:
            return typ(value)
        except ValueError:
            known = ", ".join(m.value for m in typ)
            raise DomainError(f"{self.where}.{key}: {value!r} is not one of {known}") from None
