"""The rules baseline: blame the stage whose error code or low confidence says it failed.

This is what a team does before it has a model: a stage error code names its stage (wake false
trigger, no text, no or low-confidence intent, unresolved entity, failed action); a turn without
a code is blamed on the least confident of recognition and understanding when the person showed
dissatisfaction (barge-in, negative feedback, or saying nearly the same thing again right away),
and a weak wake score with nothing understood is a false wake. Otherwise the turn is correct.
`fit` only tunes the few thresholds on a small grid (accuracy on the training turns), so the
baseline is not handicapped by guessed numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from selflearn.fpi.features import FeatureSet

__all__ = ["RuleThresholds", "RulesFpi"]


@dataclass(frozen=True)
class RuleThresholds:
    wake: float = 0.6  # wake score below this with no understood intent: false wake
    asr: float = 0.6  # ASR confidence below this on a dissatisfied turn: recognition
    retry_cos: float = 0.8  # next request this similar (MiniLM cosine): a retry


class RulesFpi:
    """Error codes and confidences -> failure point; `fit(features, labels)` tunes thresholds."""

    def __init__(self, thresholds: RuleThresholds | None = None, tune: bool = True) -> None:
        self.thresholds = thresholds
        self.tune = tune

    def fit(self, features: FeatureSet, labels: list[str]) -> RulesFpi:
        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
        best = self.thresholds or RuleThresholds()
        if self.tune and len(labels):
            y = np.asarray(labels)
            score = -1.0
            for w, a, c in itertools.product((0.5, 0.6, 0.7, 0.8), (0.4, 0.6, 0.8, 0.9), (0.7, 0.8, 0.9)):
                th = RuleThresholds(w, a, c)
                acc = float(np.mean(self._predict(features, th) == y))
                if acc > score:
                    best, score = th, acc
        self.thresholds_ = best
        return self

    def predict(self, features: FeatureSet) -> np.ndarray:
        th = getattr(self, "thresholds_", None) or self.thresholds or RuleThresholds()
        return self._predict(features, th)

    @staticmethod
    def _predict(features: FeatureSet, th: RuleThresholds) -> np.ndarray:
        col = {n: features.numeric[:, i] for i, n in enumerate(features.numeric_names)}
        n = len(features)
        out = np.full(n, "correct", dtype=object)
        dissatisfied = (
            (col["barge_in"] > 0)
            | (col["explicit_negative"] > 0)
            | ((col["next_exists"] > 0) & (col["next_cos"] >= th.retry_cos))
        )
        blame_asr = col["asr_confidence"] < th.asr
        out[dissatisfied & blame_asr] = "asr"
        out[dissatisfied & ~blame_asr] = "nlu"
        # error codes name their stage (later stages first, so the earliest code wins)
        for names, stage in (
            (("error_action-failed", "error_action-unsupported", "error_action-missing-slot"), "result"),
            (("error_er-unresolved", "error_er-ambiguous"), "entity_resolution"),
            (("error_nlu-no-intent", "error_nlu-low-confidence"), "nlu"),
            (("error_asr-no-text",), "asr"),
        ):
            hit = np.zeros(n, dtype=bool)
            for name in names:
                hit |= col[name] > 0
            out[hit] = stage
        weak_wake = (col["wake_score"] < th.wake) & (
            (col["nlu_has_intent"] == 0) | (col["error_nlu-low-confidence"] > 0)
        )
        out[(col["error_wake-false-trigger"] > 0) | weak_wake] = "false_wake"
        return out.astype(str)
