"""Baseline rephrase detectors over candidate pairs: lexical + phonetic similarity and log signals.

A pair (a, b) is a rephrase when b is the same user's new attempt at a's goal. The features use
only what a real log holds: the two texts the NLU read, the time gap, the hop, and a's defect
signals (barge-in, error codes, confidences). Labels come in as data (human labels, or a
simulator's truth table joined by the caller); nothing here reads a truth table.

Texts recur heavily in assistant traffic, so string features are computed once per unique
(text_a, text_b) pair and phonetic codes once per unique token; the string scorers run through
`rapidfuzz.process.cpdist` (C++), the rest is numpy.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import jellyfish
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sklearn
from rapidfuzz import fuzz, process
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_curve
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from selflearn.util.learner import Learner
from selflearn.util.manifest import ManifestError

FEATURE_NAMES: tuple[str, ...] = (
    "ratio",
    "partial_ratio",
    "token_set_ratio",
    "token_sort_ratio",
    "token_jaccard",
    "length_ratio",
    "prefix_char_frac",
    "prefix_tokens",
    "metaphone_ratio",
    "soundex_jaccard",
    "nysiis_jaccard",
    "same_text",
    "log_tokens_a",
    "log_tokens_b",
    "log_gap_s",
    "hop",
    "barge_in_a",
    "barge_in_early",
    "log_response_s_a",
    "has_error_a",
    "same_intent",
    "no_intent_a",
    "no_intent_b",
    "nlu_confidence_a",
    "asr_confidence_a",
    "nlu_confidence_b",
)
"""Columns of `pair_features`, in order. Saved models record them and refuse a mismatch."""

_N_STRING = 14  # the first 14 features depend only on (text_a, text_b)


@runtime_checkable
class PairScorer(Protocol):
    """Anything that scores `PAIRS_SCHEMA` rows with a rephrase probability."""

    def predict_proba(self, pairs: pa.Table) -> np.ndarray: ...


class _Codes:
    """Per-call caches of token phonetic codes (tokens recur far more than texts)."""

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.sdx: dict[str, str] = {}
        self.nys: dict[str, str] = {}

    def metaphone(self, tok: str) -> str:
        c = self.meta.get(tok)
        if c is None:
            # Numbers and symbols have no metaphone code; keep them literally so "10" != "12".
            c = jellyfish.metaphone(tok) or tok
            self.meta[tok] = c
        return c

    def soundex(self, tok: str) -> str:
        c = self.sdx.get(tok)
        if c is None:
            c = jellyfish.soundex(tok) if tok[:1].isalpha() else tok
            self.sdx[tok] = c
        return c

    def nysiis(self, tok: str) -> str:
        c = self.nys.get(tok)
        if c is None:
            c = (jellyfish.nysiis(tok) or tok) if tok[:1].isalpha() else tok
            self.nys[tok] = c
        return c


def _jaccard(x: frozenset[str], y: frozenset[str]) -> float:
    if not x and not y:
        return 1.0
    return len(x & y) / len(x | y)


def _string_features(texts_a: list[str], texts_b: list[str]) -> np.ndarray:
    """The text-only features for aligned lists of unique pairs: shape (n, _N_STRING)."""
    n = len(texts_a)
    out = np.zeros((n, _N_STRING), dtype=np.float64)
    if n == 0:
        return out
    for j, scorer in enumerate((fuzz.ratio, fuzz.partial_ratio, fuzz.token_set_ratio, fuzz.token_sort_ratio)):
        out[:, j] = process.cpdist(texts_a, texts_b, scorer=scorer, dtype=np.float32) / 100.0
    # Per unique text: tokens and phonetic code sets/strings.
    codes = _Codes()
    info: dict[str, tuple[tuple[str, ...], frozenset[str], str, frozenset[str], frozenset[str]]] = {}
    for t in set(texts_a) | set(texts_b):
        toks = tuple(t.split())
        info[t] = (
            toks,
            frozenset(toks),
            " ".join(codes.metaphone(w) for w in toks),
            frozenset(codes.soundex(w) for w in toks),
            frozenset(codes.nysiis(w) for w in toks),
        )
    meta_a = [info[t][2] for t in texts_a]
    meta_b = [info[t][2] for t in texts_b]
    out[:, 8] = process.cpdist(meta_a, meta_b, scorer=fuzz.ratio, dtype=np.float32) / 100.0
    prefix = os.path.commonprefix
    for i, (ta, tb) in enumerate(zip(texts_a, texts_b, strict=True)):
        ia, ib = info[ta], info[tb]
        la, lb = len(ta), len(tb)
        out[i, 4] = _jaccard(ia[1], ib[1])
        out[i, 5] = min(la, lb) / max(la, lb) if max(la, lb) else 1.0
        out[i, 6] = len(prefix([ta, tb])) / min(la, lb) if min(la, lb) else 0.0
        out[i, 7] = len(prefix([ia[0], ib[0]]))
        out[i, 9] = _jaccard(ia[3], ib[3])
        out[i, 10] = _jaccard(ia[4], ib[4])
        out[i, 11] = float(ta == tb)
        out[i, 12] = np.log1p(len(ia[0]))
        out[i, 13] = np.log1p(len(ib[0]))
    return out


def _np(col: pa.ChunkedArray, fill: Any, dtype: Any) -> np.ndarray:
    return np.asarray(pc.fill_null(col, fill).to_numpy(zero_copy_only=False), dtype=dtype)


def pair_features(pairs: pa.Table) -> np.ndarray:
    """Feature matrix (n_pairs, len(FEATURE_NAMES)) for `PAIRS_SCHEMA` rows.

    String features are computed per unique (text_a, text_b) and broadcast back, which is what
    makes 100k pairs take seconds: real traffic repeats the same few thousand requests.
    """
    n = pairs.num_rows
    x = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float64)
    if n == 0:
        return x
    ta = pc.fill_null(pairs.column("text_a").cast(pa.string()), "").combine_chunks()
    tb = pc.fill_null(pairs.column("text_b").cast(pa.string()), "").combine_chunks()
    vocab = pc.unique(pa.concat_arrays([ta, tb]))
    ca = np.asarray(pc.index_in(ta, value_set=vocab).to_numpy(), dtype=np.int64)
    cb = np.asarray(pc.index_in(tb, value_set=vocab).to_numpy(), dtype=np.int64)
    key = ca * len(vocab) + cb
    ukey, inverse = np.unique(key, return_inverse=True)
    words = vocab.to_pylist()
    ua = [words[k] for k in (ukey // len(vocab)).tolist()]
    ub = [words[k] for k in (ukey % len(vocab)).tolist()]
    x[:, :_N_STRING] = _string_features(ua, ub)[inverse.reshape(-1)]

    gap = _np(pairs.column("gap_s"), 0.0, np.float64)
    hop = _np(pairs.column("hop"), 1, np.float64)
    barge = _np(pairs.column("barge_in_a"), False, bool)
    dur = _np(pairs.column("response_duration_ms_a"), 0, np.float64)
    off = _np(pairs.column("barge_in_offset_ms_a"), -1, np.float64)
    frac = np.where((off >= 0) & (dur > 0), np.clip(off / np.maximum(dur, 1.0), 0.0, 1.0), 0.5)
    intent_a = pairs.column("nlu_intent_a")
    intent_b = pairs.column("nlu_intent_b")
    same_intent = _np(pc.equal(intent_a, intent_b), False, bool)
    x[:, 14] = np.log1p(np.maximum(gap, 0.0))
    x[:, 15] = hop
    x[:, 16] = barge
    x[:, 17] = np.where(barge, 1.0 - frac, 0.0)  # early barge-in: the user did not wait to hear
    x[:, 18] = np.log1p(np.maximum(dur, 0.0) / 1000.0)
    x[:, 19] = _np(pairs.column("has_error_a"), False, bool)
    x[:, 20] = same_intent
    x[:, 21] = _np(pc.is_null(intent_a), True, bool)
    x[:, 22] = _np(pc.is_null(intent_b), True, bool)
    x[:, 23] = _np(pairs.column("nlu_confidence_a"), 0.0, np.float64)
    x[:, 24] = _np(pairs.column("asr_confidence_a"), 0.0, np.float64)
    x[:, 25] = _np(pairs.column("nlu_confidence_b"), 0.0, np.float64)
    return x


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of `p >= threshold` on labels `y`."""
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return 0.5, float(f1_score(y, p >= 0.5, zero_division=0.0))
    prec, rec, thr = precision_recall_curve(y, p)
    f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
    k = int(np.argmax(f1))
    return float(thr[k]), float(f1[k])


