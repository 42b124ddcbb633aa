"""Evaluation side of automatic labels: gold labels from the simulator, and a simulated annotator.

Reads the truth table (allowed here: this module scores learners, it does not feed them).

Gold, per logged request turn (wake fired), in session/time order (`gold_labels`):

* ``defect``: the turn did not succeed (truth ``success`` false; false wakes are defects);
* ``goal_start``: first turn of the session, or its truth ``goal_id`` differs from the previous
  turn's (a false wake is a goal of its own);
* ``goal_success``: some turn of the same (session, goal) succeeded; false wakes: false;
* ``intent``: the goal's intent (None for false wakes: scored on requests only);
* ``slots``: the goal's slot values as the person said them (`GoldSlots`, a judge observer of the
  simulator's goal source, records them; `GoldSlotSimulator` is the simulator with it);
  scored on the words inside slot values (`score_heads`), strictly by (name, value) as well.

The simulated single annotator (`SimulatedAnnotator`) labels the same heads in one pass, like a
person reading the log (request as recognised, response, feedback) without corroboration. It errs
at `error_rate` per head (default 7%, inside the 5-10% single-pass disagreement range reported for
dialogue annotation) and `systematic_share` (default 60%) of those errors are the systematic
confusions a human makes, drawn from the confusable cases; the rest are random slips:

* defect: a *silent failure* (the assistant confirmed an action, no error, no barge-in, yet the
  wrong thing happened) read as a success; a successful turn the user barged into read as a
  defect;
* goal segmentation: a new goal of the same domain right after a failure merged into the previous
  goal (read as a retry); a retry worded differently (paraphrase) split off as a new goal;
* goal success: a goal that ended in a silent failure marked successful;
* intent: a sibling intent of the same domain (lights_on for lights_off, play_music for
  play_radio);
* slots: one slot left out (typically the room or device said in passing).

Expected errors per head are exactly `error_rate * n` (capped where there are too few confusable
cases for the systematic share, the remainder going to random slips), so the annotator's accuracy
is not an accident of the sample.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState
from selflearn.contracts.actions import Outcome
from selflearn.home.home import Home
from selflearn.logs.records import Turn
from selflearn.simulate.goal_source import Attempt, GoalSource, GoalSourceWrapper
from selflearn.simulate.home_goals import HomePick
from selflearn.simulate.phrasing import Phrasing
from selflearn.simulate.traffic import SimConfig, Simulator, default_goal_source
from selflearn.simulate.truth import TruthRow
from selflearn.text.normalize import normalize_request

__all__ = [
    "GoldSlotSimulator",
    "GoldSlots",
    "GoldTurn",
    "SimulatedAnnotator",
    "gold_labels",
    "score_heads",
    "slot_set",
    "threshold_sweep",
]


class GoldSlots(GoalSourceWrapper[HomePick]):
    """A judge observer over a source of home goals: each goal turn's slot values as spoken.

    The truth table keeps resolved arguments (entity ids); slot evaluation needs the surface
    values. For each slot of the goal, the value recorded is the goal's surface value or its
    official name (retries use official names), whichever occurs in what was said. Everything
    else (and the verdict) is the inner source's."""

    def __init__(self, inner: GoalSource[HomePick]) -> None:
        super().__init__(inner)
        self.gold_slots: dict[str, list[tuple[str, str]]] = {}

    def judge(
        self,
        state: TurnState,
        before: Home,
        outcome: Outcome | None,
        picked: HomePick,
        at: Attempt,
        phrasing: Phrasing,
        assistant: Assistant,
    ) -> tuple[bool, TruthRow]:
        success, truth = self.inner.judge(state, before, outcome, picked, at, phrasing, assistant)
        goal = picked[0]
        said = phrasing.text.lower()
        plain = dict(getattr(goal, "plain", ()))
        slots = []
        for name, value in getattr(goal, "surface", ()):
            for cand in (value, plain.get(name)):
                if cand and cand.lower() in said:
                    slots.append((name, cand.lower()))
                    break
        self.gold_slots[truth.turn_id] = slots
        return success, truth


class GoldSlotSimulator(Simulator):
    """The home simulator with a `GoldSlots` observer around its goal source (`source`, default
    the home's goals, `default_goal_source`); `gold_slots` maps turn id -> slot values as spoken."""

    source: GoldSlots

    def __init__(self, config: SimConfig, source: GoalSource[HomePick] | None = None) -> None:
        super().__init__(config, GoldSlots(default_goal_source(config) if source is None else source))

    @property
    def gold_slots(self) -> dict[str, list[tuple[str, str]]]:
        return self.source.gold_slots


@dataclass
class GoldTurn:
    """Gold labels of one logged request turn (see the module docstring)."""

    turn_id: str
    session_id: str
    is_request: bool
    defect: bool
    goal_start: bool
    goal_success: bool
    intent: str | None
    slots: list[tuple[str, str]] = field(default_factory=list)
    # what the annotator gets to see (from the log)
    request: str = ""
    silent_failure: bool = False
    barge_in: bool = False
    prev_failed_same_domain: bool = False
    paraphrase_retry: bool = False


