"""Training data for the context reranker, from logs and implicit feedback only.

A turn whose interpretation was followed by success (no barge-in, no rephrase, no error, or an
explicit yes) makes its executed interpretation a positive and the other candidates negatives. A
turn followed by a barge-in, a rephrase or abandonment makes its executed interpretation a
negative; when the user's next attempt in the session then succeeded, that attempt's
interpretation is the positive among the first turn's candidates: it says which alternative was
right *in the first turn's context*. Defects and rephrase links come from
`selflearn.feedback.chains.detect_sessions` (the same detection the nightly job runs).

Histories are built as of each day (days before it only), so a training row sees exactly the
history the serving assistant would have had that day.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from selflearn.context.features import (
    FEATURE_NAMES,
    Candidate,
    equivalent,
    featurize,
    generate_candidates,
)
from selflearn.context.history import HistoryStore
from selflearn.context.signals import PrevTurn, TurnView, logged_interpretation, targets_of_changes
from selflearn.contracts.domain import Domain
from selflearn.feedback.chains import detect_sessions
from selflearn.feedback.defect import DefectScorer
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector, PairScorer
from selflearn.logs.flat import flatten_turns
from selflearn.logs.records import Turn

__all__ = [
    "TrainingSet",
    "TurnOutcome",
    "build_training_set",
    "prev_turn",
    "turn_outcomes",
    "update_history",
]

CORRECTION_GAP_S = 30.0  # a defective turn's next request this soon after it is its correction
REFINE_GAP_S = 10.0  # the same intent asked again this soon after the answer: a refinement


@dataclass(frozen=True)
class TurnOutcome:
    defective: bool
    correction: str | None  # turn id of the successful later attempt, if any
    # Whether the log shows how the turn went: defective, or followed by another request in its
    # session. A turn that ends its session without an alarm may be a success or an abandonment
    # (the user gave up in silence): its "success" is not evidence.
    observed: bool = True


@dataclass
class TrainingSet:
    x: np.ndarray
    y: np.ndarray
    group: np.ndarray  # row -> index of its turn
    turn_ids: list[str] = field(default_factory=list)
    candidates: list[list[Candidate]] = field(default_factory=list)
    weight: np.ndarray = field(default_factory=lambda: np.zeros(0))  # corrected turns weigh more
    observed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # row's turn observed

    @property
    def n_turns(self) -> int:
        return len(self.turn_ids)


def _requests(turns: Iterable[Turn]) -> list[Turn]:
    return sorted((t for t in turns if t.wake.detected), key=lambda t: (t.timestamp, t.turn_index))


def turn_outcomes(
    turns: Sequence[Turn],
    detector: PairScorer | None = None,
    scorer: DefectScorer | None = None,
    threshold: float = 0.5,
) -> dict[str, TurnOutcome]:
    """Per request turn: defective or not (implicit and explicit feedback, as the nightly job
    scores it) and, for a defective one, the later successful attempt that corrected it."""
    reqs = _requests(turns)
    if not reqs:
        return {}
    det = detector if detector is not None else HeuristicRephraseDetector().fit()
    feedback, chains = detect_sessions(flatten_turns(reqs), det, scorer or DefectScorer(), threshold)
    defective = dict(
        zip(feedback.column("turn_id").to_pylist(), feedback.column("defective").to_pylist(), strict=True)
    )
    correction: dict[str, str] = {}
    for ids, flags in zip(
        chains.column("turn_ids").to_pylist(), chains.column("defective").to_pylist(), strict=True
    ):
        if len(ids) > 1 and not flags[-1]:
            for tid, bad in zip(ids[:-1], flags[:-1], strict=True):
                if bad:
                    correction[tid] = ids[-1]
    # No rephrase link (the words changed too much: "start it" -> "make coffee"): the user's
    # next request right after a defective turn, if it went well, is taken as the correction.
    by_session: dict[str, list[Turn]] = {}
    for t in reqs:
        by_session.setdefault(t.session_id, []).append(t)
    for ts in by_session.values():
        for a, b in itertools.pairwise(ts):
            if not defective.get(a.turn_id) or a.turn_id in correction or defective.get(b.turn_id, True):
                continue
            end_a = (
                a.timestamp.timestamp()
                + ((a.feedback.barge_in_offset_ms or 0) if a.feedback.barge_in else a.response.duration_ms)
                / 1000.0
            )
            if b.timestamp.timestamp() - end_a <= CORRECTION_GAP_S:
                correction[a.turn_id] = b.turn_id
    # A refinement: right after a turn that raised no alarm, the user asks for the same intent again
    # with other arguments ("kill the lights" -> "switch off the bedroom lights"). The first
    # interpretation did something, just not the wanted thing: the follow-up is its correction.
    refined: set[str] = set()
    # A repeat: the same words again right after the answer, with no alarm raised in between (the
    # rephrase detector can miss an exact repeat of a short command) means the answer was wrong.
    for ts in by_session.values():
        for a, b in itertools.pairwise(ts):
            if defective.get(a.turn_id) or not a.asr.text or a.asr.text != b.asr.text:
                continue
            if (b.timestamp - a.timestamp).total_seconds() - a.response.duration_ms / 1000.0 <= REFINE_GAP_S:
                refined.add(a.turn_id)
    for ts in by_session.values():
        for a, b in itertools.pairwise(ts):
            if defective.get(a.turn_id) or defective.get(b.turn_id, True) or a.turn_id in correction:
                continue
            ia, ib = logged_interpretation(a), logged_interpretation(b)
            if ia is None or ib is None or ia.intent != ib.intent or ia.same_meaning(ib):
                continue
            if (b.timestamp - a.timestamp).total_seconds() - a.response.duration_ms / 1000.0 <= REFINE_GAP_S:
                correction[a.turn_id] = b.turn_id
                refined.add(a.turn_id)
    followed = {a.turn_id for ts in by_session.values() for a, _b in itertools.pairwise(ts)}
    out: dict[str, TurnOutcome] = {}
    for t in reqs:
        bad = bool(defective.get(t.turn_id, False)) or t.turn_id in refined
        seen = bad or t.turn_id in followed or t.feedback.explicit is not None
        out[t.turn_id] = TurnOutcome(bad, correction.get(t.turn_id), seen)
    return out


def prev_turn(turn: Turn, previous: Turn | None) -> PrevTurn | None:
    """The `PrevTurn` signal of `turn` given the user's previous request (same session only)."""
    if previous is None or previous.session_id != turn.session_id or previous.turn_id == turn.turn_id:
        return None
    interp = logged_interpretation(previous)
    return PrevTurn(
        intent=interp.intent if interp is not None else None,
        targets=tuple(targets_of_changes(previous.action.changes)),
        seconds_ago=max(0.0, (turn.timestamp - previous.timestamp).total_seconds()),
    )