def _check_features(path: Path, m: dict[str, Any]) -> dict[str, Any]:
    if m.get("feature_names") is not None and tuple(m["feature_names"]) != FEATURE_NAMES:
        raise ManifestError(f"{path} was saved with other features; retrain it with this version")
    return m


class LexicalPhoneticRephraseDetector(Learner):
    """Supervised rephrase detector: lexical/phonetic similarity + log signals -> P(rephrase).

    `model` is "hgb" (HistGradientBoosting), "logreg" (scaled LogisticRegression) or "auto" (both
    are cross-validated on the training pairs and the one with the higher out-of-fold F1 is kept).
    `threshold_` is the F1-optimal cut on out-of-fold training scores, so it is not fitted to
    in-sample (over-confident) probabilities. `n_threads` caps OpenMP threads in fit and predict
    (default 1: job steps run one per core, and oversubscribed OpenMP spin-waits are ruinous on a
    shared machine); None leaves the library default.
    """

    def __init__(
        self,
        model: str = "auto",
        cv: int = 3,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 31,
        l2_regularization: float = 0.0,
        C: float = 1.0,
        random_state: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.model = model
        self.cv = cv
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.l2_regularization = l2_regularization
        self.C = C
        self.random_state = random_state
        self.n_threads = n_threads

    def _make(self, kind: str) -> Any:
        if kind == "hgb":
            return HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                l2_regularization=self.l2_regularization,
                random_state=self.random_state,
            )
        if kind == "logreg":
            return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=2000))
        raise ValueError(f"unknown model {kind!r}; use 'hgb', 'logreg' or 'auto'")

    def fit(self, pairs: pa.Table, labels: np.ndarray | Sequence[bool]) -> LexicalPhoneticRephraseDetector:
        """Learn from scored pairs (`PAIRS_SCHEMA`) and one boolean label per row (True: rephrase)."""
        y = np.asarray(labels, dtype=bool)
        if y.shape != (pairs.num_rows,):
            raise ValueError(f"labels has shape {y.shape}, expected ({pairs.num_rows},)")
        if y.all() or not y.any():
            raise ValueError("labels must contain both rephrases and non-rephrases")
        kinds = ["hgb", "logreg"] if self.model == "auto" else [self.model]
        for k in kinds:
            self._make(k)  # validates the name before any work
        x = pair_features(pairs)
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            self._fit_models(x, y, kinds)
        return self

    def _fit_models(self, x: np.ndarray, y: np.ndarray, kinds: list[str]) -> None:
        n_splits = min(self.cv, int(y.sum()), int((~y).sum()))
        self.cv_f1_: dict[str, float] = {}
        oof: dict[str, np.ndarray] = {}
        if n_splits >= 2:
            skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            for k in kinds:
                p = np.zeros(len(y))
                for tr, te in skf.split(x, y):
                    p[te] = self._make(k).fit(x[tr], y[tr]).predict_proba(x[te])[:, 1]
                oof[k] = p
                self.cv_f1_[k] = best_f1_threshold(y, p)[1]
            best = max(kinds, key=lambda k: (self.cv_f1_[k], k == "hgb"))
        else:  # too few labels to cross-validate: tune on in-sample scores
            best = kinds[0]
        self.model_kind_ = best
        self.estimator_ = self._make(best).fit(x, y)
        p_tune = oof[best] if best in oof else self.estimator_.predict_proba(x)[:, 1]
        self.threshold_, self.train_f1_ = best_f1_threshold(y, p_tune)
        self.n_train_ = len(y)
        self.feature_names_ = FEATURE_NAMES

    def _check(self) -> None:
        self.check_fitted()

    def predict_proba(self, pairs: pa.Table) -> np.ndarray:
        """P(b is a rephrase of a) per row, shape (n,)."""
        self._check()
        if pairs.num_rows == 0:
            return np.zeros(0, dtype=np.float64)
        x = pair_features(pairs)
        with threadpool_limits(limits=self.n_threads, user_api="openmp"):
            p = self.estimator_.predict_proba(x)[:, 1]
        return np.asarray(p, dtype=np.float64)

    def predict(self, pairs: pa.Table, threshold: float | None = None) -> np.ndarray:
        """Boolean rephrase decision per row at `threshold` (default: the tuned `threshold_`)."""
        self._check()
        return self.predict_proba(pairs) >= (self.threshold_ if threshold is None else threshold)

    def save(self, path: str | Path) -> Path:
        """Write manifest.json (config, learned scalars, versions) and model.pkl under `path`."""
        self._check()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "model.pkl.tmp", "wb") as fh:
            pickle.dump(self.estimator_, fh)
        (path / "model.pkl.tmp").replace(path / "model.pkl")
        return self.write_manifest(
            path,
            model_kind=self.model_kind_,
            threshold=self.threshold_,
            train_f1=self.train_f1_,
            cv_f1=self.cv_f1_,
            n_train=self.n_train_,
            feature_names=list(FEATURE_NAMES),
            versions={"sklearn": sklearn.__version__, "numpy": np.__version__},
        )

    @classmethod
    def load(cls, path: str | Path) -> LexicalPhoneticRephraseDetector:
        """Inverse of `save`. The pickle is trusted: load only artifacts this system wrote."""
        path = Path(path)
        m = _check_features(path, cls.read_manifest(path))
        det = cls.from_manifest(m)
        with open(path / "model.pkl", "rb") as fh:
            det.estimator_ = pickle.load(fh)
        det.model_kind_ = m["model_kind"]
        det.threshold_ = float(m["threshold"])
        det.train_f1_ = float(m["train_f1"])
        det.cv_f1_ = {k: float(v) for k, v in m["cv_f1"].items()}
        det.n_train_ = int(m["n_train"])
        det.feature_names_ = FEATURE_NAMES
        return det


