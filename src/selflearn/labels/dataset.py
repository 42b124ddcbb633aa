"""Dialogues built from the interaction log, with weak training labels read from the log alone.

A dialogue is one session's request turns (wake fired), in time order. Each turn carries

* text: the request (what the NLU read, raw so the NLU's character offsets stay valid) and the
  assistant's response;
* categorical features: domain (intent prefix), NLU intent, dialogue status (action status or the
  first stage error), device type, whether a rewrite fired;
* numeric features: token counts, ASR and NLU confidences and margins, the weakest entity score,
  response length, time gaps to the neighbouring turns, position, and the feedback the device saw
  (barge-in and how early, explicit yes/no);
* weak labels, each from a named log signal (never from a truth table):

  ======================  ============================================================================
  head                    signal
  ======================  ============================================================================
  ``defect``              `feedback.defect.DefectScorer`: barge-in, rephrase (candidate pairs scored by
                          the rephrase detector passed in), abandonment, stage error codes, explicit
                          yes/no. Explicit answers get a high weight, clear implicit evidence a
                          medium one, "no signal at all" a low one (silent failures exist). With
                          `soft_targets`, the target is how often that kind of implicit verdict
                          agrees with the explicit answers in the same log (`RELIABILITY_PRIOR`).
  ``goal_start``          first request of the session: 1; a selected rephrase link into the turn: 0;
                          more than `goal_gap_s` since the previous request, or the previous turn
                          was not defective: 1 (a new want); otherwise same NLU intent as before: 0,
                          else 1 (low weight: a missed rephrase or a user moving on).
  ``goal_success``        the weak goal segment's last turn is not defective (soft: one minus that
                          turn's soft defect target); every turn of the segment carries it.
                          Segments that end the session without any signal get a low weight.
  ``intent``              self-training: the NLU intent of the segment's successful last turn when
                          its NLU confidence >= `intent_min_confidence`, for every turn of the
                          segment (failed tries learn what the user meant). Masked otherwise.
  ``slots`` (tags)        self-training: IO tags from the NLU slot spans of weakly successful turns
                          (confidence >= `intent_min_confidence`); a failed try in a successful
                          segment gets the successful turn's values where the same words occur in
                          it. Masked otherwise.
  ======================  ============================================================================

Masked targets are -1 (classification) or weight 0, so every head trains only where its signal
speaks. `Dialogue.truth` is left empty here: evaluation code fills it from a truth table.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from selflearn.feedback.defect import DefectScorer
from selflearn.feedback.pairs import candidate_pairs, request_turns, select_links
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector, PairScorer
from selflearn.logs.flat import flatten_turns
from selflearn.logs.records import FeedbackKind, Turn

__all__ = [
    "CAT_FEATURES",
    "EVIDENCE_FEATURES",
    "NUM_FEATURES",
    "Dialogue",
    "DialogueBuilder",
    "Vocab",
    "WeakLabelConfig",
    "domain_of",
    "slot_spans",
    "split_long",
    "status_of",
]

EVIDENCE_FEATURES: tuple[str, ...] = (
    "defect_score",  # DefectScorer's noisy-OR score
    "weak_defect",
    "rephrase_out",  # probability of the selected rephrase link to a later turn (0: none)
    "rephrase_in",  # ... from an earlier turn
    "abandoned",
    "weak_goal_start",
    "weak_goal_success",
)
CAT_FEATURES: tuple[str, ...] = ("domain", "intent", "status", "device_type", "rewrite")
NUM_FEATURES: tuple[str, ...] = (
    "request_tokens",
    "response_tokens",
    "asr_confidence",
    "asr_margin",
    "nlu_confidence",
    "nlu_margin",
    "resolution_min_score",
    "response_s",
    "log_gap_prev_s",
    "log_gap_next_s",
    "position",
    "is_last",
    "barge_in",
    "barge_in_early",
    "explicit_positive",
    "explicit_negative",
    "has_error",
    "asks_question",
    *EVIDENCE_FEATURES,
)
"""The last `EVIDENCE_FEATURES` are the weak labelling functions' own evidence, computed from the
log at labelling time as well: the model starts from what the rules say and learns where text,
context and explicit answers say otherwise."""

NONE = "<none>"

RELIABILITY_PRIOR: dict[str, float] = {
    "silent:ok": 0.9,  # no signal at all, called a success: most are, some failures are silent
    "silent:defect": 0.5,  # (cannot happen with the default scorer)
    "implicit:ok": 0.8,  # some signal, but too weak to call a defect
    "implicit:defect": 0.85,  # barge-in, rephrase, error or abandonment
}
"""Prior belief in each kind of implicit verdict; `DialogueBuilder` updates it with the explicit
answers in the log and uses it as the soft target of the defect and goal-success heads, so the
model's confidences say how far the evidence behind a label can be trusted."""