def _domain(intent: str | None) -> str:
    return intent.split("_", 1)[0] if intent else ""


def gold_labels(
    turns: Sequence[Turn], truth: pa.Table, gold_slots: dict[str, list[tuple[str, str]]] | None = None
) -> list[GoldTurn]:
    """Gold per request turn of `turns`, ordered by (session, time, turn_index, turn_id)."""
    rows = {r["turn_id"]: r for r in truth.to_pylist()}
    req = sorted(
        (t for t in turns if t.wake.detected),
        key=lambda t: (t.session_id, t.timestamp, t.turn_index, t.turn_id),
    )
    missing = [t.turn_id for t in req if t.turn_id not in rows]
    if missing:
        raise ValueError(f"turn {missing[0]!r}: no row in the truth table (field turn_id)")
    succeeded: set[tuple[str, str]] = {
        (r["session_id"], r["goal_id"]) for r in rows.values() if r["success"] and r["goal_id"]
    }
    out: list[GoldTurn] = []
    prev: Turn | None = None
    for t in req:
        r = rows[t.turn_id]
        same_session = prev is not None and prev.session_id == t.session_id
        p = rows[prev.turn_id] if prev is not None and same_session else None
        start = p is None or r["goal_id"] is None or r["goal_id"] != p["goal_id"]
        silent = (not r["success"]) and not t.errors and t.action.status == "ok" and not t.feedback.barge_in
        out.append(
            GoldTurn(
                turn_id=t.turn_id,
                session_id=t.session_id,
                is_request=bool(r["is_request"]),
                defect=not r["success"],
                goal_start=start,
                goal_success=r["goal_id"] is not None and (t.session_id, r["goal_id"]) in succeeded,
                intent=r["goal_intent"],
                slots=list((gold_slots or {}).get(t.turn_id, [])),
                request=t.text,
                silent_failure=silent,
                barge_in=t.feedback.barge_in,
                prev_failed_same_domain=bool(
                    start
                    and p is not None
                    and not p["success"]
                    and _domain(p["goal_intent"]) == _domain(r["goal_intent"])
                ),
                paraphrase_retry=(not start) and r["strategy"] == "paraphrase",
            )
        )
        prev = t
    return out


def _flip_plan(n: int, confusable: list[int], rate: float, share: float, rng: random.Random) -> set[int]:
    """Indices to get wrong: round(rate*n) in all, up to share of them from `confusable`."""
    budget = round(rate * n)
    k_sys = min(len(confusable), round(share * budget))
    chosen = set(rng.sample(confusable, k_sys)) if k_sys else set()
    rest = [i for i in range(n) if i not in chosen]
    chosen |= set(rng.sample(rest, min(len(rest), budget - k_sys)))
    return chosen