def update_history(
    store: HistoryStore, turns: Iterable[Turn], outcomes: dict[str, TurnOutcome]
) -> HistoryStore:
    """Add the turns the log shows as successful (executed, not defective) to `store`."""
    for t in turns:
        o = outcomes.get(t.turn_id)
        if o is None or o.defective or t.action.status != "ok":
            continue
        interp = logged_interpretation(t)
        if interp is None:
            continue
        hour = (t.context.local_time or t.timestamp).hour
        store.add(t.user_id, interp, hour, str(t.device.type))
    return store


def _day(t: Turn) -> date:
    return (t.context.local_time or t.timestamp).date()


def build_training_set(
    turns: Sequence[Turn],
    history: HistoryStore | None = None,
    detector: PairScorer | None = None,
    outcomes: dict[str, TurnOutcome] | None = None,
    correction_weight: float = 3.0,
    domain: Domain | None = None,
) -> tuple[TrainingSet, HistoryStore]:
    """Labelled candidate rows from logged turns (see module docstring), and the history store
    after all of them. `history` holds what was known before the first turn; it is extended in
    place, day by day, as the turns are read."""
    reqs = _requests(turns)
    outs = outcomes if outcomes is not None else turn_outcomes(reqs, detector)
    by_id = {t.turn_id: t for t in reqs}
    store = history if history is not None else HistoryStore(domain)
    if store.domain is None:
        store.domain = domain
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    ws: list[np.ndarray] = []
    obs: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    ids: list[str] = []
    all_cands: list[list[Candidate]] = []
    last: dict[str, Turn] = {}
    days: dict[date, list[Turn]] = {}
    for t in reqs:
        days.setdefault(_day(t), []).append(t)
    for d in sorted(days):
        day_turns = days[d]
        for t in day_turns:
            prev = prev_turn(t, last.get(t.user_id))
            last[t.user_id] = t
            o = outs.get(t.turn_id)
            if o is None or t.nlu.top is None:
                continue
            view = TurnView.from_turn(t, prev=prev, domain=store.domain)
            if view.default is None:
                continue
            cands = generate_candidates(view, store)
            if not cands:  # an intent the domain does not know: nothing to choose between
                continue
            labels = np.full(len(cands), np.nan)
            weights = np.ones(len(cands))
            default = view.default
            if not o.defective:
                for i, c in enumerate(cands):
                    if i == 0 or c.interp.same_meaning(default):
                        labels[i] = 1.0
                    elif not equivalent(c.interp, default, view):
                        labels[i] = 0.0  # an alternative with another effect was not wanted
            else:
                labels[0] = 0.0
                corr = by_id.get(o.correction) if o.correction else None
                right = logged_interpretation(corr) if corr is not None else None
                if right is not None:
                    if right.same_meaning(default):
                        continue  # the same meaning failed, then worked: not about interpretation
                    weights[:] = correction_weight
                    for i, c in enumerate(cands[1:], start=1):
                        if c.interp.same_meaning(right) or equivalent(c.interp, right, view):
                            labels[i] = 1.0
                        elif not equivalent(c.interp, default, view):
                            labels[i] = 0.0
            keep = ~np.isnan(labels)
            if not keep.any():
                continue
            x = featurize(cands, view, store)
            xs.append(x[keep])
            ys.append(labels[keep])
            ws.append(weights[keep])
            obs.append(np.full(int(keep.sum()), o.observed))
            groups.append(np.full(int(keep.sum()), len(ids)))
            ids.append(t.turn_id)
            all_cands.append([c for c, k in zip(cands, keep, strict=True) if k])
        update_history(store, day_turns, outs)
    if xs:
        ts = TrainingSet(
            np.vstack(xs),
            np.concatenate(ys),
            np.concatenate(groups),
            ids,
            all_cands,
            np.concatenate(ws),
            np.concatenate(obs),
        )
    else:
        ts = TrainingSet(np.zeros((0, len(FEATURE_NAMES))), np.zeros(0), np.zeros(0, dtype=np.int64), [], [])
    return ts, store