def _evidence_key(r: dict[str, Any]) -> str:
    implicit = r["barge_in"] or r["rephrased"] or r["abandoned"] or r["has_error"]
    return f"{'implicit' if implicit else 'silent'}:{'defect' if r['implicit_defective'] else 'ok'}"


def domain_of(intent: str | None) -> str:
    """The coarse domain of an intent name (`lights_on` -> `lights`): shared by sibling intents."""
    if not intent:
        return NONE
    return intent.split("_", 1)[0]


def status_of(t: Turn) -> str:
    """The dialogue status of a turn: its first stage error code, else the action status."""
    errs = t.errors
    if errs:
        return errs[0]
    return t.action.status or NONE


def request_text(t: Turn) -> str:
    """What the NLU read, raw (the NLU's slot offsets point into it); the ASR 1-best otherwise."""
    return t.nlu.input_text or t.text


def slot_spans(t: Turn) -> list[tuple[str, str, int, int]]:
    """(name, value, start, end) of the top NLU hypothesis's slots with valid character offsets."""
    top = t.nlu.top
    if top is None:
        return []
    text = request_text(t)
    out = []
    for s in top.slots:
        if s.start is not None and s.end is not None and 0 <= s.start < s.end <= len(text):
            out.append((s.name, text[s.start : s.end], s.start, s.end))
        else:
            k = text.lower().find(s.value.lower()) if s.value else -1
            if k >= 0:
                out.append((s.name, text[k : k + len(s.value)], k, k + len(s.value)))
    return out


@dataclass
class Vocab:
    """A string -> id table; id 0 is the unknown/none entry so unseen values at labelling time map
    somewhere harmless instead of failing."""

    items: list[str] = field(default_factory=lambda: [NONE])

    def __post_init__(self) -> None:
        self._index = {s: i for i, s in enumerate(self.items)}

    def add(self, s: str) -> int:
        if s not in self._index:
            self._index[s] = len(self.items)
            self.items.append(s)
        return self._index[s]

    def get(self, s: str | None) -> int:
        return self._index.get(s or NONE, 0)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class WeakLabelConfig:
    """Knobs of the weak labelling functions (see the module docstring for the signals)."""

    rephrase_threshold: float = 0.5
    goal_gap_s: float = 60.0
    intent_min_confidence: float = 0.5
    explicit_weight: float = 3.0
    implicit_weight: float = 1.0
    silent_weight: float = 0.5  # "no signal" labels: most are right, some are silent failures
    soft_targets: bool = False  # train defect/goal success on reliability-weighted soft targets
    explicit_reliability: float = 0.95  # soft target of an explicit answer (people misclick)
    prior_strength: float = 10.0  # pseudo-answers behind RELIABILITY_PRIOR