class SimulatedAnnotator:
    """A single-pass human labeller with a human-like error rate and systematic confusions."""

    def __init__(
        self,
        error_rate: float = 0.07,
        systematic_share: float = 0.6,
        seed: int = 0,
        intents: Sequence[str] = (),
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
        self.error_rate = error_rate
        self.systematic_share = systematic_share
        self.seed = seed
        self.intents = intents

    def annotate(self, gold: Sequence[GoldTurn]) -> list[dict[str, Any]]:
        """One label row per gold turn: defect, goal_start, goal_success, intent, slots."""
        rng = random.Random(f"annotator:{self.seed}")
        n = len(gold)
        rate, share = self.error_rate, self.systematic_share
        labels: list[dict[str, Any]] = [
            {
                "turn_id": g.turn_id,
                "defect": g.defect,
                "goal_start": g.goal_start,
                "goal_success": g.goal_success,
                "intent": g.intent,
                "slots": list(g.slots),
            }
            for g in gold
        ]
        conf = [i for i, g in enumerate(gold) if g.silent_failure or (g.barge_in and not g.defect)]
        for i in _flip_plan(n, conf, rate, share, rng):
            labels[i]["defect"] = not labels[i]["defect"]
        conf = [i for i, g in enumerate(gold) if i > 0 and (g.prev_failed_same_domain or g.paraphrase_retry)]
        for i in _flip_plan(n, conf, rate, share, rng):
            if i == 0 or gold[i].session_id != gold[i - 1].session_id:
                continue  # a session's first turn starts a goal: nobody gets that wrong
            labels[i]["goal_start"] = not labels[i]["goal_start"]
        conf = [i for i, g in enumerate(gold) if g.silent_failure and not g.goal_success]
        for i in _flip_plan(n, conf, rate, share, rng):
            labels[i]["goal_success"] = not labels[i]["goal_success"]
        req = [i for i, g in enumerate(gold) if g.is_request and g.intent]
        names = sorted(set(self.intents) | {g.intent for g in gold if g.intent})
        siblings = {x: [y for y in names if y != x and _domain(y) == _domain(x)] for x in names}
        conf = [i for i in req if siblings.get(gold[i].intent or "")]
        for i in _flip_plan(len(req), [req.index(i) for i in conf], rate, share, rng):
            j = req[i]
            g_int = gold[j].intent or ""
            sib = siblings.get(g_int) or []
            if sib and rng.random() < share:
                labels[j]["intent"] = rng.choice(sib)
            else:
                labels[j]["intent"] = rng.choice([x for x in names if x != g_int] or [g_int])
        with_slots = [i for i in req if gold[i].slots]
        for k in _flip_plan(len(with_slots), list(range(len(with_slots))), rate, share, rng):
            j = with_slots[k]
            slots = list(labels[j]["slots"])
            slots.pop(rng.randrange(len(slots)))
            labels[j]["slots"] = slots
        return labels


def slot_set(slots: Sequence[Any]) -> set[tuple[str, str]]:
    """Normalised (name, value) pairs, for value-level slot F1; accepts tuples or label dicts."""
    out = set()
    for s in slots:
        name, value = (s["name"], s["value"]) if isinstance(s, dict) else (s[0], s[1])
        out.add((name, normalize_request(value)))
    return out


def dumps_slots(slots: Sequence[tuple[str, str]]) -> str:
    return json.dumps(sorted(slots))


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def score_heads(gold: Sequence[GoldTurn], rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Accuracy and F1 per head of label `rows` (aligned with `gold`, or matched by turn_id).

    Binary heads: F1 of the positive class (defect, goal start, goal success). Intent: accuracy
    and macro F1 over request turns. Slots: value-level micro F1 of normalised (name, value)
    pairs and exact-set accuracy, over request turns."""
    by_id = {r["turn_id"]: r for r in rows}
    missing = [g.turn_id for g in gold if g.turn_id not in by_id]
    if missing:
        raise ValueError(f"turn {missing[0]!r}: no label row (field turn_id)")
    out: dict[str, dict[str, float]] = {}
    for head in ("defect", "goal_start", "goal_success"):
        tp = fp = fn = ok = 0
        for g in gold:
            y, p = bool(getattr(g, head)), bool(by_id[g.turn_id][head])
            ok += y == p
            tp += y and p
            fp += p and not y
            fn += y and not p
        out[head] = {"accuracy": ok / max(len(gold), 1), "f1": _f1(tp, fp, fn), "n": float(len(gold))}
    req = [g for g in gold if g.is_request and g.intent]
    per: dict[str, list[int]] = {}
    ok = 0
    for g in req:
        pred = by_id[g.turn_id]["intent"]
        gold_intent = g.intent or ""
        if pred == gold_intent:
            ok += 1
            per.setdefault(gold_intent, [0, 0, 0])[0] += 1
        else:
            per.setdefault(gold_intent, [0, 0, 0])[2] += 1
            if pred:
                per.setdefault(pred, [0, 0, 0])[1] += 1
    macro = sum(_f1(*c) for c in per.values()) / max(len(per), 1)
    out["intent"] = {"accuracy": ok / max(len(req), 1), "f1": macro, "n": float(len(req))}
    tp = fp = fn = exact = wtp = wfp = wfn = 0
    for g in req:
        gs, ps = slot_set(g.slots), slot_set(by_id[g.turn_id]["slots"] or [])
        tp += len(gs & ps)
        fp += len(ps - gs)
        fn += len(gs - ps)
        exact += gs == ps
        gw, pw = _slot_words(gs), _slot_words(ps)
        wtp += sum((gw & pw).values())
        wfp += sum((pw - gw).values())
        wfn += sum((gw - pw).values())
    out["slots"] = {
        "accuracy": exact / max(len(req), 1),
        "f1": _f1(wtp, wfp, wfn),
        "f1_strict": _f1(tp, fp, fn),
        "n": float(len(req)),
    }
    return out


def _slot_words(slots: set[tuple[str, str]]) -> Counter[str]:
    """The words inside slot values (names ignored): what `score_heads` calls slot F1.

    The simulator's goals name a device by its full name ("kitchen light") where the grammar the
    NLU learnt from tags a room and a device ("kitchen" + "light"); both mean the same entity, so
    the primary slot score asks whether the right words were tagged. `f1_strict` also requires
    the same slot name and value boundaries."""
    return Counter(w for _name, value in slots for w in value.split())


def threshold_sweep(
    gold: Sequence[GoldTurn],
    labels: pa.Table,
    heads: Sequence[str] = ("defect", "goal_success"),
    thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.995, 0.998, 0.999),
) -> list[dict[str, float]]:
    """Precision against the share of turns labelled automatically: a turn is auto-labelled at
    threshold t when every head in `heads` has confidence >= t; precision = share of those turns
    whose labels for all `heads` are right."""
    rows = {r["turn_id"]: r for r in labels.to_pylist()}
    out = []
    for t in thresholds:
        taken = right = 0
        for g in gold:
            r = rows[g.turn_id]
            if all(r[f"{h}_conf"] >= t for h in heads):
                taken += 1
                right += all(bool(r[h]) == bool(getattr(g, h)) for h in heads)
        out.append(
            {
                "threshold": t,
                "coverage": taken / max(len(gold), 1),
                "precision": right / taken if taken else 1.0,
                "turns": float(taken),
            }
        )
    return out
