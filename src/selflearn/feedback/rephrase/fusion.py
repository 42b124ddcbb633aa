"""A fused decision head for the contextual span model: its score beside lexical/phonetic features.

Why: the span model reads the dialogue (responses, follow-ups, gaps, confidences) but sees words
only as word pieces, so two recognitions of one utterance that sound alike but share few pieces
("kitten lights" / "kitchen lights") look unrelated to it, which the lexical/phonetic features
(metaphone, soundex and NYSIIS overlap, edit distances) catch directly. Measured on the rephrase
benchmark's splits, neither signal dominates: the span model ranks better on some beds and the
lexical classifier on others. The head learns how much to trust each from sessions the span
network never trained on (its held-out validation sessions), so it cannot learn the network's
in-sample overconfidence.

The head is a small scikit-learn model on [span logit, `pair_features`] chosen like the lexical
baseline chooses its own: logistic regression or gradient-boosted trees, whichever has the better
out-of-fold F1 over session-grouped folds, and the decision threshold is the F1-optimal cut of
those out-of-fold scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from selflearn.feedback.rephrase_baseline import FEATURE_NAMES, best_f1_threshold

__all__ = ["FusionHead", "span_logit"]

MIN_PAIRS = 40  # below this (or with one class per fold) there is nothing to learn a head from


def span_logit(p: np.ndarray) -> np.ndarray:
    """The span model's probability back on its logit scale (clipped so 0 and 1 stay finite)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1.0 - 1e-6)
    return np.log(q / (1.0 - q))


def _make(kind: str) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    if kind == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, l2_regularization=1.0, random_state=0
        )
    raise ValueError(f"unknown fusion model {kind!r}")


@dataclass
class FusionHead:
    """fit(span_p, features, labels, groups) -> self; predict_proba(span_p, features) -> (n,)."""

    folds: int = 5

    def fit(
        self, span_p: np.ndarray, features: np.ndarray, labels: np.ndarray, groups: np.ndarray
    ) -> FusionHead:
        from sklearn.model_selection import GroupKFold

        y = np.asarray(labels, dtype=bool)
        x = self._x(span_p, features)
        n_groups = len(set(np.asarray(groups).tolist()))
        if len(y) < MIN_PAIRS or y.all() or not y.any() or n_groups < self.folds:
            raise ValueError(
                f"a fusion head needs >= {MIN_PAIRS} labelled pairs of both kinds in >= {self.folds} "
                f"sessions; got {len(y)} pairs, {int(y.sum())} rephrases, {n_groups} sessions"
            )
        splits = list(GroupKFold(self.folds).split(x, y, groups))
        oof: dict[str, np.ndarray] = {}
        for kind in ("logreg", "hgb"):
            p = np.zeros(len(y))
            for tr, te in splits:
                if y[tr].all() or not y[tr].any():
                    p[te] = y[tr].mean()
                    continue
                p[te] = _make(kind).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
            oof[kind] = p
        self.cv_f1_ = {k: best_f1_threshold(y, p)[1] for k, p in oof.items()}
        self.kind_ = max(self.cv_f1_, key=lambda k: (self.cv_f1_[k], k == "logreg"))
        self.threshold_, self.oof_f1_ = best_f1_threshold(y, oof[self.kind_])
        self.model_ = _make(self.kind_).fit(x, y)
        self.n_pairs_ = len(y)
        return self

    def predict_proba(self, span_p: np.ndarray, features: np.ndarray) -> np.ndarray:
        if len(span_p) == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self.model_.predict_proba(self._x(span_p, features))[:, 1], dtype=np.float64)

    @staticmethod
    def _x(span_p: np.ndarray, features: np.ndarray) -> np.ndarray:
        f = np.asarray(features, dtype=np.float64)
        if f.ndim != 2 or f.shape[1] != len(FEATURE_NAMES) or f.shape[0] != len(span_p):
            raise ValueError(f"features have shape {f.shape}, expected ({len(span_p)}, {len(FEATURE_NAMES)})")
        return np.c_[span_logit(span_p), f]

    def summary(self) -> dict[str, Any]:
        """What the manifest records about the head (the fitted model itself is pickled)."""
        return {
            "kind": self.kind_,
            "threshold": float(self.threshold_),
            "oof_f1": float(self.oof_f1_),
            "cv_f1": {k: float(v) for k, v in self.cv_f1_.items()},
            "n_pairs": int(self.n_pairs_),
            "feature_names": ["span_logit", *FEATURE_NAMES],
        }
