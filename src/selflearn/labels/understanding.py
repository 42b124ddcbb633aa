"""Understanding examples from the logs alone: what people went on to get is the label of what they
said first.

A request the assistant misread, followed by a rephrase that worked, is a labelled example: the
failed wording with the interpretation that succeeded (`rephrase_examples`). Its slot values are
found again in the failed wording (exactly, else the closest run of words by edit similarity) and
dropped when they cannot be, so a span never points at words that do not say it.

Three guards stand between such a guess and training data:

* **Support**: a wording is learned only when at least `min_people` distinct principals (the
  chain's household or user, as the rewrite miner counts them) got from it to the same intent. One
  person's idiosyncrasy, or one person poisoning the model, never reaches anyone else.
* **Protected intents** (unlocking, disarming, buying) are never learned from implicit feedback.
* **Held-back people**: a share of principals, chosen by a hash of their id, never contributes
  examples; their chains judge a candidate model against the live one (`gate_targets`).

Every example row keeps its provenance (the turn and the person it came from), one row per
supporting turn, so forgetting a person removes exactly their rows and the model is retrained on
what remains.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from rapidfuzz import fuzz

from selflearn.contracts.nlu_examples import Example, SpanSlot
from selflearn.text.normalize import normalize_request

__all__ = [
    "EXAMPLES_SCHEMA",
    "GateTargets",
    "LearnedExample",
    "align_slot",
    "examples_table",
    "gate_targets",
    "held_back",
    "rephrase_examples",
    "training_examples",
]

SLOT_TYPE = pa.struct(
    [("name", pa.string()), ("value", pa.string()), ("start", pa.int32()), ("end", pa.int32())]
)

EXAMPLES_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("intent", pa.string()),
        ("slots", pa.list_(SLOT_TYPE)),
        ("source", pa.string()),  # base (the deployment's own training data) | rephrase
        ("user_id", pa.string()),  # who the supporting turn came from; null for base examples
        ("principal", pa.string()),  # the household/user the support threshold counts
        ("turn_id", pa.string()),  # the failed turn that was said this way; null for base
    ]
)
"""One row per base example, and one per supporting turn of a learned example."""

_MIN_WORD_SIMILARITY = 85.0


@dataclass(frozen=True)
class LearnedExample:
    """A wording, the interpretation its people went on to get, and who supports it."""

    text: str
    intent: str
    slots: tuple[SpanSlot, ...]
    support: tuple[tuple[str, str, str], ...]  # (principal, user_id, turn_id) per supporting turn

    @property
    def people(self) -> int:
        return len({p for p, _u, _t in self.support})

    def example(self) -> Example:
        return Example(self.text, self.intent, self.slots, template_id=f"learned:{self.text}")


def held_back(principal: str, fraction: float) -> bool:
    """Whether a principal's chains are kept back to judge models (never learned from)."""
    h = int(hashlib.blake2b(f"nlu-holdout:{principal}".encode(), digest_size=4).hexdigest(), 16)
    return (h % 10_000) < fraction * 10_000


def align_slot(text: str, value: str) -> tuple[int, int] | None:
    """Where `value` is said in `text` (both normalized): the exact words, else the run of as many
    words (one fewer or more) most similar to it, if similar enough; None otherwise."""
    if not value:
        return None
    at = f" {text} ".find(f" {value} ")
    if at >= 0:
        return at, at + len(value)
    words = text.split()
    starts, pos = [], 0
    for w in words:
        pos = text.index(w, pos)
        starts.append(pos)
        pos += len(w)
    n = len(value.split())
    best: tuple[float, int, int] | None = None
    for size in (n, n - 1, n + 1):
        if size < 1 or size > len(words):
            continue
        for i in range(len(words) - size + 1):
            start, end = starts[i], starts[i + size - 1] + len(words[i + size - 1])
            score = fuzz.ratio(text[start:end], value)
            if score >= _MIN_WORD_SIMILARITY and (best is None or score > best[0]):
                best = (score, start, end)
    return None if best is None else (best[1], best[2])


def _aligned(text: str, slots: Iterable[tuple[str, str]]) -> tuple[SpanSlot, ...]:
    out: list[SpanSlot] = []
    taken: list[tuple[int, int]] = []
    for name, raw in slots:
        span = align_slot(text, normalize_request(raw))
        if span is None or any(s < span[1] and span[0] < e for s, e in taken):
            continue  # not said in this wording, or overlapping another slot: dropped
        taken.append(span)
        out.append(SpanSlot(name, text[span[0] : span[1]], span[0], span[1]))
    return tuple(sorted(out, key=lambda s: s.start))


