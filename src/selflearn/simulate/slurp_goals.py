"""Goals from a SLURP-format file: real people's requests as what simulated people want.

Each record becomes a `SlurpGoal`: the gold intent (``scenario_action``, SLURP's evaluation label,
as `selflearn.corpora.slurp.SlurpRecord.label`), the gold slot values (entity spans of the
sentence), the sentence and the names of its recordings. A seeded Zipf popularity over the
requests makes a few requests common and most rare, so requests recur across users and days, the
recurrence self-learning feeds on.

Retries follow people: say the same sentence again (maybe slowly), or say another real phrasing of
the same intent with their own slot values filled in. Those phrasings are templates learned from
the ``sentence_annotation`` of the other requests with that intent: ``wake me up at [time : five
am]`` becomes ``wake me up at {time}``; a template is used only when its slot types (as a multiset)
equal the goal's, so the filled-in request means exactly the goal.

A goal without slots keeps its meaning on a retry: its paraphrases are the other slot-less
requests of its intent that share a content word with its sentence (`SlurpGoals.paraphrases` with
``same_meaning``), never any request of the intent ("where is stonehenge" is not retried as "when
was the statue of liberty made"). On a retry of the same wording the person is heard in another
recording of the request where it has several (`SlurpGoals.next_recording`).

SLURP judging rule (SLURP requests are not executed on the simulated home): a turn succeeds iff no
stage failed, the NLU's top intent equals the gold intent, the predicted slot values equal the
gold slot values as a multiset of (slot type, normalized value), normalized by lower-casing and
`normalize_request` (`interpretation_matches`), and, for a goal *without* slots, the text the NLU
read means the goal's own request (`SlurpGoal.judge`). Intent and empty slots cannot tell two
requests of one intent apart, so the text decides what was understood:

* no rewrite fired: the NLU read what was heard of the person's own words for this goal, which are
  the goal's request by construction (its sentence, or a paraphrase made from it); the intent
  decides, as for any goal;
* a rewrite fired (the precomputed table, an online layer, any stage that sets ``turn.rewrite``):
  its output, the NLU's ``input_text``, must equal after `normalize_request` one of the goal's own
  wordings (`SlurpGoals.own_wordings`): its sentence, a paraphrase the simulator's phrasing model
  makes from that same request, the recognized 1-best of one of its recordings (when a
  recognition-results file is replayed), or the words said or heard in that very turn. A rewrite
  into another request of the same intent fails.

Other readings do not change the text the NLU read: a context layer that picks another hypothesis
of the n-best changes the intent, which the intent check judges. The counterfactual replays (the
turn without its rewrite; the words really said, for blame) are judged by the same rule.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from selflearn.corpora.slurp import SlurpRecord, parse_annotation, read_slurp
from selflearn.logs.records import NluHypothesis
from selflearn.simulate.goals import zipf_weights
from selflearn.text.normalize import normalize_request

__all__ = [
    "SlotTemplate",
    "SlurpGoal",
    "SlurpGoals",
    "interpretation_matches",
    "slot_multiset",
    "template_from_annotation",
]

SlotPairs = tuple[tuple[str, str], ...]


def slot_multiset(slots: Iterable[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """(type, value) pairs as the judge compares them: values lower-cased and normalized."""
    return Counter((t, normalize_request(v.lower())) for t, v in slots)


def interpretation_matches(hyp: NluHypothesis | None, intent: str, slots: Iterable[tuple[str, str]]) -> bool:
    """The SLURP judging rule for one interpretation: same intent and the same multiset of
    normalized (slot type, value) pairs as gold, ignoring spaces inside values. None (no
    interpretation) never matches."""
    if hyp is None or hyp.intent != intent:
        return False
    return _spacing_free(slot_multiset((s.name, s.value) for s in hyp.slots)) == _spacing_free(
        slot_multiset(slots)
    )


def _spacing_free(values: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    """Word boundaries do not change what a value means ("bed room" is "bedroom"; SLURP's own gold
    spans spell some values apart), so the judge ignores them."""
    return Counter({(t, v.replace(" ", "")): n for (t, v), n in values.items()})


@dataclass(frozen=True)
class SlotTemplate:
    """A phrasing with holes: literal text parts and slot types, alternating as `parts` lists them
    (a part is ("text", str) or ("slot", type)). `source_id` is the request it was learned from."""

    intent: str
    parts: tuple[tuple[str, str], ...]
    source_id: int

    @property
    def slot_types(self) -> Counter[str]:
        return Counter(v for kind, v in self.parts if kind == "slot")

    def fits(self, slots: SlotPairs) -> bool:
        """True when the template has exactly the goal's slot types (as a multiset)."""
        return self.slot_types == Counter(t for t, _ in slots)

    def fill(self, slots: SlotPairs) -> str:
        """Render with `slots`' values: the k-th hole of a type gets the k-th value of that type."""
        if not self.fits(slots):
            raise ValueError(f"template slot types {dict(self.slot_types)} do not fit {slots}")
        queues: dict[str, list[str]] = {}
        for t, v in slots:
            queues.setdefault(t, []).append(v)
        out = [v if kind == "text" else queues[v].pop(0) for kind, v in self.parts]
        return " ".join("".join(out).split())


