"""Turning templates into labelled sentences: one by one for the simulator (`render`), in bulk for
the NLU's training data (`generate`), and a seeded split of phrasings into the ones the NLU may
train on and the ones only users say (`split_templates`)."""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping
from functools import cache
from typing import ClassVar

from selflearn.contracts.nlu_examples import Example, SpanSlot  # one training-data type for all
from selflearn.grammar import lexicon
from selflearn.grammar.templates import BY_ID, BY_INTENT, SLOT_PATTERN, STYLES, Style, Template
from selflearn.home import intents


class GrammarError(Exception):
    """Base of the grammar's errors; `code` is a stable machine code to search for."""

    code: ClassVar[str] = "grammar-error"


class UnknownTemplateError(GrammarError, LookupError):
    """A template id that the grammar does not have (a typo, or an id from a newer grammar)."""

    code: ClassVar[str] = "grammar-unknown-template"

    def __init__(self, template_id: str) -> None:
        super().__init__(f"[{self.code}] unknown template id {template_id!r}")
        self.template_id = template_id


class MissingSlotError(GrammarError, ValueError):
    """A template needs a slot value the caller did not give (or gave as blank text). The caller
    should pick a template without that slot (see `templates_for`) rather than fill in a guess."""

    code: ClassVar[str] = "grammar-missing-slot"

    def __init__(self, template_id: str, slot: str, blank: bool = False) -> None:
        what = "a blank value for" if blank else "no value for"
        super().__init__(f"[{self.code}] template {template_id!r} got {what} slot {slot!r}")
        self.template_id = template_id
        self.slot = slot


@cache
def _parts(text: str) -> tuple[tuple[str, bool], ...]:
    """Split template text into (literal, False) and (slot name, True) pieces, once per text."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in SLOT_PATTERN.finditer(text):
        if m.start() > pos:
            out.append((text[pos : m.start()], False))
        out.append((m.group(1), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return tuple(out)


def _template(template_id: str) -> Template:
    try:
        return BY_ID[template_id]
    except KeyError:
        raise UnknownTemplateError(template_id) from None


def render(template_id: str, values: Mapping[str, str]) -> Example:
    """Fill a template's slots with surface values and label where each one landed.

    Values are lower-cased and their whitespace collapsed (speech has neither case nor double
    spaces), so the span value is exactly the text at its offsets. Values for slots the template
    does not have are ignored: the example says only what was spoken. A missing or blank value
    raises `MissingSlotError` naming the template and the slot.
    """
    template = _template(template_id)
    pieces: list[str] = []
    spans: list[SpanSlot] = []
    pos = 0
    for piece, is_slot in _parts(template.text):
        if is_slot:
            if piece not in values:
                raise MissingSlotError(template.id, piece)
            value = " ".join(str(values[piece]).lower().split())
            if not value:
                raise MissingSlotError(template.id, piece, blank=True)
            spans.append(SpanSlot(piece, value, pos, pos + len(value)))
            piece = value
        pieces.append(piece)
        pos += len(piece)
    return Example("".join(pieces), template.intent, tuple(spans), template.id)


def templates_for(
    intent: str,
    slots: Collection[str] | None = None,
    styles: Collection[Style] | None = None,
    *,
    subset: bool = False,
) -> list[Template]:
    """Templates of `intent` whose slot set equals `slots` (or, with `subset=True`, uses only
    slots from it), optionally restricted to some styles; all of them when `slots` is None.

    Exact match is what a simulated user needs to say a goal without dropping or inventing a
    slot; `subset` lets a user leave out what the context already implies (the room they are in).
    """
    intents.get(intent)  # unknown intents are a programming error: raise KeyError early
    if styles is not None and not set(styles) <= set(STYLES):
        raise ValueError(f"unknown styles {sorted(set(styles) - set(STYLES))}; known: {STYLES}")
    wanted = None if slots is None else frozenset(slots)
    out = []
    for t in BY_INTENT.get(intent, ()):
        if styles is not None and t.style not in styles:
            continue
        if wanted is not None and not (t.slots <= wanted if subset else t.slots == wanted):
            continue
        out.append(t)
    return out


def _draw(template: Template, rng: random.Random) -> dict[str, str]:
    """Values for a template's slots from the lexicon, keeping media type and title coherent."""
    values: dict[str, str] = {}
    if template.intent == "play_media":
        kind = rng.choice(sorted(lexicon.MEDIA_TITLES_BY_TYPE))
        values["media_type"] = rng.choice(lexicon.MEDIA_TYPE_WORDS[kind])
        values["media_title"] = rng.choice(lexicon.MEDIA_TITLES_BY_TYPE[kind])
    for slot in sorted(template.slots):
        if slot not in values:
            values[slot] = rng.choice(lexicon.values_for(template.intent, slot))
    return values


def generate(n_per_intent: int, seed: int, template_ids: Collection[str] | None = None) -> list[Example]:
    """`n_per_intent` labelled examples per intent, slot values drawn from the lexicon.

    Templates are used in turn (each shuffled round uses every allowed template once) so that
    every phrasing is represented evenly. `template_ids` restricts the phrasings (e.g. the training
    part of `split_templates`); intents left without any template yield no examples. The output is
    a function of the arguments only, and each intent draws from its own seeded stream, so adding
    templates to one intent does not change another intent's examples.
    """
    if n_per_intent < 0:
        raise ValueError(f"n_per_intent must be >= 0, got {n_per_intent}")
    allowed = None if template_ids is None else set(template_ids)
    if allowed is not None:
        unknown = allowed - BY_ID.keys()
        if unknown:
            raise UnknownTemplateError(sorted(unknown)[0])
    out: list[Example] = []
    for spec in intents.INTENTS:
        pool = [t for t in BY_INTENT.get(spec.name, ()) if allowed is None or t.id in allowed]
        if not pool or n_per_intent == 0:
            continue
        rng = random.Random(f"generate/{seed}/{spec.name}")
        order: list[Template] = []
        while len(order) < n_per_intent:
            round_ = list(pool)
            rng.shuffle(round_)
            order.extend(round_)
        out.extend(render(t.id, _draw(t, rng)) for t in order[:n_per_intent])
    return out


def split_templates(seed: int, train_fraction: float = 0.7) -> tuple[set[str], set[str]]:
    """Split template ids, per intent, into (train, held out).

    The NLU trains on the first part while simulated users say both, so it meets phrasings it has
    never seen, as with real users. Each intent keeps at least 3 training templates and at least
    one training template for every slot combination it has (else the NLU could never learn to
    tag that combination); the rest is filled at random up to `train_fraction`.
    """
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {train_fraction}")
    train: set[str] = set()
    held_out: set[str] = set()
    for intent, templates in BY_INTENT.items():
        rng = random.Random(f"split/{seed}/{intent}")
        order = list(templates)
        rng.shuffle(order)
        n_train = min(len(order), max(3, math.floor(train_fraction * len(order) + 0.5)))
        chosen: dict[str, None] = {}  # ordered set of ids
        combos: set[frozenset[str]] = set()
        for t in order:
            if t.slots not in combos:
                combos.add(t.slots)
                chosen[t.id] = None
        for t in order:
            if len(chosen) >= n_train:
                break
            chosen.setdefault(t.id, None)
        train.update(chosen)
        held_out.update(t.id for t in templates if t.id not in chosen)
    return train, held_out
