"""The assistant's trained NLU: a calibrated intent classifier plus a CRF slot tagger.

Intent: TF-IDF over word 1-2grams and char_wb 2-5grams (robust to recognition errors inside
words) feeding a multinomial logistic regression (saga, stopped at tol=1e-2: scipy's L-BFGS takes
seconds per fit on a features x intents problem, and the loose tolerance costs no accuracy on SLURP
once calibrated). Its softmax is temperature-scaled with a temperature fitted on out-of-fold
scores, so a confidence of 0.7 means right about 70% of the time: the pipeline's low-confidence
threshold and the learners downstream read these numbers. A linear SVM (``classifier=
"linear_svm"``) is as accurate and a little faster to train, but its margins calibrate worse.

Slots: a linear-chain CRF (python-crfsuite) over IO tags (``I-<slot>`` / ``O``) with lexical, shape
and context features, plus the intent conjoined with the word and its left neighbour. IO rather
than BIO: it halves the label set, and crfsuite's cost grows with its square (2.5x faster training
and tagging), while two same-type slots side by side, the one thing IO cannot separate, are 0.5%
of SLURP's entities; BIO is a config switch (``tag_scheme="bio"``). The CRF is trained with
passive-aggressive updates (10 epochs): as accurate as L-BFGS here at a tenth of the time.

The tagger runs once per n-best intent, conditioned on that intent, so every hypothesis carries
the slots that make sense for it ("play X" is a song for play_music, a station for play_radio); a
reranker or a fallback to hypothesis 2 then gets a consistent frame instead of the top intent's
slots. Tagging a short request takes ~50 microseconds, so n taggings stay inside the budget.

Prediction avoids scikit-learn's per-call overhead: the fitted vocabularies, idf weights and
coefficients are applied directly (and `save` stores exactly these arrays, no pickles), and
results are memoised per text because real traffic repeats itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import platform
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pycrfsuite
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedGroupKFold
from sklearn.svm import LinearSVC

import selflearn
from selflearn.contracts.nlu_examples import ExampleLike
from selflearn.logs.records import NluHypothesis, Slot
from selflearn.text.numbers import NUMBER_WORDS
from selflearn.util.atomic import atomic_dir
from selflearn.util.learner import Learner

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_VOCAB = "intent_vocab.json"
_WEIGHTS = "intent_weights.npz"
_CRF = "slots.crfsuite"

# spaCy-like splits of clitics ("john's" -> john 's, "can't" -> ca n't) so that entity
# boundaries in SLURP-style data fall on token boundaries
_TOKEN = re.compile(r"\w+(?=n't\b)|n't\b|'\w+|\w+|[^\w\s]")
_WORD_PATTERN = r"(?u)\b\w+\b"  # keep one-letter words ("i", "a"): they carry intent in requests


_SlotTuple = tuple[str, str, int, int]
_HypTuple = tuple[str, float, tuple[_SlotTuple, ...]]


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) with character offsets into ``text``: the tagger's unit."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _shape(w: str) -> str:
    if w.isdigit():
        return "digit"
    if w.isalpha():
        return "alpha"
    if w[0] == "'":
        return "clitic"
    if any(c.isdigit() for c in w):
        return "alnum"
    return "punct"


def _base_features(words: Sequence[str]) -> list[list[str]]:
    """Intent-independent features per token (lower-cased words)."""
    n = len(words)
    out: list[list[str]] = []
    for i, w in enumerate(words):
        prev1 = words[i - 1] if i >= 1 else "<s>"
        prev2 = words[i - 2] if i >= 2 else "<s>"
        next1 = words[i + 1] if i + 1 < n else "</s>"
        next2 = words[i + 2] if i + 2 < n else "</s>"
        f = [
            "w=" + w,
            "p2=" + w[:2],
            "p3=" + w[:3],
            "s2=" + w[-2:],
            "s3=" + w[-3:],
            "shape=" + _shape(w),
            "w-1=" + prev1,
            "w-2=" + prev2,
            "w+1=" + next1,
            "w+2=" + next2,
            "w-1w=" + prev1 + "|" + w,
            "ww+1=" + w + "|" + next1,
            "w-1w+1=" + prev1 + "|" + next1,
        ]
        if w in NUMBER_WORDS or w.isdigit():
            f.append("num")
        if i == 0:
            f.append("BOS")
        if i == n - 1:
            f.append("EOS")
        out.append(f)
    return out


def _with_intent(base: list[list[str]], words: Sequence[str], intent: str) -> list[list[str]]:
    """Conjoin the intent with the token and its left neighbour: the same word is a different slot
    under different intents, and the CRF has no other way to know which intent it tags for."""
    tag = "I=" + intent
    out: list[list[str]] = []
    for i, f in enumerate(base):
        prev = words[i - 1] if i else "<s>"
        out.append([*f, tag, tag + "|w=" + words[i], tag + "|w-1=" + prev])
    return out


def _span_labels(
    tokens: Sequence[tuple[str, int, int]], ex: ExampleLike, scheme: str = "bio"
) -> tuple[list[str], int]:
    """BIO (or IO) labels for an example's tokens; slots whose span does not fall on token
    boundaries (or overlaps an earlier slot) cannot be expressed and are counted, not guessed."""
    labels = ["O"] * len(tokens)
    starts = {s: i for i, (_, s, _) in enumerate(tokens)}
    ends = {e: i for i, (_, _, e) in enumerate(tokens)}
    skipped = 0
    for slot in sorted(ex.slots, key=lambda s: (s.start, s.end)):
        i, j = starts.get(slot.start), ends.get(slot.end)
        if i is None or j is None or j < i or any(lab != "O" for lab in labels[i : j + 1]):
            skipped += 1
            continue
        labels[i] = ("B-" if scheme == "bio" else "I-") + slot.name
        for k in range(i + 1, j + 1):
            labels[k] = "I-" + slot.name
    return labels, skipped


def _decode(text: str, tokens: Sequence[tuple[str, int, int]], labels: Sequence[str]) -> list[_SlotTuple]:
    """BIO labels -> (name, value, start, end) spans of the original text. An I- tag that does not
    continue a span of its type opens a new one (CRFs rarely emit it; dropping it would lose a slot)."""
    spans: list[_SlotTuple] = []
    cur: list[Any] | None = None  # [name, start, end]
    for (_, s, e), lab in zip(tokens, labels, strict=True):
        if lab == "O":
            if cur:
                spans.append((cur[0], text[cur[1] : cur[2]], cur[1], cur[2]))
            cur = None
            continue
        kind, _, name = lab.partition("-")
        if kind == "I" and cur is not None and cur[0] == name:
            cur[2] = e
            continue
        if cur:
            spans.append((cur[0], text[cur[1] : cur[2]], cur[1], cur[2]))
        cur = [name, s, e]
    if cur:
        spans.append((cur[0], text[cur[1] : cur[2]], cur[1], cur[2]))
    return spans


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE over equal-width confidence bins: sum over bins of |accuracy - mean confidence|,
    weighted by the bin's share of predictions."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.size == 0:
        return 0.0
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


# On separable training data (a template grammar) the held-out NLL keeps falling as T -> 0 and
# the fit would print confidences of 1 - 1e-90. The floor keeps the sharpening at most 20x; SVM
# margins and logistic logits both calibrate well inside these bounds on SLURP (T = 0.17 / 0.7).
_T_MIN, _T_MAX = 0.05, 20.0


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising held-out negative log-likelihood (Guo et al., 2017)."""

    def nll(log_t: float) -> float:
        z = logits / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(lse - z[np.arange(len(y)), y]))

    res = minimize_scalar(nll, bounds=(math.log(_T_MIN), math.log(_T_MAX)), method="bounded")
    return float(math.exp(res.x))