def template_from_annotation(annotation: str, intent: str, source_id: int = -1) -> SlotTemplate | None:
    """``"wake me up at [time : five am]"`` -> a template ``wake me up at {time}``; None when the
    annotation is malformed (a template from a broken line would say something nobody said)."""
    try:
        text, spans = parse_annotation(annotation)
    except ValueError:
        return None
    parts: list[tuple[str, str]] = []
    pos = 0
    for s in spans:
        parts.append(("text", text[pos : s.start].lower()))
        parts.append(("slot", s.name))
        pos = s.end
    parts.append(("text", text[pos:].lower()))
    return SlotTemplate(intent, tuple(p for p in parts if p[1] or p[0] == "slot"), source_id)


_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "about",
        "me",
        "my",
        "i",
        "you",
        "your",
        "it",
        "its",
        "is",
        "are",
        "was",
        "were",
        "be",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "please",
        "what",
        "whats",
        "what's",
        "when",
        "where",
        "who",
        "how",
        "which",
        "that",
        "this",
        "there",
        "any",
        "some",
        "and",
        "or",
        "tell",
        "give",
        "show",
        "set",
        "get",
        "find",
        "let",
        "lets",
        "let's",
        "hey",
        "ok",
        "okay",
    ]
)


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in text.split() if w not in _FUNCTION_WORDS and len(w) > 1)


@dataclass(frozen=True)
class SlurpGoal:
    """One real request as a goal: gold intent and slot values, the sentence, its recordings."""

    goal_key: str
    slurp_id: int
    intent: str
    sentence: str
    slots: SlotPairs
    recordings: tuple[str, ...] = ()
    weight: float = 1.0

    def args_json(self) -> str:
        """Gold slot values as JSON (the truth table's ``goal_args``)."""
        return json.dumps([[t, v] for t, v in self.slots])

    def matches(self, hyp: NluHypothesis | None) -> bool:
        """Intent and slot values as gold (`interpretation_matches`): the whole rule for a goal
        with slots, the lenient one for a goal without."""
        return interpretation_matches(hyp, self.intent, self.slots)

    def judge(self, hyp: NluHypothesis | None, rewritten: str | None, wordings: Collection[str]) -> bool:
        """The SLURP judging rule for one interpretation (module docstring): `rewritten` is the
        text the NLU read when a rewrite produced it (None when no rewrite fired), `wordings` the
        goal's own wordings, normalized (`SlurpGoals.own_wordings`, plus the turn's own words)."""
        if not self.matches(hyp):
            return False
        if self.slots or rewritten is None:
            return True
        return normalize_request(rewritten) in wordings


def goal_from_record(record: SlurpRecord) -> SlurpGoal:
    return SlurpGoal(
        goal_key=f"slurp:{record.slurp_id}",
        slurp_id=record.slurp_id,
        intent=record.label,
        sentence=record.sentence,
        slots=tuple((e.type, e.value) for e in record.entities),
        recordings=tuple(r.file for r in record.recordings),
    )


