"""What people want from the assistant, and how popular each want is.

Goals recur: a world-level popularity over intents (Zipf over a usage ranking) and over slot
values (Zipf over each home's value list, whose order puts common things first) means many
households want the same things, and each person keeps a short list of favourite goals they
return to day after day. Recurrence across users is what makes self-learning possible."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass, field

from selflearn.contracts.actions import Command
from selflearn.grammar import templates_for
from selflearn.home import intents as catalog
from selflearn.home.home import Home
from selflearn.text.numbers import parse_date

# A usage ranking for smart-home assistants (most requested first). Protected intents sit last:
# people rarely unlock doors or shop by voice.
USAGE_RANK: tuple[str, ...] = (
    "lights_off",
    "lights_on",
    "play_music",
    "weather_query",
    "timer_set",
    "alarm_set",
    "volume_down",
    "time_query",
    "thermostat_set",
    "media_pause",
    "lights_dim",
    "volume_up",
    "shopping_add",
    "play_media",
    "lights_set_brightness",
    "temperature_query",
    "media_resume",
    "lights_brighten",
    "tv_on",
    "tv_off",
    "reminder_create",
    "lights_set_color",
    "coffee_start",
    "alarm_cancel",
    "timer_cancel",
    "garage_close",
    "thermostat_raise",
    "thermostat_lower",
    "blinds_close",
    "blinds_open",
    "volume_set",
    "shopping_query",
    "device_status",
    "garage_open",
    "door_lock",
    "oven_preheat",
    "oven_off",
    "sports_score",
    "restaurant_find",
    "shopping_remove",
    "door_unlock",
    "security_disarm",
    "purchase",
)


def zipf_weights(n: int, s: float = 1.1) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


@dataclass(frozen=True)
class Goal:
    """A concrete want: an intent with slot values as the person would say them (`surface`) and
    as the home understands them (`args`). `room_default` goals mean "here" when no room is said."""

    goal_key: str
    intent: str
    surface: tuple[tuple[str, str], ...]
    args: tuple[tuple[str, str], ...]
    weight: float = 1.0
    plain: tuple[tuple[str, str], ...] = ()  # the official names of the same values (for retries)

    @property
    def slot_names(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.surface)

    def command(self, home: Home, room: str | None) -> Command:
        """The gold command when said in `room` of `home` now: relative dates ("tomorrow") are
        resolved against the home's clock, and a device intent naming no device or room means the
        room the person is in (the same rule the resolver applies, `Home.complete_args`)."""
        args = dict(self.args)
        spec = catalog.get(self.intent)
        for name, surface in self.surface:
            slot = spec.slot(name)
            if slot is not None and slot.type is catalog.SlotType.DATE:
                d = parse_date(surface, home.now.date())
                if d is not None:
                    args[name] = d.isoformat()
        return Command(self.intent, home.complete_args(self.intent, args, room))

    @staticmethod
    def args_json(command: Command) -> str:
        return json.dumps(command.args, sort_keys=True)


def _values(home: Home, intent: str, slot: catalog.SlotSpec) -> list[tuple[str, str]]:
    # The home lists values most common first; the order is read as popularity.
    return list(home.slot_values(slot.type, intent=intent))


@dataclass
class GoalMenu:
    """The goals a household can have, with world-level popularity weights."""

    goals: list[Goal] = field(default_factory=list)

    def sample(self, rng: random.Random) -> Goal:
        return rng.choices(self.goals, weights=[g.weight for g in self.goals], k=1)[0]


def build_menu(home: Home, rng: random.Random, per_intent: int = 8, intent_skew: float = 1.0) -> GoalMenu:
    """Enumerate plausible goals for `home`: for each intent, slot sets the grammar can say, filled
    with Zipf-popular values; goals the home cannot satisfy here and now are skipped when a session
    picks one."""
    intent_w = dict(zip(USAGE_RANK, zipf_weights(len(USAGE_RANK), intent_skew), strict=True))
    goals: dict[str, Goal] = {}
    for spec in catalog.INTENTS:
        slot_sets = sorted({frozenset(t.slots) for t in templates_for(spec.name)}, key=sorted)
        if not slot_sets:
            continue
        candidates: list[Goal] = []
        for slots in slot_sets:
            specs = [spec.slot(s) for s in sorted(slots)]
            if any(s is None for s in specs):
                continue
            value_lists = [_values(home, spec.name, s) for s in specs if s is not None]
            if any(not v for v in value_lists):
                continue
            # The most popular value combinations first (product of per-slot Zipf ranks).
            ranked = sorted(
                itertools.product(*[list(enumerate(v[:12])) for v in value_lists]),
                key=lambda combo: sum(i for i, _ in combo),
            )[: per_intent * 20]
            names = sorted(slots)
            if "device" in slots and "room" in slots:
                # People name a device together with the room it is in, not another room.
                di, ri = names.index("device"), names.index("room")
                ranked = [
                    c
                    for c in ranked
                    if (dev := home.devices.get(c[di][1][1])) is not None
                    and dev.room == c[ri][1][1]
                    and c[ri][1][0] not in c[di][1][0]  # not "the kitchen kitchen light"
                ]
            for combo in ranked:
                surface = tuple((n, v[1][0]) for n, v in zip(names, combo, strict=True))
                args = tuple((n, v[1][1]) for n, v in zip(names, combo, strict=True))
                rank = sum(i for i, _ in combo)
                key = f"{spec.name}|" + "|".join(f"{n}={a}" for n, a in args)
                # The first surface listed for a value is its official name ("living room", not
                # "lounge"): what people fall back on when a nickname was not understood.
                plain = tuple(
                    (n, next(sf for sf, cv in vals if cv == a))
                    for (n, a), vals in zip(args, value_lists, strict=True)
                )
                candidates.append(
                    Goal(key, spec.name, surface, args, weight=1.0 / (1 + rank) ** 1.2, plain=plain)
                )
        rng.shuffle(candidates)
        # Keep goals whose slot-less variants and slotted variants both appear, weighted by popularity.
        candidates.sort(key=lambda g: -g.weight)
        kept = candidates[:per_intent]
        total = sum(g.weight for g in kept) or 1.0
        for g in kept:
            goals[g.goal_key] = Goal(
                g.goal_key,
                g.intent,
                g.surface,
                g.args,
                weight=intent_w.get(g.intent, 0.01) * g.weight / total,
                plain=g.plain,
            )
    return GoalMenu(sorted(goals.values(), key=lambda g: g.goal_key))