class NluModel(Learner):
    """Joint intent + slot NLU trained on `Example`s; ``predict`` gives a calibrated n-best of
    `NluHypothesis` with slots as character spans of the input text.

    Parameters (stored as given; checked in `fit`):
      word_ngrams, char_ngrams, char_min_df: the TF-IDF feature sets (char_wb n-grams seen in
        fewer than ``char_min_df`` examples are dropped: they only memorise single requests).
      classifier: "logreg" (multinomial, saga) or "linear_svm"; C, tol, max_iter go to it. The
        default C suits "logreg"; use C~0.5 with "linear_svm".
      calibration: "temperature" (fitted on out-of-fold scores over ``calibration_folds`` folds,
        whole phrasings held out when examples carry a ``template_id``) or "none".
      tag_scheme: "io" or "bio"; crf_algorithm / crf_max_iterations / crf_params: crfsuite training.
      restrict_slots: drop a tagged slot its intent never had in training.
      cache_size: requests memoised by `predict`; n_jobs: threads used by `fit` (1: sequential).
      name: model name written to the log (with the training fingerprint `version_`).
    """

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        char_min_df: int = 2,
        classifier: str = "logreg",
        C: float = 30.0,
        max_iter: int = 1000,
        tol: float = 1e-2,
        calibration: str = "temperature",
        calibration_folds: int = 3,
        tag_scheme: str = "io",
        crf_algorithm: str = "pa",
        crf_max_iterations: int = 10,
        crf_params: dict[str, Any] | None = None,
        restrict_slots: bool = True,
        cache_size: int = 4096,
        n_jobs: int = 2,
        random_state: int = 0,
        name: str = "nlu-tfidf-crf",
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.char_min_df = char_min_df
        self.classifier = classifier
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.tag_scheme = tag_scheme
        self.crf_algorithm = crf_algorithm
        self.crf_max_iterations = crf_max_iterations
        self.crf_params = crf_params
        self.restrict_slots = restrict_slots
        self.cache_size = cache_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.name = name

    manifest_kind = "selflearn.nlu.NluModel"
    manifest_format = FORMAT_VERSION

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> NluModel:
        params = dict(manifest["params"])
        for k in ("word_ngrams", "char_ngrams"):
            params[k] = tuple(params[k])
        return cls(**params)

    def _vectorizers(self) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        word = TfidfVectorizer(
            analyzer="word",
            ngram_range=tuple(self.word_ngrams),
            token_pattern=_WORD_PATTERN,
            sublinear_tf=True,
            lowercase=True,
            dtype=np.float32,
        )
        char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(self.char_ngrams),
            min_df=self.char_min_df,
            sublinear_tf=True,
            lowercase=True,
            dtype=np.float32,
        )
        return word, char

    # -------------------------------------------------------------------------------------- fit

    def fit(self, examples: Sequence[ExampleLike]) -> NluModel:
        """Train the intent classifier, its calibration and the slot tagger on ``examples``."""
        if self.calibration not in ("temperature", "none"):
            raise ValueError(f"calibration must be 'temperature' or 'none', got {self.calibration!r}")
        if self.tag_scheme not in ("io", "bio"):
            raise ValueError(f"tag_scheme must be 'io' or 'bio', got {self.tag_scheme!r}")
        if self.classifier not in ("linear_svm", "logreg"):
            raise ValueError(f"classifier must be 'linear_svm' or 'logreg', got {self.classifier!r}")
        examples = list(examples)
        if not examples:
            raise ValueError("NluModel.fit needs at least one example")
        texts = [e.text for e in examples]
        classes = sorted({e.intent for e in examples})
        if len(classes) < 2:
            raise ValueError(f"NluModel.fit needs at least two intents, got {classes}")
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[e.intent] for e in examples])

        word, char = self._vectorizers()
        x = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
        calibrate = self.calibration == "temperature"

        # The classifier fits (final + calibration folds) and the CRF are independent. liblinear and
        # saga release the GIL (crfsuite does not), so with n_jobs > 1 the classifier fits run in
        # worker threads beside this thread's tagger training.
        workers = max(1, int(self.n_jobs))
        pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        try:
            final = _submit(pool, lambda: self._classifier().fit(x, y))
            groups = _phrasing_groups(examples, self.calibration_folds)
            folds = self._out_of_fold_scores(x, y, groups, len(classes), pool) if calibrate else None
            tagger = self._fit_tagger(examples)
            clf = final.result()
            oof = folds() if folds is not None else None
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

        calibration: dict[str, Any] = {"method": self.calibration, "temperature": 1.0}
        if calibrate:
            calibration["folds"] = "held-out phrasings (template_id)" if groups is not None else "random"
        if oof is not None:
            calibration.update(self._calibration_report(oof, y, _fit_temperature(oof, y)))

        self.classes_: list[str] = classes
        self.word_vocab_: dict[str, int] = {k: int(v) for k, v in word.vocabulary_.items()}
        self.char_vocab_: dict[str, int] = {k: int(v) for k, v in char.vocabulary_.items()}
        self.word_idf_: np.ndarray = word.idf_.astype(np.float32)
        self.char_idf_: np.ndarray = char.idf_.astype(np.float32)
        coef, intercept = clf.coef_, np.atleast_1d(clf.intercept_)
        if coef.shape[0] == 1:  # two intents: one margin m, scored as softmax([-m/2, m/2]) = sigmoid(m)
            coef, intercept = (
                np.vstack([-coef / 2, coef / 2]),
                np.concatenate([-intercept / 2, intercept / 2]),
            )
        # features x classes, row-major: a request touches ~100 features, gathered as rows
        self.coef_: np.ndarray = np.ascontiguousarray(coef.T, dtype=np.float32)
        self.intercept_: np.ndarray = intercept.astype(np.float32)
        self.temperature_: float = float(calibration["temperature"])
        self.calibration_: dict[str, Any] = calibration

        self.crf_model_: bytes | None
        self.slot_labels_: list[str]
        self.crf_model_, self.slot_labels_, self.n_skipped_slots_ = tagger
        # which slot names each intent was trained with (a frame can only hold those)
        intent_slots: dict[str, set[str]] = {c: set() for c in classes}
        for ex in examples:
            intent_slots[ex.intent].update(s.name for s in ex.slots)
        self.intent_slots_: dict[str, list[str]] = {k: sorted(v) for k, v in intent_slots.items()}
        self.n_train_: int = len(examples)
        self.version_: str = self._fingerprint(examples)
        self._setup_runtime()
        return self

    def _classifier(self) -> LinearSVC | LogisticRegression:
        if self.classifier == "linear_svm":
            return LinearSVC(C=self.C, tol=self.tol, max_iter=self.max_iter, random_state=self.random_state)
        return LogisticRegression(
            C=self.C, solver="saga", tol=self.tol, max_iter=self.max_iter, random_state=self.random_state
        )

    @staticmethod
    def _margins(clf: LinearSVC | LogisticRegression, x: sp.csr_matrix) -> np.ndarray:
        """One score per class even for two classes (sklearn gives a single margin there)."""
        dec = np.asarray(clf.decision_function(x), dtype=np.float64)
        return np.stack([-dec / 2, dec / 2], axis=1) if dec.ndim == 1 else dec

    def _out_of_fold_scores(
        self,
        x: sp.csr_matrix,
        y: np.ndarray,
        groups: np.ndarray | None,
        n_classes: int,
        pool: ThreadPoolExecutor | None,
    ) -> Callable[[], np.ndarray]:
        """Start K-fold fits; the returned function waits for them and gives every example's scores
        from a model that did not see it, for fitting the temperature.

        The folds reuse the TF-IDF fitted on all examples: refitting it per fold costs more than
        the classifier and moves idf weights only slightly. A class missing from a fold's training
        part gets a score far below the rest (probability ~0).
        """
        n = x.shape[0]
        k = max(2, min(self.calibration_folds, n))
        splits: Iterable[tuple[np.ndarray, np.ndarray]]
        if groups is not None:
            sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=self.random_state)
            splits = sgkf.split(np.arange(n), y, groups)
        else:
            splits = KFold(n_splits=k, shuffle=True, random_state=self.random_state).split(np.arange(n))

        def one_fold(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
            present = np.unique(y[tr])
            if len(present) < 2:  # nothing to learn from: the one class seen wins
                block = np.full((len(te), n_classes), -30.0)
                block[:, present] = 0.0
                return block
            clf = self._classifier().fit(x[tr], y[tr])
            dec = self._margins(clf, x[te])
            block = np.repeat(dec.min(axis=1, keepdims=True) - 30.0, n_classes, axis=1)
            block[:, clf.classes_] = dec
            return block

        def bind(tr: np.ndarray, te: np.ndarray) -> Callable[[], np.ndarray]:
            return lambda: one_fold(tr, te)

        parts = [(te, _submit(pool, bind(tr, te))) for tr, te in splits]

        def gather() -> np.ndarray:
            oof = np.zeros((n, n_classes), dtype=np.float64)
            for te, fut in parts:
                oof[te] = fut.result()
            return oof

        return gather

    @staticmethod
    def _calibration_report(oof: np.ndarray, y: np.ndarray, t: float) -> dict[str, Any]:
        p_raw = _softmax(oof)
        p_cal = _softmax(oof / t)
        correct = p_raw.argmax(axis=1) == y
        return {
            "temperature": t,
            "oof_accuracy": float(correct.mean()),
            "oof_ece_uncalibrated": expected_calibration_error(p_raw.max(axis=1), correct),
            "oof_ece_calibrated": expected_calibration_error(p_cal.max(axis=1), correct),
        }

    def _fit_tagger(self, examples: Sequence[ExampleLike]) -> tuple[bytes | None, list[str], int]:
        trainer = pycrfsuite.Trainer(algorithm=self.crf_algorithm, verbose=False)
        skipped = 0
        labels_seen: set[str] = set()
        for ex in examples:
            toks = tokenize(ex.text)
            if not toks:
                continue
            labels, sk = _span_labels(toks, ex, self.tag_scheme)
            skipped += sk
            labels_seen.update(labels)
            words = [t[0].lower() for t in toks]
            trainer.append(_with_intent(_base_features(words), words, ex.intent), labels)
        if labels_seen <= {"O"}:  # nothing to learn: the model predicts no slots
            return None, [], skipped
        trainer.set_params({"max_iterations": self.crf_max_iterations, **(self.crf_params or {})})
        with tempfile.TemporaryDirectory(prefix="selflearn-crf-") as tmp:
            path = Path(tmp) / _CRF
            _seed_c_rand(self.random_state)
            trainer.train(str(path))
            data = path.read_bytes()
        return data, sorted(labels_seen), skipped

    def _fingerprint(self, examples: Sequence[ExampleLike]) -> str:
        h = hashlib.sha256(json.dumps(self.get_params(), sort_keys=True).encode())
        for ex in examples:
            slots = [[s.name, s.value, s.start, s.end] for s in ex.slots]
            h.update(json.dumps([ex.text, ex.intent, slots]).encode())
        return h.hexdigest()[:12]

    # ---------------------------------------------------------------------------------- predict

    def _setup_runtime(self) -> None:
        word, char = self._vectorizers()
        # the unfitted vectorizers' analyzers: the very functions fit used, so features match
        self._word_analyzer: Callable[[str], list[str]] = word.build_analyzer()
        self._char_analyzer: Callable[[str], list[str]] = char.build_analyzer()
        self._n_word = len(self.word_idf_)
        self._allowed_slots = {k: frozenset(v) for k, v in self.intent_slots_.items()}
        self._tagger: pycrfsuite.Tagger | None = None
        if self.crf_model_ is not None:
            self._tagger = pycrfsuite.Tagger()
            self._tagger.open_inmemory(self.crf_model_)
        self._tag_lock = threading.Lock()  # a crfsuite tagger is not safe to share across threads
        self._cached: Callable[[str, int], tuple[_HypTuple, ...]] = lru_cache(maxsize=self.cache_size)(
            self._predict_uncached
        )

    def _check_fitted(self) -> None:
        self.check_fitted()

    def _features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(indices, values) of the request's TF-IDF vector, as TfidfVectorizer would compute it:
        sublinear tf times idf, each block (word, char) l2-normalised separately."""
        idx_parts: list[np.ndarray] = []
        val_parts: list[np.ndarray] = []
        for analyzer, vocab, idf, offset in (
            (self._word_analyzer, self.word_vocab_, self.word_idf_, 0),
            (self._char_analyzer, self.char_vocab_, self.char_idf_, self._n_word),
        ):
            counts: Counter[int] = Counter()
            for g in analyzer(text):
                j = vocab.get(g)
                if j is not None:
                    counts[j] += 1
            if not counts:
                continue
            idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            val = (np.log(tf) + 1.0) * idf[idx]
            val /= np.sqrt(np.dot(val, val))
            idx_parts.append(idx + offset)
            val_parts.append(val)
        if not idx_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(idx_parts), np.concatenate(val_parts)

    def intent_proba(self, text: str) -> np.ndarray:
        """Calibrated probability of every intent in `classes_` order."""
        self._check_fitted()
        idx, val = self._features(text)
        logits = val @ self.coef_[idx] + self.intercept_ if len(idx) else self.intercept_.copy()
        return _softmax(logits.astype(np.float64) / self.temperature_)

    def intent_proba_batch(self, texts: Sequence[str]) -> np.ndarray:
        """`intent_proba` for many texts at once (one sparse matrix product)."""
        self._check_fitted()
        indptr = [0]
        indices: list[np.ndarray] = []
        data: list[np.ndarray] = []
        for t in texts:
            idx, val = self._features(t)
            indices.append(idx)
            data.append(val)
            indptr.append(indptr[-1] + len(idx))
        x = sp.csr_matrix(
            (
                np.concatenate(data) if data else np.zeros(0, np.float32),
                np.concatenate(indices) if indices else np.zeros(0, np.int64),
                np.array(indptr),
            ),
            shape=(len(texts), self.coef_.shape[0]),
        )
        logits = np.asarray(x @ self.coef_) + self.intercept_
        return _softmax(logits.astype(np.float64) / self.temperature_)

    def tag(self, text: str, intent: str) -> list[_SlotTuple]:
        """Slots of ``text`` read as ``intent``: (name, value, start, end) character spans."""
        self._check_fitted()
        toks = tokenize(text)
        if not toks or self._tagger is None:
            return []
        words = [t[0].lower() for t in toks]
        return self._tag_tokens(text, toks, words, _base_features(words), intent)

    def _tag_tokens(
        self,
        text: str,
        toks: list[tuple[str, int, int]],
        words: list[str],
        base: list[list[str]],
        intent: str,
    ) -> list[_SlotTuple]:
        assert self._tagger is not None
        xseq = _with_intent(base, words, intent)
        with self._tag_lock:
            labels = self._tagger.tag(xseq)
        spans = _decode(text, toks, labels)
        allowed = self._allowed_slots.get(intent) if self.restrict_slots else None
        if allowed is not None:
            # the CRF shares most weights across intents and can emit a slot the intent never
            # takes (an "artist" for weather_query); such a slot is never right, so drop it
            spans = [sp_ for sp_ in spans if sp_[0] in allowed]
        return spans

    def _predict_uncached(self, text: str, n: int) -> tuple[_HypTuple, ...]:
        if not text.strip():
            return ()
        return self._hypotheses(text, self.intent_proba(text), n)

    def _hypotheses(self, text: str, proba: np.ndarray, n: int) -> tuple[_HypTuple, ...]:
        k = max(1, min(n, len(proba)))
        top = np.argsort(-proba, kind="stable")[:k]
        toks = tokenize(text) if self._tagger is not None else []
        words = [t[0].lower() for t in toks]
        base = _base_features(words) if toks else []
        out: list[_HypTuple] = []
        for i in top:
            intent = self.classes_[int(i)]
            slots = self._tag_tokens(text, toks, words, base, intent) if toks else []
            out.append((intent, min(1.0, max(0.0, float(proba[i]))), tuple(slots)))
        return tuple(out)

    @staticmethod
    def _to_records(hyps: tuple[_HypTuple, ...]) -> list[NluHypothesis]:
        # fresh records on every call: callers may edit them, the cache must stay clean
        return [
            NluHypothesis(
                intent=intent,
                confidence=conf,
                slots=[Slot(name=a, value=v, start=s, end=e) for a, v, s, e in slots],
            )
            for intent, conf, slots in hyps
        ]

    def predict(self, text: str, n: int = 3) -> list[NluHypothesis]:
        """The ``n`` most probable intents, best first, each with its slots; [] for empty text.
        Confidences are calibrated probabilities, so they sum to at most 1."""
        self._check_fitted()
        return self._to_records(self._cached(text, n))

    def predict_batch(self, texts: Sequence[str], n: int = 3) -> list[list[NluHypothesis]]:
        """`predict` for many texts (the intent scores in one matrix product; not cached)."""
        self._check_fitted()
        proba = self.intent_proba_batch(texts)
        return [
            self._to_records(self._hypotheses(t, proba[i], n) if t.strip() else ())
            for i, t in enumerate(texts)
        ]

    def cache_clear(self) -> None:
        self._check_fitted()
        self._cached.cache_clear()  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------------- save/load

    def _manifest_fields(self) -> dict[str, Any]:
        """What made this model, beside its parameters: library versions, label sets, training
        size, calibration, the training fingerprint."""
        self._check_fitted()
        return {
            "name": self.name,
            "version": self.version_,
            "versions": {
                "selflearn": selflearn.__version__,
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scikit-learn": _version("scikit-learn"),
                "python-crfsuite": _version("python-crfsuite"),
            },
            "intents": self.classes_,
            "slot_labels": self.slot_labels_,
            "intent_slots": self.intent_slots_,
            "n_train": self.n_train_,
            "n_skipped_slots": self.n_skipped_slots_,
            "n_features": {"word": len(self.word_vocab_), "char": len(self.char_vocab_)},
            "calibration": self.calibration_,
            "files": [_VOCAB, _WEIGHTS] + ([_CRF] if self.crf_model_ is not None else []),
        }

    def manifest(self) -> dict[str, Any]:
        """The manifest `save` writes: kind, format, parameters and `_manifest_fields`."""
        return {
            "kind": self.kind_name(),
            "format": self.manifest_format,
            "params": self.get_params(),
            **self._manifest_fields(),
        }

    def save(self, directory: str | Path) -> Path:
        """Write the model to ``directory`` atomically: everything goes to a temporary sibling that
        is renamed into place, so a reader never sees half a model."""
        self._check_fitted()
        with atomic_dir(directory) as tmp:
            word = sorted(self.word_vocab_, key=self.word_vocab_.__getitem__)
            char = sorted(self.char_vocab_, key=self.char_vocab_.__getitem__)
            (tmp / _VOCAB).write_text(json.dumps({"word": word, "char": char}), encoding="utf-8")
            np.savez(
                tmp / _WEIGHTS,
                coef=self.coef_,
                intercept=self.intercept_,
                word_idf=self.word_idf_,
                char_idf=self.char_idf_,
                temperature=np.array(self.temperature_),
            )
            if self.crf_model_ is not None:
                (tmp / _CRF).write_bytes(self.crf_model_)
            self.write_manifest(tmp, **self._manifest_fields())
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path) -> NluModel:
        """Read a model written by `save` (no pickles: arrays, JSON and the crfsuite file)."""
        d = Path(directory)
        manifest = cls.read_manifest(d)
        model = cls.from_manifest(manifest)
        vocab = json.loads((d / _VOCAB).read_text(encoding="utf-8"))
        model.word_vocab_ = {g: i for i, g in enumerate(vocab["word"])}
        model.char_vocab_ = {g: i for i, g in enumerate(vocab["char"])}
        with np.load(d / _WEIGHTS) as w:
            model.coef_ = np.ascontiguousarray(w["coef"])
            model.intercept_ = w["intercept"]
            model.word_idf_ = w["word_idf"]
            model.char_idf_ = w["char_idf"]
            model.temperature_ = float(w["temperature"])
        model.classes_ = list(manifest["intents"])
        model.slot_labels_ = list(manifest["slot_labels"])
        model.intent_slots_ = {k: list(v) for k, v in manifest["intent_slots"].items()}
        model.n_train_ = int(manifest["n_train"])
        model.n_skipped_slots_ = int(manifest["n_skipped_slots"])
        model.calibration_ = dict(manifest["calibration"])
        model.version_ = str(manifest["version"])
        crf = d / _CRF
        model.crf_model_ = crf.read_bytes() if crf.exists() else None
        model._setup_runtime()
        return model


def _phrasing_groups(examples: Sequence[ExampleLike], folds: int) -> np.ndarray | None:
    """Calibration fold groups: examples rendered from one template are near-duplicates, so
    random folds would score each example with a model that saw its phrasing and calibrate to
    training-set accuracy (0.95 confident, 0.8 right on new phrasings of the grammar). Holding
    out whole templates calibrates to phrasings never seen, as real requests are. None when the
    data has no template ids (each example then is its own phrasing)."""
    ids = [str(getattr(e, "template_id", "") or "") for e in examples]
    named = {i for i in ids if i}
    if len(named) < folds:
        return None
    # examples without a template id each form their own group
    return np.array([i if i else f"\0{n}" for n, i in enumerate(ids)], dtype=object)


_T = TypeVar("_T")


def _submit(pool: ThreadPoolExecutor | None, fn: Callable[[], _T]) -> Future[_T]:
    """Run ``fn`` on the pool, or right here when there is none (n_jobs=1)."""
    if pool is not None:
        return pool.submit(fn)
    fut: Future[_T] = Future()
    try:
        fut.set_result(fn())
    except BaseException as e:
        fut.set_exception(e)
    return fut


def _seed_c_rand(seed: int) -> None:
    """crfsuite shuffles its training data with the C library's rand(), whose state is global to
    the process: without a reseed the second fit on the same data in one process gives another
    model. Best effort: where libc cannot be reached, training is still correct, just unseeded."""
    with contextlib.suppress(OSError, AttributeError, TypeError):  # no libc handle on this platform
        ctypes.CDLL(None).srand(ctypes.c_uint(seed))


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