class HeuristicRephraseDetector(Learner):
    """Hand-set rephrase score for when no labelled pairs exist yet.

    P = sigmoid(bias + w_sim*similarity + w_defect*defect_evidence - w_gap*log1p(gap_s)
    - w_hop*(hop-1) + w_same_intent*same_intent - w_repeat_no_defect*[same text, no defect]),
    where similarity blends surface, token and phonetic similarity (so both paraphrases and
    misrecognitions score high) and defect evidence is the strongest sign that a went wrong (early
    barge-in, error code, no/low-confidence intent). The steep similarity weight keeps unrelated
    requests after a failure out (a user moving on is not rephrasing), and identical text with no
    defect evidence stays below 0.5: repeating a request that worked ("volume up" twice) is not a
    rephrase. Defaults were set on hand-picked obvious cases first, synthetic F1 second.
    """

    def __init__(
        self,
        bias: float = -10.0,
        w_similarity: float = 14.0,
        w_defect: float = 4.5,
        w_gap: float = 0.8,
        w_hop: float = 1.0,
        w_same_intent: float = 0.5,
        w_repeat_no_defect: float = 4.5,
        low_confidence: float = 0.6,
        threshold: float = 0.5,
    ) -> None:
        self.bias = bias
        self.w_similarity = w_similarity
        self.w_defect = w_defect
        self.w_gap = w_gap
        self.w_hop = w_hop
        self.w_same_intent = w_same_intent
        self.w_repeat_no_defect = w_repeat_no_defect
        self.low_confidence = low_confidence
        self.threshold = threshold

    def __sklearn_tags__(self) -> Any:
        # Hand-set: it scores without being fitted (scikit-learn's "stateless" tag).
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def fit(self, pairs: pa.Table | None = None, labels: Any = None) -> HeuristicRephraseDetector:
        """Nothing to learn; sets `threshold_` so both detectors read alike."""
        self.threshold_ = float(self.threshold)
        return self

    def predict_proba(self, pairs: pa.Table) -> np.ndarray:
        if pairs.num_rows == 0:
            return np.zeros(0, dtype=np.float64)
        x = pair_features(pairs)
        f = {name: x[:, i] for i, name in enumerate(FEATURE_NAMES)}
        surface = np.maximum(f["ratio"], f["token_sort_ratio"])
        sim = 0.45 * surface + 0.25 * f["token_set_ratio"] + 0.3 * f["metaphone_ratio"]
        # Confidence below `low_confidence` counts as evidence, scaled to 1 at confidence 0.
        low_conf = np.clip((self.low_confidence - f["nlu_confidence_a"]) / self.low_confidence, 0.0, 1.0)
        barge = np.where(f["barge_in_a"] > 0, 0.5 + 0.5 * f["barge_in_early"], 0.0)
        defect = np.maximum.reduce([barge, f["has_error_a"], f["no_intent_a"], low_conf])
        z = (
            self.bias
            + self.w_similarity * sim
            + self.w_defect * defect
            - self.w_gap * f["log_gap_s"]
            - self.w_hop * (f["hop"] - 1.0)
            + self.w_same_intent * f["same_intent"]
            - self.w_repeat_no_defect * f["same_text"] * (defect == 0)
        )
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float64)

    def predict(self, pairs: pa.Table, threshold: float | None = None) -> np.ndarray:
        return self.predict_proba(pairs) >= (self.threshold if threshold is None else threshold)

    def save(self, path: str | Path) -> Path:
        return self.write_manifest(path)

    @classmethod
    def load(cls, path: str | Path) -> HeuristicRephraseDetector:
        det: HeuristicRephraseDetector = cls.from_manifest(cls.read_manifest(path))
        return det.fit()
