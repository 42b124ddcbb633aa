"""How a person puts a goal into words, and how they say it again when the assistant failed.

People have habits: the same person asks for the same thing the same way, so the first attempt
uses a habitual phrasing per (person, goal). Retries follow what people do after an error: say it
again, say it slowly and clearly, say it differently, or spell everything out."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from selflearn.grammar import Template, render, templates_for
from selflearn.grammar.templates import TEMPLATES
from selflearn.simulate.goals import Goal
from selflearn.simulate.population import User


def templates_for_all() -> tuple[Template, ...]:
    return tuple(TEMPLATES)


class Strategy:
    FIRST = "first"
    REPEAT = "repeat"
    CAREFUL = "careful"
    PARAPHRASE = "paraphrase"
    EXPLICIT = "explicit"


@dataclass
class Phrasing:
    text: str
    template_id: str
    strategy: str
    careful: bool = False


@dataclass
class PhrasingModel:
    """Chooses what to say; remembers each person's habitual phrasing of each goal.

    Phrasings are not equally common: within an intent, a world-level Zipf popularity (a seeded
    ranking of its templates) makes some ways of asking usual and others rare. First attempts mix
    that popularity with a person's style; retries lean harder on it, because people who were
    not understood fall back on the plainest, most common way of asking."""

    seed: int = 0
    skew: float = 1.0
    habits: dict[tuple[str, str], str] = field(default_factory=dict)
    _templates: dict[tuple[str, frozenset[str]], list[Template]] = field(default_factory=dict)
    _popularity: dict[str, float] = field(default_factory=dict)
    # Opt-in personal patterns (simulate.personal.PersonalPatterns, set by simulate.personal.attach):
    # private names in habitual first attempts. None: ordinary traffic, unchanged.
    personal: Any = None

    def popularity(self, template: Template) -> float:
        if not self._popularity:
            rng = random.Random(f"phrasing-popularity:{self.seed}")
            by_intent: dict[str, list[Template]] = {}
            for t in templates_for_all():
                by_intent.setdefault(t.intent, []).append(t)
            for ts in by_intent.values():
                order = sorted(ts, key=lambda t: t.id)
                rng.shuffle(order)
                for rank, t in enumerate(order):
                    self._popularity[t.id] = 1.0 / (rank + 1) ** self.skew
        return self._popularity.get(template.id, 0.01)

    def _candidates(self, goal: Goal) -> list[Template]:
        key = (goal.intent, goal.slot_names)
        if key not in self._templates:
            self._templates[key] = [
                t for t in templates_for(goal.intent) if frozenset(t.slots) == goal.slot_names
            ]
        return self._templates[key]

    def _say(
        self, goal: Goal, template: Template, plain: bool = False, values: dict[str, str] | None = None
    ) -> str:
        if values is None:
            values = dict(goal.plain) if plain and goal.plain else dict(goal.surface)
        return render(template.id, values).text

    def first(self, user: User, goal: Goal, rng: random.Random) -> Phrasing:
        cands = self._candidates(goal)
        if not cands:
            raise ValueError(
                f"the grammar has no template for {goal.intent} with slots {sorted(goal.slot_names)}"
            )
        key = (user.user_id, goal.goal_key)
        tid = self.habits.get(key)
        tpl = next((t for t in cands if t.id == tid), None)
        if tpl is None:
            # Habits are formed by style preference; a person's favourite phrasing sticks.
            weights = [user.style_weights.get(t.style, 0.5) * self.popularity(t) for t in cands]
            tpl = rng.choices(cands, weights=weights, k=1)[0]
            self.habits[key] = tpl.id
        values = self.personal.surface(user, goal) if self.personal is not None else None
        return Phrasing(self._say(goal, tpl, values=values), tpl.id, Strategy.FIRST)

    def retry(self, user: User, goal: Goal, previous: Phrasing, attempt: int, rng: random.Random) -> Phrasing:
        """`attempt` is the number of the attempt about to be made (2 = first retry)."""
        cands = self._candidates(goal)
        others = [t for t in cands if t.id != previous.template_id]
        explicit = [t for t in others if t.style == "explicit"]
        # After repeated failure people stop repeating and start rephrasing.
        w_repeat, w_careful = (0.25, 0.25) if attempt == 2 else (0.1, 0.2)
        w_para, w_expl = (0.3, 0.2) if attempt == 2 else (0.35, 0.35)
        choice = rng.choices(
            [Strategy.REPEAT, Strategy.CAREFUL, Strategy.PARAPHRASE, Strategy.EXPLICIT],
            weights=[w_repeat, w_careful, w_para if others else 0.0, w_expl if explicit else 0.0],
            k=1,
        )[0]
        if choice == Strategy.REPEAT:
            return Phrasing(previous.text, previous.template_id, choice)
        if choice == Strategy.CAREFUL:
            return Phrasing(previous.text, previous.template_id, choice, careful=True)
        pool = explicit if choice == Strategy.EXPLICIT else others
        tpl = rng.choices(pool, weights=[self.popularity(t) ** 2 for t in pool], k=1)[0]
        # Spelling it out means official names too ("living room" rather than "lounge").
        explicit_now = choice == Strategy.EXPLICIT
        return Phrasing(
            self._say(goal, tpl, plain=explicit_now),
            tpl.id,
            choice,
            careful=explicit_now and rng.random() < 0.5,
        )