@dataclass
class SlurpGoals:
    """The goals of a SLURP-format file with a seeded Zipf popularity and per-intent templates.

    Requests that occur twice in a file (same sentence and intent) are one goal with the union of
    their recordings: a popularity over distinct requests, not over lines."""

    goals: list[SlurpGoal]
    templates: dict[str, list[SlotTemplate]] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def from_records(cls, records: Iterable[SlurpRecord], seed: int = 0, skew: float = 1.1) -> SlurpGoals:
        by_key: dict[tuple[str, str], SlurpGoal] = {}
        templates: dict[str, list[SlotTemplate]] = {}
        for r in records:
            g = goal_from_record(r)
            key = (g.intent, normalize_request(g.sentence))
            if key in by_key:
                old = by_key[key]
                recs = old.recordings + tuple(x for x in g.recordings if x not in old.recordings)
                by_key[key] = SlurpGoal(old.goal_key, old.slurp_id, old.intent, old.sentence, old.slots, recs)
            else:
                by_key[key] = g
            if r.sentence_annotation:
                tpl = template_from_annotation(r.sentence_annotation, r.label, r.slurp_id)
                if tpl is not None and tpl.slot_types == Counter(e.type for e in r.entities):
                    templates.setdefault(r.label, []).append(tpl)
        goals = sorted(by_key.values(), key=lambda g: g.slurp_id)
        # Popularity: a seeded ranking of the requests, Zipf over ranks.
        order = list(range(len(goals)))
        random.Random(f"slurp-popularity:{seed}").shuffle(order)
        w = zipf_weights(len(goals), skew)
        weighted = [
            SlurpGoal(g.goal_key, g.slurp_id, g.intent, g.sentence, g.slots, g.recordings, weight=w[rank])
            for rank, g in zip(order, goals, strict=True)
        ]
        return cls(weighted, templates, seed)

    @classmethod
    def from_file(cls, path: str | Path, seed: int = 0, skew: float = 1.1) -> SlurpGoals:
        """Read a SLURP-format file (bad lines are skipped; the reader keeps them as errors)."""
        return cls.from_records(read_slurp(path).records, seed=seed, skew=skew)

    def __len__(self) -> int:
        return len(self.goals)

    def sample(self, rng: random.Random) -> SlurpGoal:
        return rng.choices(self.goals, weights=[g.weight for g in self.goals], k=1)[0]

    def paraphrases(self, goal: SlurpGoal, same_meaning: bool = False) -> list[str]:
        """Other real phrasings of the goal's intent with the goal's slot values filled in
        (distinct, never the goal's own sentence), in a stable order.

        A goal without slots is fitted by every slot-less request of its intent, and a broad
        intent ("where is stonehenge", "when was the statue of liberty made": both questions of
        one intent) holds requests that mean different things. With `same_meaning`, a slot-less
        goal keeps only phrasings sharing a content word with its own sentence ("turn the lights
        off" / "switch off the lights please")."""
        own = normalize_request(goal.sentence)
        own_words = _content_words(own)
        out: dict[str, None] = {}
        for tpl in self.templates.get(goal.intent, []):
            if tpl.source_id == goal.slurp_id or not tpl.fits(goal.slots):
                continue
            text = tpl.fill(goal.slots)
            if not text or normalize_request(text) == own:
                continue
            if same_meaning and not goal.slots and not own_words & _content_words(normalize_request(text)):
                continue
            out.setdefault(text, None)
        return list(out)

    def own_wordings(
        self, goal: SlurpGoal, same_meaning: bool = True, heard: Callable[[str], str | None] | None = None
    ) -> frozenset[str]:
        """The goal's own wordings, normalized: its sentence, its paraphrases (as `paraphrases`
        with `same_meaning` makes them, i.e. what people retrying it say) and, with `heard` (a
        recording -> recognized 1-best lookup, e.g. `ReplayAsr.heard`), what was heard of each of
        its recordings. What a rewrite of a slot-less goal must produce to count (module
        docstring)."""
        out = {normalize_request(goal.sentence)}
        out.update(normalize_request(p) for p in self.paraphrases(goal, same_meaning=same_meaning))
        if heard is not None:
            for rec in goal.recordings:
                text = heard(rec)
                if text:
                    out.add(normalize_request(text))
        out.discard("")
        return frozenset(out)

    def recording_for(self, user_id: str, goal: SlurpGoal) -> str | None:
        """The recording a person speaking `goal` is bound to (seeded by person and request)."""
        if not goal.recordings:
            return None
        return random.Random(f"recording:{self.seed}:{user_id}:{goal.slurp_id}").choice(goal.recordings)

    @staticmethod
    def next_recording(goal: SlurpGoal, previous: str | None) -> str | None:
        """The recording a retry of the same wording is heard in: the one after `previous` in the
        goal's recordings, round the list (so n retries hear all n recordings before one comes
        back); `previous` itself when it is the only one, None, or not one of the goal's."""
        if previous is None or previous not in goal.recordings or len(goal.recordings) < 2:
            return previous
        i = goal.recordings.index(previous)
        return goal.recordings[(i + 1) % len(goal.recordings)]

    def sentences(self) -> list[str]:
        return [g.sentence for g in self.goals]
