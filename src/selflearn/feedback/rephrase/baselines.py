"""Baselines the contextual span model is measured against (same splits, same `PairScorer` API).

(a) is `feedback.rephrase_baseline.LexicalPhoneticRephraseDetector`. Here:

(b) `EmbeddingCosineDetector`: cosine similarity of the two requests' MiniLM sentence embeddings,
    with the F1-optimal threshold tuned on the training pairs;
(c) `PairwiseTextClassifier`: a logistic regression on the two requests only (embedding product,
    absolute difference and cosine), no context, no log signals;
(d) `TimeGapBargeInRule`: "b rephrases a when it comes within T seconds, at hop <= H, after a
    shows defect evidence E", with (T, H, E) chosen on the training pairs by F1.

Each learns from labels passed in as data and reads only `PAIRS_SCHEMA` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from selflearn.feedback.rephrase_baseline import best_f1_threshold
from selflearn.util.learner import Learner


def _labels(pairs: pa.Table, labels: np.ndarray | Sequence[bool]) -> np.ndarray:
    y = np.asarray(labels, dtype=bool)
    if y.shape != (pairs.num_rows,):
        raise ValueError(f"labels has shape {y.shape}, expected ({pairs.num_rows},)")
    if y.all() or not y.any():
        raise ValueError("labels must contain both rephrases and non-rephrases")
    return y


def _texts(pairs: pa.Table, name: str) -> list[str]:
    if name not in pairs.column_names:
        raise KeyError(f"pairs table lacks column {name!r}; expected feedback.pairs.PAIRS_SCHEMA")
    return [str(t) for t in pc.fill_null(pairs.column(name), "").to_pylist()]


def _embed_pairs(pairs: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings of text_a and text_b (each distinct text encoded once)."""
    from selflearn.text.encoder import encode

    ta, tb = _texts(pairs, "text_a"), _texts(pairs, "text_b")
    uniq = list(dict.fromkeys(ta + tb))
    vec = encode(uniq)
    where = {t: i for i, t in enumerate(uniq)}
    return vec[[where[t] for t in ta]], vec[[where[t] for t in tb]]


class EmbeddingCosineDetector:
    """(b) P = cosine of the sentence embeddings (clipped to [0, 1]); threshold tuned by F1."""

    def fit(self, pairs: pa.Table, labels: np.ndarray | Sequence[bool]) -> EmbeddingCosineDetector:
        y = _labels(pairs, labels)
        self.threshold_, self.train_f1_ = best_f1_threshold(y, self.predict_proba(pairs))
        return self

    def predict_proba(self, pairs: pa.Table) -> np.ndarray:
        if pairs.num_rows == 0:
            return np.zeros(0, dtype=np.float64)
        ea, eb = _embed_pairs(pairs)
        return np.clip(np.sum(ea * eb, axis=1), 0.0, 1.0).astype(np.float64)

    def predict(self, pairs: pa.Table, threshold: float | None = None) -> np.ndarray:
        return self.predict_proba(pairs) >= (self.threshold_ if threshold is None else threshold)


def _pair_vectors(pairs: pa.Table) -> np.ndarray:
    ea, eb = _embed_pairs(pairs)
    cos = np.sum(ea * eb, axis=1, keepdims=True)
    return np.hstack([ea * eb, np.abs(ea - eb), cos]).astype(np.float64)