@dataclass
class Dialogue:
    """One session's request turns and what the log says about them (see module docstring).

    Per-turn arrays have length T = len(turn_ids). `slot_tags[i]` holds (name, start, end) spans
    (character offsets into `requests[i]`) to tag, or None where the slot target is masked.
    `truth` maps head name -> per-turn gold values; filled by evaluation code only."""

    session_id: str
    turn_ids: list[str]
    requests: list[str]
    responses: list[str]
    cat: np.ndarray  # (T, len(CAT_FEATURES)) int64 ids
    num: np.ndarray  # (T, len(NUM_FEATURES)) float32
    nlu_intents: list[str | None]
    nlu_slots: list[list[tuple[str, str, int, int]]]
    defect: np.ndarray  # (T,) float32 in {0, 1}
    defect_w: np.ndarray  # (T,) float32 weight; 0 = masked
    goal_start: np.ndarray
    goal_start_w: np.ndarray
    goal_success: np.ndarray
    goal_success_w: np.ndarray
    intent: np.ndarray  # (T,) int64 intent id, -1 masked
    slot_tags: list[list[tuple[str, int, int]] | None]
    truth: dict[str, list[Any]] = field(default_factory=dict)
    corrupt: np.ndarray | None = None  # (T,) 1 = synthetically corrupted turn (pretraining only)
    defect_soft: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    goal_success_soft: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.turn_ids)

    def window(self, a: int, b: int) -> Dialogue:
        """Turns [a, b) as a dialogue of their own (for sessions longer than the model reads)."""
        return Dialogue(
            session_id=self.session_id,
            turn_ids=self.turn_ids[a:b],
            requests=self.requests[a:b],
            responses=self.responses[a:b],
            cat=self.cat[a:b],
            num=self.num[a:b],
            nlu_intents=self.nlu_intents[a:b],
            nlu_slots=self.nlu_slots[a:b],
            defect=self.defect[a:b],
            defect_w=self.defect_w[a:b],
            goal_start=self.goal_start[a:b],
            goal_start_w=self.goal_start_w[a:b],
            goal_success=self.goal_success[a:b],
            goal_success_w=self.goal_success_w[a:b],
            intent=self.intent[a:b],
            slot_tags=self.slot_tags[a:b],
            truth={k: v[a:b] for k, v in self.truth.items()},
            corrupt=None if self.corrupt is None else self.corrupt[a:b],
            defect_soft=self.defect_soft[a:b],
            goal_success_soft=self.goal_success_soft[a:b],
        )


def split_long(dialogues: Sequence[Dialogue], max_turns: int) -> list[Dialogue]:
    """Windows of at most `max_turns` turns (overlap-free, in order); short dialogues pass as is."""
    out: list[Dialogue] = []
    for d in dialogues:
        if len(d) <= max_turns:
            out.append(d)
        else:
            out.extend(d.window(a, min(a + max_turns, len(d))) for a in range(0, len(d), max_turns))
    return out


def _words(s: str) -> int:
    return len(s.split())


def _log_gap(seconds: float | None) -> float:
    if seconds is None:
        return math.log1p(3600.0)  # "none": as far as an hour
    return math.log1p(max(0.0, min(seconds, 3600.0)))


