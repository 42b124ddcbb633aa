"""Recognition-evidence features from the logged ASR n-best list, for failure point isolation.

Whether a failed turn is the recogniser's fault or the understanding's depends on whether the
NLU would have understood the request had it been heard right. A log cannot replay the audio,
but it holds the recogniser's own alternatives, and those transfer across request pools (they
say nothing about *which* request was asked, only how sure the recogniser was of the words that
mattered):

* how much of the n-best posterior mass agrees with the 1-best on the words that carry the
  understood slots (a slot value the alternatives disagree on is a likely misrecognition, and a
  misrecognised slot is the commonest recognition failure point: the intent survives, the value
  does not);
* whether the deployment's own NLU (part of the log-reading system, run on logged text only)
  reads an alternative as another intent, and how confidently;
* whether the person's next request matches one of this turn's *alternatives* better than its
  1-best (they said it again and were heard the other way: the first hearing was wrong).

Only `selflearn.logs.records.Turn` fields are read; nothing from the truth table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selflearn.fpi.features import Encoder, FeatureSet, build_features, word_edit_ratio
from selflearn.logs.records import Turn

__all__ = [
    "NBEST_NAMES",
    "IntentProbe",
    "NbestBlock",
    "add_nbest",
    "log_features",
    "nbest_features",
    "nbest_for_logs",
    "nlu_probe",
]

# texts -> (intent per text, calibrated confidence per text)
IntentProbe = Callable[[list[str]], tuple[list[str], np.ndarray]]

NBEST_NAMES: tuple[str, ...] = (
    "nb_count",
    "nb_top_share",
    "nb_edit_12",
    "nb_has_slots",
    "nb_slot_mass",
    "nb_slot_alt_differs",
    "nb_next_alt_gain",
    "nb_next_matches_alt",
    "nb_probe_used",
    "nb_probe_top_conf",
    "nb_alt_intent_mass",
    "nb_alt_intent_max_conf",
    "nb_alt_conf_gain",
)


@dataclass(frozen=True)
class NbestBlock:
    """Per-turn n-best features, rows keyed by turn id (so they align with any `FeatureSet`)."""

    turn_ids: list[str]
    values: np.ndarray  # (n, len(NBEST_NAMES)) float32
    names: tuple[str, ...] = NBEST_NAMES


def nlu_probe(model: object) -> IntentProbe:
    """An `IntentProbe` over a fitted `selflearn.assistant.nlu.model.NluModel` (its calibrated
    intent probabilities; slots are not tagged: intent disagreement is the cheap, strong part)."""
    batch = getattr(model, "intent_proba_batch", None)
    classes = getattr(model, "classes_", None)
    if batch is None or classes is None:
        raise TypeError(
            f"{type(model).__name__} is not a fitted NluModel (needs intent_proba_batch, classes_)"
        )

    def probe(texts: list[str]) -> tuple[list[str], np.ndarray]:
        if not texts:
            return [], np.zeros(0, dtype=np.float32)
        p = np.asarray(batch(texts))
        best = p.argmax(axis=1)
        return [str(classes[i]) for i in best], p.max(axis=1).astype(np.float32)

    return probe


def _contains(text: str, value: str) -> bool:
    return f" {value} " in f" {text} "


def nbest_features(turns: Iterable[Turn], probe: IntentProbe | None = None) -> NbestBlock:
    """The n-best block for every turn; `probe` (e.g. `nlu_probe(deployed_nlu)`) adds the
    alternative-intent columns (zeros and nb_probe_used=0 without one)."""
    items = list(turns)
    for t in items:
        if not isinstance(t, Turn):
            raise TypeError(f"nbest_features needs Turn records, got {type(t).__name__}")
    hyps = [[(h.text.lower().strip(), float(h.confidence)) for h in t.asr.nbest] for t in items]
    # the deployment's reading of every distinct hypothesis text, once
    probe_of: dict[str, tuple[str, float]] = {}
    if probe is not None:
        uniq = sorted({h for hs in hyps for h, _ in hs if h})
        intents, confs = probe(uniq)
        if len(intents) != len(uniq) or len(confs) != len(uniq):
            raise ValueError(f"intent probe returned {len(intents)} answers for {len(uniq)} texts")
        probe_of = {u: (i, float(c)) for u, i, c in zip(uniq, intents, confs, strict=True)}
    # next turn within the session, ordered as the log says
    sessions: dict[str, list[int]] = {}
    for i, t in enumerate(items):
        sessions.setdefault(t.session_id, []).append(i)
    nxt: dict[int, int] = {}
    for idx in sessions.values():
        idx.sort(key=lambda i: (items[i].timestamp, items[i].turn_index, items[i].turn_id))
        nxt.update({a: b for a, b in itertools.pairwise(idx)})

    out = np.zeros((len(items), len(NBEST_NAMES)), dtype=np.float32)
    for i, t in enumerate(items):
        hs = hyps[i]
        row = dict.fromkeys(NBEST_NAMES, 0.0)
        row["nb_count"] = float(len(hs))
        total = sum(c for _, c in hs)
        top = hs[0][0] if hs else ""
        row["nb_top_share"] = hs[0][1] / total if hs and total > 0 else 0.0
        row["nb_edit_12"] = word_edit_ratio(top, hs[1][0]) if len(hs) > 1 else 0.0
        values = [s.value.lower().strip() for s in (t.nlu.top.slots if t.nlu.top else []) if s.value.strip()]
        values = [v for v in values if _contains(top, v)]  # slot words as heard (not rewritten)
        row["nb_has_slots"] = float(bool(values))
        if hs and total > 0:
            agree = sum(c for h, c in hs if all(_contains(h, v) for v in values))
            row["nb_slot_mass"] = agree / total
            row["nb_slot_alt_differs"] = float(
                len(hs) > 1 and not all(_contains(hs[1][0], v) for v in values)
            )
        j = nxt.get(i)
        if j is not None and hs:
            nt = items[j].asr.text.lower().strip()
            if nt:
                sim_top = 1.0 - word_edit_ratio(top, nt)
                sim_alt = max((1.0 - word_edit_ratio(h, nt) for h, _ in hs[1:]), default=0.0)
                row["nb_next_alt_gain"] = sim_alt - sim_top
                row["nb_next_matches_alt"] = float(any(h == nt for h, _ in hs[1:]) and nt != top)
        if probe is not None and hs and top:
            row["nb_probe_used"] = 1.0
            top_intent, top_conf = probe_of[top]
            row["nb_probe_top_conf"] = top_conf
            alt = [(probe_of[h], c) for h, c in hs[1:] if h]
            other = [(pc, c) for (pi, pc), c in alt if pi != top_intent]
            row["nb_alt_intent_mass"] = sum(c for _, c in other) / total if total > 0 else 0.0
            row["nb_alt_intent_max_conf"] = max((pc for pc, _ in other), default=0.0)
            row["nb_alt_conf_gain"] = max((pc for (_, pc), _ in alt), default=top_conf) - top_conf
        out[i] = [row[n] for n in NBEST_NAMES]
    return NbestBlock([t.turn_id for t in items], out)


def add_nbest(features: FeatureSet, block: NbestBlock) -> FeatureSet:
    """`features` with the n-best columns appended (matched by turn id; every turn must have a
    row, else the error names the first one missing)."""
    pos = {t: i for i, t in enumerate(block.turn_ids)}
    missing = [t for t in features.turn_ids if t not in pos]
    if missing:
        raise ValueError(f"turn {missing[0]} has no n-best row ({len(missing)} missing)")
    if set(block.names) & set(features.numeric_names):
        raise ValueError("features already carry n-best columns")
    extra = block.values[[pos[t] for t in features.turn_ids]]
    return FeatureSet(
        turn_ids=list(features.turn_ids),
        numeric=np.hstack([features.numeric, extra]).astype(np.float32),
        texts=features.texts,
        numeric_names=(*features.numeric_names, *block.names),
        text_names=features.text_names,
        meta=dict(features.meta),
    )


def nbest_for_logs(logs: str | Path, turn_ids: Sequence[str], probe: IntentProbe | None = None) -> NbestBlock:
    """Read the Turn records of a log folder and build the block (convenience for CLI/benchmark)."""
    from selflearn.logs.io import read_turns

    block = nbest_features(read_turns(logs), probe)
    have = set(block.turn_ids)
    missing = [t for t in turn_ids if t not in have]
    if missing:
        raise ValueError(f"{logs}: turn {missing[0]} of the flat view has no Turn record")
    return block


def log_features(
    logs: str | Path, encoder: Encoder | None = None, probe: IntentProbe | None = None
) -> FeatureSet:
    """Every FPI input of a log folder: the flat-view features (`features.build_features`) with
    the n-best block appended. The one entry point training, the report and the CLI share, so a
    saved model always meets the columns it was trained on."""
    from selflearn.logs.io import read_flat

    feats = build_features(read_flat(logs), encoder=encoder)
    return add_nbest(feats, nbest_for_logs(logs, feats.turn_ids, probe))
