"""Per-user history built from logs: habits (what a person asks for at which hour), listening
history (which genres, titles, places they settle on), and what they use on which device type.

Only turns the log itself shows as successful count (no defect signal: see
`selflearn.context.training.turn_outcomes`); a history of what a person *got* would teach the
assistant its own mistakes. The store is plain counters per user, saved as one JSON file written
atomically; `delete_user` removes everything about a person at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selflearn.context.signals import Interpretation
from selflearn.contracts.domain import Domain, SlotType
from selflearn.util.atomic import atomic_write_text

__all__ = ["VALUE_SLOT_TYPES", "HistoryStore", "UserHistory"]

# Slot types whose chosen value is a taste or a habit ("jazz", "wilkerson_ca", a title), as
# opposed to a quantity or a free text: the values a history can vouch for.
VALUE_SLOT_TYPES = frozenset(
    {
        SlotType.GENRE,
        SlotType.ARTIST,
        SlotType.CITY,
        SlotType.MEDIA_TITLE,
        SlotType.TEAM,
        SlotType.CUISINE,
    }
)
_FORMAT = 1


def value_signature(interp: Interpretation, domain: Domain | None) -> str:
    """The taste part of an interpretation: its intent's value slots, empty ones included
    ("play_music|genre=" is a person who plays a mix, "play_music|genre=jazz" a jazz listener)."""
    spec = domain.intent(interp.intent) if domain is not None else None
    if spec is None:
        return interp.intent
    args = interp.arg_dict
    parts = [f"{s.name}={args.get(s.name, '')}" for s in spec.slots if s.type in VALUE_SLOT_TYPES]
    return "|".join([interp.intent, *parts])


def media_type_of(media_id: str) -> str:
    """'audiobook:hunger_games' -> 'audiobook' (media ids carry their type as a prefix)."""
    return media_id.split(":", 1)[0] if ":" in media_id else ""


@dataclass
class UserHistory:
    """Counters of one user's successful requests."""

    n: int = 0
    intents: Counter[str] = field(default_factory=Counter)
    intent_hour: Counter[str] = field(default_factory=Counter)  # "intent@hour"
    hours: Counter[int] = field(default_factory=Counter)
    values: Counter[str] = field(default_factory=Counter)  # value_signature
    interps: Counter[str] = field(default_factory=Counter)  # Interpretation.key
    media_on: Counter[str] = field(default_factory=Counter)  # "device_type:media_type"

    def add(self, interp: Interpretation, hour: int, device_type: str, domain: Domain | None = None) -> None:
        self.n += 1
        self.intents[interp.intent] += 1
        self.intent_hour[f"{interp.intent}@{hour}"] += 1
        self.hours[hour] += 1
        self.values[value_signature(interp, domain)] += 1
        self.interps[interp.key] += 1
        title = interp.arg_dict.get("media_title")
        if title:
            self.media_on[f"{device_type}:{media_type_of(title)}"] += 1
            self.media_on[f"{device_type}:*"] += 1

    # -------------------------------------------------------------------------------- features

    def intent_share(self, intent: str) -> float:
        return self.intents[intent] / self.n if self.n else 0.0

    def intent_hour_share(self, intent: str, hour: int, window: int = 1) -> float:
        """Share of this user's successes within +-`window` hours of `hour` that had `intent`."""
        hs = [(hour + d) % 24 for d in range(-window, window + 1)]
        total = sum(self.hours[h] for h in hs)
        hits = sum(self.intent_hour[f"{intent}@{h}"] for h in hs)
        return hits / total if total else 0.0

    def value_share(self, interp: Interpretation, domain: Domain | None = None) -> float:
        """Share of this user's successes of the intent that had the same taste values."""
        n = self.intents[interp.intent]
        return self.values[value_signature(interp, domain)] / n if n else 0.0

    def interp_share(self, interp: Interpretation) -> float:
        n = self.intents[interp.intent]
        return self.interps[interp.key] / n if n else 0.0

    def media_share(self, device_type: str, media_type: str) -> float:
        n = self.media_on[f"{device_type}:*"]
        return self.media_on[f"{device_type}:{media_type}"] / n if n else 0.0

    def habits(self, hour: int, min_share: float = 0.15, min_count: int = 2) -> list[str]:
        """Intents this user habitually has at this hour (+-1), most habitual first."""
        hs = [(hour + d) % 24 for d in (-1, 0, 1)]
        total = sum(self.hours[h] for h in hs)
        if not total:
            return []
        counts: Counter[str] = Counter()
        for h in hs:
            for key, c in self.intent_hour.items():
                intent, _, hh = key.rpartition("@")
                if int(hh) == h:
                    counts[intent] += c
        return [i for i, c in counts.most_common() if c >= min_count and c / total >= min_share]

    def top_values(self, intent: str, slot: str, k: int = 3) -> list[str]:
        """The values of `slot` this user most often settled on for `intent`."""
        prefix = f"{intent}|"
        counts: Counter[str] = Counter()
        for sig, c in self.values.items():
            if not sig.startswith(prefix):
                continue
            for part in sig.split("|")[1:]:
                name, _, value = part.partition("=")
                if name == slot and value:
                    counts[value] += c
        return [v for v, _ in counts.most_common(k)]

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "intents": dict(self.intents),
            "intent_hour": dict(self.intent_hour),
            "hours": {str(k): v for k, v in self.hours.items()},
            "values": dict(self.values),
            "interps": dict(self.interps),
            "media_on": dict(self.media_on),
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> UserHistory:
        return UserHistory(
            n=int(d["n"]),
            intents=Counter(d["intents"]),
            intent_hour=Counter(d["intent_hour"]),
            hours=Counter({int(k): v for k, v in d["hours"].items()}),
            values=Counter(d["values"]),
            interps=Counter(d["interps"]),
            media_on=Counter(d["media_on"]),
        )


_EMPTY = UserHistory()


class HistoryStore:
    """Per-user histories; `get(user)` is an empty history for an unknown user."""

    def __init__(self, domain: Domain | None = None) -> None:
        self.users: dict[str, UserHistory] = {}
        self.domain = domain  # which slots are tastes (value_signature); not saved

    def get(self, user_id: str) -> UserHistory:
        return self.users.get(user_id, _EMPTY)

    def add(self, user_id: str, interp: Interpretation, hour: int, device_type: str) -> None:
        """Record one successful request of `user_id`."""
        self.users.setdefault(user_id, UserHistory()).add(interp, hour, device_type, self.domain)

    def add_many(self, rows: Iterable[tuple[str, Interpretation, int, str]]) -> HistoryStore:
        for user_id, interp, hour, device_type in rows:
            self.add(user_id, interp, hour, device_type)
        return self

    def delete_user(self, user_id: str) -> bool:
        """Forget everything about a user at once; True if there was something to forget."""
        return self.users.pop(user_id, None) is not None

    def __len__(self) -> int:
        return len(self.users)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": _FORMAT, "users": {u: h.to_json() for u, h in sorted(self.users.items())}}
        atomic_write_text(path, json.dumps(payload, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | Path, domain: Domain | None = None) -> HistoryStore:
        path = Path(path)
        data = json.loads(path.read_text())
        if data.get("format") != _FORMAT:
            raise ValueError(f"{path}: history format {data.get('format')!r}, this reader speaks {_FORMAT}")
        store = cls(domain)
        for user_id, d in data["users"].items():
            try:
                store.users[user_id] = UserHistory.from_json(d)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}: user {user_id!r} has a broken history record: {exc}") from exc
        return store
