"""The context-aware reranker: a LightGBM classifier that scores each candidate interpretation
of a turn (P(this is what the user meant | context)) and picks the best one.

It overrides the context-free choice only when the best candidate beats it by a margin: most
turns are not ambiguous, and leaving them alone is how the reranker avoids hurting them. Trained
on `selflearn.context.training.build_training_set` rows, i.e. from logs and implicit feedback.

The margin is not a hand-set constant: given the turn groups, `fit` holds out the latest turns,
trains on the earlier ones, and picks the override margin and minimum score that maximise the
net gain on the held-out logs (turns whose logged outcome says the default was wrong and a chosen
alternative right, minus `harm_cost` times the turns where a successful default would be replaced
by an alternative the log marks as unwanted), then refits on everything. `harm_cost` 1 counts
successful turns: a product that weighs breaking a working request above fixing a failed one
raises it (2 roughly doubles the chosen margin and gives up a share of the fixes). Only turns
whose outcome the log shows count (see `fit`). The choice is recorded in `calibration_`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from selflearn.context.features import FEATURE_NAMES
from selflearn.util.atomic import atomic_write_text
from selflearn.util.learner import Learner
from selflearn.util.manifest import ManifestError

__all__ = ["ContextReranker"]

_MARGINS = tuple(round(0.05 * i, 2) for i in range(11))  # 0.0 .. 0.5
_MIN_PROBS = (0.3, 0.4, 0.5, 0.6)


class ContextReranker(Learner):
    """fit(x, y) -> self; predict_proba(x); choose(x) -> index of the candidate to execute.

    Row 0 of a turn's candidate matrix is the context-free default; `choose` returns 0 unless
    another candidate scores at least `margin_` higher and at least `min_prob_` (calibrated on
    held-out turns when `fit` gets the turn groups; else the constructor's `margin`, `min_prob`).
    """

    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        reg_lambda: float = 1.0,
        feature_fraction: float = 0.8,
        margin: float = 0.15,
        min_prob: float = 0.4,
        seed: int = 0,
        calibrate: bool = True,
        holdout: float = 0.25,
        harm_cost: float = 1.0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.feature_fraction = feature_fraction
        self.margin = margin
        self.min_prob = min_prob
        self.seed = seed
        self.calibrate = calibrate
        self.holdout = holdout
        self.harm_cost = harm_cost

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        group: np.ndarray | None = None,
        observed: np.ndarray | None = None,
    ) -> ContextReranker:
        """Train on candidate rows. `group` (row -> turn index, turns in time order, each turn's
        first row its default, as `TrainingSet.group`) enables the held-out margin calibration;
        without it the constructor's `margin` and `min_prob` are used. `observed` (per row, as
        `TrainingSet.observed`) restricts the calibration to turns whose outcome the log shows:
        a silent session end is success or abandonment, and counting it as success would make
        every override of it look like harm."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"x must have shape (n, {len(FEATURE_NAMES)}), got {x.shape}")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
        if len(np.unique(y)) < 2:
            raise ValueError(
                "the training set needs both positive and negative candidates; "
                f"got {x.shape[0]} rows of one label (too few logged days?)"
            )
        self.margin_, self.min_prob_ = self.margin, self.min_prob
        self.calibration_: dict[str, Any] | None = None
        if group is not None and self.calibrate:
            group = np.asarray(group)
            if group.shape[0] != x.shape[0]:
                raise ValueError(f"group has {group.shape[0]} rows but x has {x.shape[0]}")
            if observed is not None and np.asarray(observed).shape[0] != x.shape[0]:
                raise ValueError(f"observed has {np.asarray(observed).shape[0]} rows but x has {x.shape[0]}")
            self.calibration_ = self._calibrate(x, y, sample_weight, group, observed)
            if self.calibration_ is not None:
                self.margin_ = float(self.calibration_["margin"])
                self.min_prob_ = float(self.calibration_["min_prob"])
        self.booster_ = self._train(x, y, sample_weight)
        self.n_rows_ = int(x.shape[0])
        self.positive_rate_ = float(y.mean())
        return self

    def _calibrate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray | None,
        group: np.ndarray,
        observed: np.ndarray | None = None,
    ) -> dict[str, Any] | None:
        """Held-out choice of (margin, min_prob); None when the split leaves too little data."""
        turns = np.unique(group)
        if len(turns) < 20:
            return None
        cut = turns[int(len(turns) * (1.0 - self.holdout))]
        tr, te = group < cut, group >= cut
        if len(np.unique(y[tr])) < 2:
            return None
        booster = self._train(x[tr], y[tr], None if w is None else np.asarray(w)[tr])
        p = np.asarray(booster.predict(x[te]), dtype=np.float64)
        yt, gt = y[te], group[te]
        ot = np.ones(len(gt), dtype=bool) if observed is None else np.asarray(observed, dtype=bool)[te]
        # per held-out turn with alternatives: default score/label, best alternative score/label
        starts = np.flatnonzero(np.r_[True, gt[1:] != gt[:-1]])
        ends = np.r_[starts[1:], len(gt)]
        rows = []
        for a, b in zip(starts, ends, strict=True):
            if b - a < 2 or not ot[a]:
                continue
            j = a + 1 + int(np.argmax(p[a + 1 : b]))
            rows.append((p[a], yt[a], p[j], yt[j]))
        if not rows:
            return None
        arr = np.asarray(rows)
        p0, y0, pj, yj = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
        best: tuple[float, float, float, int, int] | None = None
        for mp in _MIN_PROBS:
            for mg in _MARGINS:
                over = (pj >= mp) & (pj - p0 >= mg)
                fixed = int(np.sum(over & (y0 == 0) & (yj == 1)))
                harmed = int(np.sum(over & (y0 == 1) & (yj == 0)))
                net = fixed - self.harm_cost * harmed
                # ties: the more conservative setting (fewer overrides of unseen turns)
                key = (net, mg + mp)
                if best is None or key > (best[0], best[1] + best[2]):
                    best = (net, mg, mp, fixed, harmed)
        assert best is not None
        return {
            "margin": best[1],
            "min_prob": best[2],
            "heldout_turns": len(turns) - int(np.searchsorted(turns, cut)),
            "heldout_turns_with_alternatives": len(rows),
            "heldout_fixed": best[3],
            "heldout_harmed": best[4],
        }

    def _train(self, x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> Any:
        import lightgbm as lgb

        params = {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "feature_fraction": self.feature_fraction,
            "bagging_seed": self.seed,
            "feature_fraction_seed": self.seed,
            "verbose": -1,
            "seed": self.seed,
            "num_threads": 1,
            "deterministic": True,
        }
        ds = lgb.Dataset(x, label=y, weight=sample_weight, feature_name=list(FEATURE_NAMES))
        return lgb.train(params, ds, num_boost_round=self.n_estimators)

    def _check(self) -> None:
        self.check_fitted()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self._check()
        x = np.asarray(x, dtype=np.float64)
        if x.shape[0] == 0:
            return np.zeros(0)
        return np.asarray(self.booster_.predict(x), dtype=np.float64)

    def choose(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        """(index of the candidate to execute, scores) for one turn's candidate matrix."""
        p = self.predict_proba(x)
        if p.shape[0] <= 1:
            return 0, p
        best = int(np.argmax(p))
        margin = getattr(self, "margin_", self.margin)
        min_prob = getattr(self, "min_prob_", self.min_prob)
        if best != 0 and p[best] >= min_prob and p[best] - p[0] >= margin:
            return best, p
        return 0, p

    def feature_importance(self) -> dict[str, float]:
        self._check()
        gain = self.booster_.feature_importance(importance_type="gain")
        return {n: float(g) for n, g in zip(FEATURE_NAMES, gain, strict=True)}

    def save(self, path: str | Path) -> Path:
        self._check()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path / "model.txt", self.booster_.model_to_string())
        return self.write_manifest(
            path,
            features=list(FEATURE_NAMES),
            n_rows=self.n_rows_,
            positive_rate=self.positive_rate_,
            margin=self.margin_,
            min_prob=self.min_prob_,
            calibration=self.calibration_,
        )

    @classmethod
    def load(cls, path: str | Path) -> ContextReranker:
        import lightgbm as lgb

        path = Path(path)
        m = cls.read_manifest(path)
        if m.get("features") != list(FEATURE_NAMES):
            raise ManifestError(f"{path}: model was trained on other features; retrain it")
        obj: ContextReranker = cls.from_manifest(m)
        obj.booster_ = lgb.Booster(model_str=(path / "model.txt").read_text())
        obj.n_rows_ = int(m["n_rows"])
        obj.positive_rate_ = float(m["positive_rate"])
        obj.margin_ = float(m.get("margin", obj.margin))
        obj.min_prob_ = float(m.get("min_prob", obj.min_prob))
        obj.calibration_ = m.get("calibration")
        return obj
