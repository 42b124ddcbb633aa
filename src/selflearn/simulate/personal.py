"""Personal patterns: ways of asking that belong to one person and that too few people share for
any population-level learner to pick up.

Real people give their things private names ("turn on old betsy" for the bedroom lamp, "play the
usual" ...) and keep using them. The grammar-driven simulator otherwise draws every phrasing from
a shared template pool, so whatever one person says, others say too, and the global rewrite
layer (which needs >= k distinct users) can learn it; nothing is left that only a personal layer
could fix. `PersonalPatterns` adds such patterns, opt-in (`SimConfig.personal_share`, default 0:
ordinary traffic unchanged):

* a share of people (`share`) have personal names for some of their devices, rooms and media
  (each value nicknamed with probability `value_rate`), drawn from a large pool of nicknames, so
  that two people rarely share one nickname for the same thing;
* they use the nickname in their habitual first attempt; the assistant does not know it, so the
  request usually fails; when they rephrase they fall back on the official name (the phrasing
  model's retries already use the goal's surface or official names), which is what a personal
  rewrite layer can learn from their own history.

The hook is `PhrasingModel.personal` (set by `attach`): only first attempts are changed.
Everything is a stable hash of (seed, user, value), so the same seed gives the same people.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from selflearn.simulate.goals import Goal
from selflearn.simulate.population import User

__all__ = ["NICKNAME_SLOTS", "PersonalPatterns", "attach"]

#: Slots whose values people give private names to.
NICKNAME_SLOTS = frozenset({"device", "room", "media_title", "artist"})

_ADJ = (
    "old",
    "little",
    "big",
    "lazy",
    "grumpy",
    "sleepy",
    "happy",
    "cosy",
    "trusty",
    "shiny",
    "fuzzy",
    "mighty",
    "tiny",
    "jolly",
    "rusty",
    "dusty",
)
_NAME = (
    "betsy",
    "rosie",
    "bertha",
    "gus",
    "hank",
    "mabel",
    "otis",
    "pip",
    "ziggy",
    "dolly",
    "fritz",
    "nellie",
    "boris",
    "waldo",
    "percy",
    "tilly",
    "mojo",
    "biscuit",
    "noodle",
    "pickle",
)


def _unit(*parts: object) -> float:
    h = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


@dataclass(frozen=True)
class PersonalPatterns:
    """Who has personal names for what. `share`: the fraction of people with personal names;
    `value_rate`: the chance that such a person nicknames a given value they ask about."""

    share: float
    seed: int = 0
    value_rate: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0 or not 0.0 <= self.value_rate <= 1.0:
            raise ValueError(f"share and value_rate must be in [0, 1], got {self.share}, {self.value_rate}")

    def has_patterns(self, user: User) -> bool:
        return _unit("personal", self.seed, user.user_id) < self.share

    def nickname(self, user: User, slot: str, value: str) -> str | None:
        """The person's private name for `value` of `slot`, or None when they use the real one."""
        if slot not in NICKNAME_SLOTS or not value or not self.has_patterns(user):
            return None
        if _unit("nick?", self.seed, user.user_id, slot, value) >= self.value_rate:
            return None
        a = int(_unit("adj", self.seed, user.user_id, value) * len(_ADJ))
        n = int(_unit("name", self.seed, user.user_id, value) * len(_NAME))
        return f"{_ADJ[a]} {_NAME[n]}"

    def surface(self, user: User, goal: Goal) -> dict[str, str]:
        """The slot values as this person says them in a habitual first attempt."""
        return {k: (self.nickname(user, k, v) or v) for k, v in goal.surface}


def attach(simulator: Any) -> PersonalPatterns | None:
    """Turn on `simulator.config.personal_share` (a no-op at 0): set its phrasing model's hook."""
    share = float(getattr(simulator.config, "personal_share", 0.0) or 0.0)
    if share <= 0.0:
        simulator.phrasing.personal = None
        return None
    patterns = PersonalPatterns(share=share, seed=int(simulator.config.seed))
    simulator.phrasing.personal = patterns
    return patterns