def rephrase_examples(
    chains: pa.Table,
    final_slots: Mapping[str, Sequence[tuple[str, str]]],
    *,
    min_people: int = 3,
    protected: Collection[str] = (),
    holdout: float = 0.2,
) -> list[LearnedExample]:
    """Learned examples from successful chains (see the module docstring). `final_slots` maps a
    chain's last turn id to its NLU slots as heard, (name, surface value) in order."""
    by_key: dict[tuple[str, str], list[tuple[tuple[SpanSlot, ...], str, str, str]]] = defaultdict(list)
    for c in chains.select(
        [
            "turn_ids",
            "asr_texts",
            "intents",
            "interpretations",
            "defective",
            "outcome",
            "principal",
            "user_id",
        ]
    ).to_pylist():
        principal = c["principal"] or c["user_id"]
        if c["outcome"] != "success" or len(c["turn_ids"]) < 2 or held_back(principal, holdout):
            continue
        final_intent, final_interp = c["intents"][-1], c["interpretations"][-1]
        if not final_intent or final_intent in protected:
            continue
        slots = final_slots.get(c["turn_ids"][-1], ())
        for i in range(len(c["turn_ids"]) - 1):
            text = c["asr_texts"][i] or ""
            if not c["defective"][i] or not text or c["interpretations"][i] == final_interp:
                continue
            by_key[(text, final_intent)].append(
                (_aligned(text, slots), principal, c["user_id"], c["turn_ids"][i])
            )
    out = []
    for (text, intent), rows in sorted(by_key.items()):
        if len({p for _s, p, _u, _t in rows}) < min_people:
            continue
        spans = Counter(s for s, _p, _u, _t in rows).most_common(1)[0][0]  # the usual alignment
        out.append(LearnedExample(text, intent, spans, tuple((p, u, t) for _s, p, u, t in rows)))
    return out


def examples_table(base: Sequence[Example], learned: Sequence[LearnedExample]) -> pa.Table:
    """The training data of an understanding model as rows with provenance (`EXAMPLES_SCHEMA`)."""

    def spans(slots: Iterable[Any]) -> list[dict[str, Any]]:
        return [{"name": s.name, "value": s.value, "start": s.start, "end": s.end} for s in slots]

    rows: list[dict[str, Any]] = [
        {"text": e.text, "intent": e.intent, "slots": spans(e.slots), "source": "base",
         "user_id": None, "principal": None, "turn_id": None}
        for e in base
    ]  # fmt: skip
    for ex in learned:
        for principal, user, turn in ex.support:
            rows.append(
                {"text": ex.text, "intent": ex.intent, "slots": spans(ex.slots), "source": "rephrase",
                 "user_id": user, "principal": principal, "turn_id": turn}
            )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=EXAMPLES_SCHEMA)


def training_examples(table: pa.Table, min_people: int = 1) -> tuple[list[Example], list[Example]]:
    """(base, learned) examples of an examples table; a learned wording counts once, and only while
    `min_people` distinct principals still support it (after a deletion, fewer may)."""
    base: list[Example] = []
    support: dict[tuple[str, str, tuple[Any, ...]], set[str]] = defaultdict(set)
    for r in table.to_pylist():
        slots = tuple(SpanSlot(s["name"], s["value"], s["start"], s["end"]) for s in r["slots"] or ())
        if r["source"] == "base":
            base.append(Example(r["text"], r["intent"], slots, template_id=""))
        else:
            support[(r["text"], r["intent"], slots)].add(r["principal"] or r["user_id"] or "")
    learned = [
        Example(text, intent, slots, template_id=f"learned:{text}")
        for (text, intent, slots), people in sorted(support.items(), key=lambda kv: kv[0][:2])
        if len(people) >= min_people
    ]
    return base, learned


@dataclass
class GateTargets:
    """What the held-back people's logs say a model should read: failed wordings that a rephrase
    then got right (`fixes`: text -> the intent that worked) and readings the logs found fine
    (`keeps`: text -> the intent read)."""

    fixes: list[tuple[str, str]] = field(default_factory=list)
    keeps: list[tuple[str, str]] = field(default_factory=list)

    def score(self, read: Mapping[str, str | None]) -> dict[str, int]:
        """How many of each a model reading `read` (text -> top intent) gets right."""
        fixed = sum(read.get(t) == i for t, i in self.fixes)
        kept = sum(read.get(t) == i for t, i in self.keeps)
        return {"fixes": fixed, "keeps": kept, "total": fixed + kept}

    def compare(self, before: Mapping[str, str | None], after: Mapping[str, str | None]) -> dict[str, int]:
        """A change of model judged item by item: `wins` are targets `after` gets right and
        `before` did not, `losses` the reverse (each fix and each keep is one item)."""
        items = [*self.fixes, *self.keeps]
        wins = sum(after.get(t) == i != before.get(t) for t, i in items)
        losses = sum(before.get(t) == i != after.get(t) for t, i in items)
        return {"wins": wins, "losses": losses}

    @property
    def texts(self) -> list[str]:
        return sorted({t for t, _ in self.fixes} | {t for t, _ in self.keeps})


def gate_targets(chains: pa.Table, *, holdout: float = 0.2, protected: Collection[str] = ()) -> GateTargets:
    """The held-back principals' chains as `GateTargets` (the logs' own success signal)."""
    out = GateTargets()
    for c in chains.select(
        ["asr_texts", "intents", "interpretations", "defective", "outcome", "principal", "user_id"]
    ).to_pylist():
        if not held_back(c["principal"] or c["user_id"], holdout):
            continue
        final_intent, final_interp = c["intents"][-1], c["interpretations"][-1]
        for i, text in enumerate(c["asr_texts"]):
            if not text or not c["intents"][i]:
                continue
            if not c["defective"][i]:
                out.keeps.append((text, c["intents"][i]))
            elif (
                c["outcome"] == "success"
                and i < len(c["asr_texts"]) - 1
                and final_intent
                and final_intent not in protected
                and c["interpretations"][i] != final_interp
            ):
                out.fixes.append((text, final_intent))
    return out