class PairwiseTextClassifier:
    """(c) Logistic regression on the two request texts alone (no context, no log signals).

    `threshold_` is F1-optimal on out-of-fold training scores (3-fold), as for baseline (a)."""

    def __init__(self, C: float = 1.0, cv: int = 3, random_state: int = 0) -> None:
        self.C = C
        self.cv = cv
        self.random_state = random_state

    def fit(self, pairs: pa.Table, labels: np.ndarray | Sequence[bool]) -> PairwiseTextClassifier:
        y = _labels(pairs, labels)
        x = _pair_vectors(pairs)
        oof = np.zeros(len(y))
        n_splits = min(self.cv, int(y.sum()), int((~y).sum()))
        if n_splits >= 2:
            skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            for tr, te in skf.split(x, y):
                oof[te] = self._model().fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
        self.estimator_ = self._model().fit(x, y)
        if n_splits < 2:
            oof = self.estimator_.predict_proba(x)[:, 1]
        self.threshold_, self.train_f1_ = best_f1_threshold(y, oof)
        return self

    def _model(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, max_iter=2000)

    def predict_proba(self, pairs: pa.Table) -> np.ndarray:
        if not hasattr(self, "estimator_"):
            raise RuntimeError("PairwiseTextClassifier is not fitted; call fit()")
        if pairs.num_rows == 0:
            return np.zeros(0, dtype=np.float64)
        return np.asarray(self.estimator_.predict_proba(_pair_vectors(pairs))[:, 1], dtype=np.float64)

    def predict(self, pairs: pa.Table, threshold: float | None = None) -> np.ndarray:
        return self.predict_proba(pairs) >= (self.threshold_ if threshold is None else threshold)


EVIDENCE = ("none", "barge_in", "barge_in_or_error")
"""Defect evidence the rule may require of a: nothing, a barge-in, or a barge-in or stage error."""


@dataclass(frozen=True)
class Rule:
    max_gap_s: float
    max_hop: int
    evidence: str


class TimeGapBargeInRule(Learner):
    """(d) A hand-shaped rule over time gap, hop and a's barge-in/error; its three knobs are
    chosen by F1 on the training pairs. Scores are 1.0 (rephrase) or 0.0."""

    GAPS: tuple[float, ...] = (3.0, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)

    def fit(self, pairs: pa.Table, labels: np.ndarray | Sequence[bool]) -> TimeGapBargeInRule:
        y = _labels(pairs, labels)
        best: tuple[float, Rule] | None = None
        for gap in self.GAPS:
            for hop in (1, 2):
                for ev in EVIDENCE:
                    rule = Rule(gap, hop, ev)
                    f1 = best_f1_threshold(y, self._apply(pairs, rule))[1]
                    if best is None or f1 > best[0]:
                        best = (f1, rule)
        assert best is not None
        self.train_f1_, self.rule_ = best
        self.threshold_ = 0.5
        return self

    @staticmethod
    def _apply(pairs: pa.Table, rule: Rule) -> np.ndarray:
        gap = np.asarray(pc.fill_null(pairs.column("gap_s"), np.inf).to_numpy(), dtype=np.float64)
        hop = np.asarray(pc.fill_null(pairs.column("hop"), 1).to_numpy(), dtype=np.int64)
        barge = np.asarray(pc.fill_null(pairs.column("barge_in_a"), False).to_numpy(zero_copy_only=False))
        err = np.asarray(pc.fill_null(pairs.column("has_error_a"), False).to_numpy(zero_copy_only=False))
        ok = (gap <= rule.max_gap_s) & (hop <= rule.max_hop)
        if rule.evidence == "barge_in":
            ok &= barge
        elif rule.evidence == "barge_in_or_error":
            ok &= barge | err
        return ok.astype(np.float64)

    def predict_proba(self, pairs: pa.Table) -> np.ndarray:
        self.check_fitted()
        if pairs.num_rows == 0:
            return np.zeros(0, dtype=np.float64)
        return self._apply(pairs, self.rule_)

    def predict(self, pairs: pa.Table, threshold: float | None = None) -> np.ndarray:
        return self.predict_proba(pairs) >= (self.threshold_ if threshold is None else threshold)

    def save(self, path: str | Path) -> Path:
        return self.write_manifest(path, rule=asdict(self.rule_), train_f1=self.train_f1_)

    @classmethod
    def load(cls, path: str | Path) -> TimeGapBargeInRule:
        m = cls.read_manifest(path)
        det: TimeGapBargeInRule = cls.from_manifest(m)
        det.rule_ = Rule(**m["rule"])
        det.train_f1_ = float(m["train_f1"])
        det.threshold_ = 0.5
        return det