class DialogueBuilder:
    """Builds `Dialogue`s from turns; `fit` learns the categorical and label vocabularies.

    The rephrase detector (a `PairScorer`, default the hand-set `HeuristicRephraseDetector`) and
    the `DefectScorer` are passed in so the same signals the nightly job uses feed the labeller.
    """

    def __init__(
        self,
        detector: PairScorer | None = None,
        scorer: DefectScorer | None = None,
        config: WeakLabelConfig | None = None,
    ) -> None:
        self.detector = detector
        self.scorer = scorer
        self.config = config

    # -- vocabularies -------------------------------------------------------------------------
    def fit(self, turns: Sequence[Turn]) -> DialogueBuilder:
        """Learn the categorical vocabularies, the intent list and the slot names from `turns`."""
        self.cat_vocabs_ = {name: Vocab() for name in CAT_FEATURES}
        self.intents_ = Vocab()
        self.slot_names_ = Vocab()
        for t in turns:
            for name, value in self._cats(t).items():
                self.cat_vocabs_[name].add(value)
            top = t.nlu.top
            if top is not None:
                self.intents_.add(top.intent)
                for s in top.slots:
                    self.slot_names_.add(s.name)
        return self

    def _check(self) -> None:
        if not hasattr(self, "intents_"):
            raise RuntimeError("DialogueBuilder is not fitted: call fit(turns) first")

    @staticmethod
    def _cats(t: Turn) -> dict[str, str]:
        intent = t.nlu.top.intent if t.nlu.top else NONE
        return {
            "domain": domain_of(intent if intent != NONE else None),
            "intent": intent,
            "status": status_of(t),
            "device_type": str(t.device.type),
            "rewrite": "yes" if t.rewrite is not None else "no",
        }

    # -- weak labels ------------------------------------------------------------------------------
    def _feedback(self, turns: Sequence[Turn]) -> tuple[pa.Table, pa.Table, pa.Table]:
        """(request table, selected rephrase links, per-turn feedback) for `turns`."""
        cfg = self.config or WeakLabelConfig()
        flat = flatten_turns(turns)
        req = request_turns(flat)
        pairs = candidate_pairs(flat)
        detector = self.detector if self.detector is not None else HeuristicRephraseDetector().fit()
        probs = np.asarray(detector.predict_proba(pairs), np.float64) if pairs.num_rows else np.zeros(0)
        pair_probs = pairs.append_column("prob", pa.array(probs, pa.float64()))
        links = select_links(req, pair_probs, cfg.rephrase_threshold)
        scorer = self.scorer or DefectScorer()
        fb = scorer.score_requests(req, links)
        # The same scorer without the explicit answers: what the implicit signals alone say, so
        # the explicit answers can measure how reliable each kind of implicit verdict is.
        blind = req.set_column(
            req.schema.get_field_index("explicit_feedback"),
            "explicit_feedback",
            pa.nulls(req.num_rows, pa.string()),
        )
        implicit = scorer.score_requests(blind, links)
        fb = fb.append_column("implicit_defective", implicit.column("defective"))
        return req, links, fb

    def _reliability(self, fb_rows: dict[str, dict[str, Any]], cfg: WeakLabelConfig) -> dict[str, float]:
        """P(the implicit verdict is right) per kind of evidence, from the turns whose user also
        answered explicitly (a Beta prior of strength `prior_strength` around `RELIABILITY_PRIOR`
        keeps a handful of answers from swinging it)."""
        counts: dict[str, list[int]] = {k: [0, 0] for k in RELIABILITY_PRIOR}
        for r in fb_rows.values():
            if not (r["explicit_positive"] or r["explicit_negative"]):
                continue
            key = _evidence_key(r)
            counts[key][0] += int(bool(r["implicit_defective"]) == bool(r["explicit_negative"]))
            counts[key][1] += 1
        k = cfg.prior_strength
        return {key: (a + k * RELIABILITY_PRIOR[key]) / (n + k) for key, (a, n) in counts.items()}

    def build(self, turns: Iterable[Turn], with_labels: bool = True) -> list[Dialogue]:
        """Dialogues (one per session, sessions in first-turn time order) with weak labels.

        The feedback jobs always run (their evidence is a feature); `with_labels=False` masks every
        target (labelling time)."""
        self._check()
        cfg = self.config or WeakLabelConfig()
        all_turns = list(turns)
        by_id = {t.turn_id: t for t in all_turns}
        if len(by_id) != len(all_turns):
            dup = next(k for k, c in Counter(t.turn_id for t in all_turns).items() if c > 1)
            raise ValueError(f"turn {dup!r}: field turn_id is not unique in the input")
        if not all_turns:
            return []
        req, links, fb = self._feedback(all_turns)
        ids = req.column("turn_id").to_pylist()
        fb_rows = {r["turn_id"]: r for r in fb.to_pylist()}
        if with_labels:
            self.reliability_ = self._reliability(fb_rows, cfg)
        rel = getattr(self, "reliability_", dict(RELIABILITY_PRIOR))
        for r in fb_rows.values():
            r["reliability"] = rel[_evidence_key(r)]
        link_rows = links.to_pylist()
        pred = {r["turn_id_b"]: r["turn_id_a"] for r in link_rows}
        prob_in = {r["turn_id_b"]: float(r["prob"]) for r in link_rows}
        prob_out = {r["turn_id_a"]: float(r["prob"]) for r in link_rows}
        sessions: dict[str, list[Turn]] = {}
        for tid in ids:
            t = by_id[tid]
            sessions.setdefault(t.session_id, []).append(t)
        dialogues = [
            self._dialogue(sid, ts, fb_rows, pred, (prob_in, prob_out), cfg, with_labels)
            for sid, ts in sessions.items()
        ]
        dialogues.sort(key=lambda d: (by_id[d.turn_ids[0]].timestamp, d.session_id))
        return dialogues

    def _dialogue(
        self,
        session_id: str,
        ts: list[Turn],
        fb: dict[str, dict[str, Any]],
        pred: dict[str, str],
        link_probs: tuple[dict[str, float], dict[str, float]],
        cfg: WeakLabelConfig,
        with_labels: bool,
    ) -> Dialogue:
        n = len(ts)
        cat = np.zeros((n, len(CAT_FEATURES)), np.int64)
        num = np.zeros((n, len(NUM_FEATURES)), np.float32)
        for i, t in enumerate(ts):
            cats = self._cats(t)
            cat[i] = [self.cat_vocabs_[k].get(cats[k]) for k in CAT_FEATURES]
            num[i, : len(NUM_FEATURES) - len(EVIDENCE_FEATURES)] = self._numeric(ts, i)
        d = Dialogue(
            session_id=session_id,
            turn_ids=[t.turn_id for t in ts],
            requests=[request_text(t) for t in ts],
            responses=[t.response.text for t in ts],
            cat=cat,
            num=num,
            nlu_intents=[t.nlu.top.intent if t.nlu.top else None for t in ts],
            nlu_slots=[slot_spans(t) for t in ts],
            defect=np.zeros(n, np.float32),
            defect_w=np.zeros(n, np.float32),
            goal_start=np.zeros(n, np.float32),
            goal_start_w=np.zeros(n, np.float32),
            goal_success=np.zeros(n, np.float32),
            goal_success_w=np.zeros(n, np.float32),
            intent=np.full(n, -1, np.int64),
            slot_tags=[None] * n,
            defect_soft=np.zeros(n if cfg.soft_targets else 0, np.float32),
            goal_success_soft=np.zeros(n if cfg.soft_targets else 0, np.float32),
        )
        self._weak_labels(d, ts, fb, pred, cfg)
        prob_in, prob_out = link_probs
        base = len(NUM_FEATURES) - len(EVIDENCE_FEATURES)
        for i, t in enumerate(ts):
            r = fb.get(t.turn_id) or {}
            d.num[i, base:] = [
                float(r.get("defect_score") or 0.0),
                d.defect[i],
                prob_out.get(t.turn_id, 0.0),
                prob_in.get(t.turn_id, 0.0),
                1.0 if r.get("abandoned") else 0.0,
                d.goal_start[i],
                d.goal_success[i],
            ]
        if not with_labels:  # labelling time: the evidence stays a feature, nothing is a target
            for w in (d.defect_w, d.goal_start_w, d.goal_success_w):
                w[:] = 0.0
            d.intent[:] = -1
            d.slot_tags = [None] * n
        return d

    @staticmethod
    def _numeric(ts: list[Turn], i: int) -> list[float]:
        t = ts[i]
        top = t.nlu.top
        nb = t.nlu.nbest
        ab = t.asr.nbest
        dur = t.response.duration_ms
        prev_gap = (t.timestamp - ts[i - 1].timestamp).total_seconds() if i > 0 else None
        next_gap = (ts[i + 1].timestamp - t.timestamp).total_seconds() if i + 1 < len(ts) else None
        early = 0.0
        if t.feedback.barge_in:
            off = t.feedback.barge_in_offset_ms
            early = 1.0 - min(1.0, off / dur) if off is not None and dur > 0 else 0.5
        scores = [e.score for e in t.resolution.entities]
        return [
            math.log1p(_words(request_text(t))),
            math.log1p(_words(t.response.text)),
            t.asr.confidence,
            (ab[0].confidence - ab[1].confidence) if len(ab) > 1 else (ab[0].confidence if ab else 0.0),
            top.confidence if top else 0.0,
            (nb[0].confidence - nb[1].confidence) if len(nb) > 1 else (nb[0].confidence if nb else 0.0),
            min(scores) if scores else 1.0,
            min(dur / 1000.0, 30.0) / 10.0,
            _log_gap(prev_gap),
            _log_gap(next_gap),
            min(i, 10) / 10.0,
            1.0 if i + 1 == len(ts) else 0.0,
            1.0 if t.feedback.barge_in else 0.0,
            early,
            1.0 if t.feedback.explicit == FeedbackKind.POSITIVE else 0.0,
            1.0 if t.feedback.explicit == FeedbackKind.NEGATIVE else 0.0,
            1.0 if t.errors else 0.0,
            1.0 if t.response.text.rstrip().endswith("?") else 0.0,
        ]

    def _weak_labels(
        self,
        d: Dialogue,
        ts: list[Turn],
        fb: dict[str, dict[str, Any]],
        pred: dict[str, str],
        cfg: WeakLabelConfig,
    ) -> None:
        n = len(ts)
        # defect: the DefectScorer's decision, weighted by how much evidence stands behind it.
        for i, t in enumerate(ts):
            r = fb.get(t.turn_id)
            if r is None:
                continue
            d.defect[i] = 1.0 if r["defective"] else 0.0
            if not cfg.soft_targets:
                pass
            elif r["explicit_positive"] or r["explicit_negative"]:
                d.defect_soft[i] = (
                    cfg.explicit_reliability if r["explicit_negative"] else 1 - cfg.explicit_reliability
                )
            else:
                rel = float(r.get("reliability", 1.0))
                d.defect_soft[i] = rel if r["defective"] else 1.0 - rel
            if r["explicit_positive"] or r["explicit_negative"]:
                d.defect_w[i] = cfg.explicit_weight
            elif r["barge_in"] or r["rephrased"] or r["abandoned"] or r["has_error"]:
                d.defect_w[i] = cfg.implicit_weight
            else:
                d.defect_w[i] = cfg.silent_weight
        # goal segmentation: rephrase links join, time gaps and successes split.
        for i, t in enumerate(ts):
            if i == 0:
                d.goal_start[i], d.goal_start_w[i] = 1.0, cfg.implicit_weight
            elif pred.get(t.turn_id) is not None:
                d.goal_start[i], d.goal_start_w[i] = 0.0, cfg.implicit_weight
            else:
                gap = (t.timestamp - ts[i - 1].timestamp).total_seconds()
                if gap > cfg.goal_gap_s or d.defect[i - 1] < 0.5:
                    d.goal_start[i], d.goal_start_w[i] = 1.0, cfg.implicit_weight
                else:
                    same = d.nlu_intents[i] is not None and d.nlu_intents[i] == d.nlu_intents[i - 1]
                    d.goal_start[i], d.goal_start_w[i] = (0.0 if same else 1.0), cfg.silent_weight
        # goal success, intent and slots per weak segment.
        starts = [i for i in range(n) if d.goal_start[i] >= 0.5] + [n]
        for a, b in itertools.pairwise(starts):
            last = b - 1
            ok = d.defect[last] < 0.5
            silent = d.defect_w[last] <= cfg.silent_weight and last == n - 1
            for i in range(a, b):
                d.goal_success[i] = 1.0 if ok else 0.0
                if cfg.soft_targets:
                    d.goal_success_soft[i] = 1.0 - d.defect_soft[last]
                d.goal_success_w[i] = (
                    cfg.silent_weight if silent else max(cfg.implicit_weight, d.defect_w[last])
                )
            top = ts[last].nlu.top
            if not ok or top is None or top.confidence < cfg.intent_min_confidence:
                continue
            intent_id = self.intents_.get(top.intent)
            if intent_id <= 0:
                continue
            values = d.nlu_slots[last]
            for i in range(a, b):
                d.intent[i] = intent_id
                if i == last:
                    d.slot_tags[i] = [(name, s, e) for name, _v, s, e in values]
                else:
                    low = d.requests[i].lower()
                    tags: list[tuple[str, int, int]] = []
                    for name, v, _s, _e in values:
                        k = low.find(v.lower())
                        if k >= 0:
                            tags.append((name, k, k + len(v)))
                    d.slot_tags[i] = tags
