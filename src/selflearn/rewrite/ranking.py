"""Ranking retrieved rewrite candidates: LightGBM LambdaRank, a "no rewrite" candidate, and a
firing threshold calibrated for precision.

Retrieval proposes requests that are near the failing one; most are wrong (another value, another
room, another meaning). The ranker orders, for one request, the candidates *and* "leave it as it
is", from features a real log holds: similarity (dense, fuzzy, phonetic), the original's ASR and
NLU confidences, the candidate's NLU confidence, the layer, the user's frequency and recency for
the candidate, context match (device type, room, time of day, the home's devices) and the
precomputed table's probability. A rewrite fires only when the best candidate beats "no rewrite"
by more than `threshold_`, chosen on out-of-fold groups so that wins / (wins + losses) >=
`target_precision`: a win fixes a request that failed, a loss rewrites one that was fine into
something else (the expensive mistake); a wrong rewrite of a failing request changes nothing.
Negative groups are subsampled in training, so `group_weight` scales their losses back up.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

from selflearn.rewrite.prior import RequestPrior
from selflearn.rewrite.retrieval import CandidateIndex, Hit, context_keys, phonetic_key
from selflearn.text.numbers import NUMBER_TOKENS
from selflearn.util.atomic import atomic_write_text
from selflearn.util.learner import Learner
from selflearn.util.manifest import MANIFEST

__all__ = [
    "FEATURES",
    "Query",
    "RewriteRanker",
    "candidate_features",
    "none_features",
    "unknown_share",
    "unknown_words",
]

FEATURES: tuple[str, ...] = (
    "is_none",
    "dense",
    "fuzzy",
    "phonetic",
    "token_jaccard",
    "word_edit",
    "diff_phonetic",
    "number_match",
    "len_ratio",
    "asr_confidence",
    "nlu_confidence",
    "cand_nlu_confidence",
    "nlu_gain",
    "same_intent",
    "is_personal",
    "source_match",
    "user_count",
    "user_recency_days",
    "global_users",
    "ctx_device",
    "ctx_room",
    "ctx_time",
    "entity_match",
    "precomputed_probability",
    "unexplained_query",
    "unexplained_candidate",
    "unknown_words",
    "lm_gain",
)
_F = {name: i for i, name in enumerate(FEATURES)}

# Threads LightGBM scores one group with. One by default: nightly jobs and simulations run many
# processes side by side. The service, one worker on its own cores, raises it (`selflearn serve
# --ranker-threads`): rows are scored in parallel with the same results, and a bagged ranker on a
# 25-candidate group takes ~0.24 ms per booster on 2 threads instead of ~0.44 ms.
_PREDICT_THREADS = 1


def set_predict_threads(n: int) -> None:
    """Threads every ranker in this process scores with (>= 1)."""
    global _PREDICT_THREADS
    if n < 1:
        raise ValueError(f"ranker threads must be >= 1, got {n}")
    _PREDICT_THREADS = int(n)


_NUM = re.compile(r"\d")
# Words whose presence or absence rarely changes what a request means (politeness, articles).
_FILLER = frozenset(
    [
        "the",
        "a",
        "an",
        "please",
        "could",
        "would",
        "can",
        "you",
        "i",
        "me",
        "my",
        "for",
        "to",
        "hey",
        "will",
        "want",
        "like",
        "do",
        "just",
        "some",
    ]
)
_NEVER_DAYS = 365.0


@dataclass
class Query:
    """What the runtime knows about a request when it decides whether to rewrite it."""

    text: str  # normalized ASR 1-best
    user_id: str
    asr_confidence: float = 1.0
    nlu_confidence: float = 0.5
    nlu_intent: str | None = None
    device_type: str | None = None
    room: str | None = None
    hour: int | None = None
    timestamp: float = 0.0  # epoch seconds
    entity_ids: frozenset[str] = frozenset()  # entities of the home (context.device_states)
    # Share of the request's content words no successful request in the enabled layers' indexes
    # holds (see `unknown_words`): "kitten lights off" has one, a correct request usually none.
    unknown_words: float = 0.0
    # Mean log-probability per word of the request under the global index's language model
    # (`rewrite.prior`): "turn off the chicken lights" scores well below "... kitchen lights".
    lm_score: float = 0.0

    def __post_init__(self) -> None:
        for name in ("asr_confidence", "nlu_confidence"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0.0 <= float(v) <= 1.0):
                raise ValueError(f"query {self.text!r}: field {name} must be in [0, 1], got {v!r}")


# Number words that sound like common words: a recogniser writes "two" for "to" and "for" for
# "four", so such a number facing its sound-alike on the other side is a recognition error, not a
# different number.
_SOUND_ALIKES = {
    "one": frozenset({"won"}),
    "two": frozenset({"to", "too"}),
    "four": frozenset({"for", "fore"}),
    "eight": frozenset({"ate"}),
}


def _numbers(words: Sequence[str], other: Sequence[str] = ()) -> frozenset[str]:
    """The number tokens of a request, in digits or in words, less number words whose sound-alike
    the `other` request holds."""
    seen = set(other)
    return frozenset(
        w
        for w in words
        if (_NUM.search(w) or w in NUMBER_TOKENS) and not (_SOUND_ALIKES.get(w, frozenset()) & seen)
    )


def _entity_ids(interpretation: str | None) -> list[str]:
    if not interpretation:
        return []
    out = []
    for part in interpretation.split("|")[1:]:
        _, _, value = part.partition("=")
        if "." in value and " " not in value:
            out.append(value)
    return out


def _unexplained(words: Sequence[str], others: Sequence[str]) -> float:
    """Share of the content words of `words` that no word of `others` explains, by spelling or by
    sound ("lites" is explained by "lights", "living" is not explained by "kitchen"). A rewrite
    that swaps a room, a device or "on" for "off" leaves words unexplained on both sides."""
    content = [w for w in words if w not in _FILLER]
    if not content:
        return 0.0
    pool = list(set(others))
    keys = [phonetic_key(o) for o in pool]
    known = set(pool)
    missing = 0
    for w in content:
        if w in known:
            continue
        # (rapidfuzz's C loop: the same test as any(fuzz.ratio(...) >= cutoff), on the serving path)
        if process.extractOne(w, pool, scorer=fuzz.ratio, score_cutoff=75) is not None:
            continue
        if process.extractOne(phonetic_key(w), keys, scorer=fuzz.ratio, score_cutoff=80) is not None:
            continue
        missing += 1
    return missing / len(content)


def unknown_share(text: str, vocabs: Sequence[AbstractSet[str]]) -> float:
    """Share of the content words of `text` in none of `vocabs`."""
    content = [w for w in text.split() if w not in _FILLER]
    if not content:
        return 0.0
    return sum(1 for w in content if not any(w in v for v in vocabs)) / len(content)


def unknown_words(text: str, indexes: Sequence[CandidateIndex | None]) -> float:
    """Share of the content words of `text` that appear in no text of `indexes`. A recognition
    error ("kitten" for "kitchen") or a private name usually makes a word nobody succeeded with;
    the NLU can still be confident about the rest, so the gate and the confidences miss it. Only
    indexes the request may draw from count: the global one (k users) and the asker's own."""
    return unknown_share(text, [idx.vocab() for idx in indexes if idx is not None])


def none_features(q: Query) -> np.ndarray:
    """The "no rewrite" candidate: the original itself."""
    f = np.zeros(len(FEATURES), dtype=np.float64)
    f[_F["is_none"]] = 1.0
    for name in ("dense", "fuzzy", "phonetic", "token_jaccard", "word_edit", "diff_phonetic", "number_match"):
        f[_F[name]] = 1.0
    for name in ("len_ratio", "same_intent"):
        f[_F[name]] = 1.0
    f[_F["asr_confidence"]] = q.asr_confidence
    f[_F["nlu_confidence"]] = q.nlu_confidence
    f[_F["cand_nlu_confidence"]] = q.nlu_confidence
    f[_F["user_recency_days"]] = _NEVER_DAYS
    f[_F["entity_match"]] = -1.0
    f[_F["unknown_words"]] = q.unknown_words
    return f


def candidate_features(
    q: Query,
    idx: CandidateIndex,
    hit: Hit,
    personal: CandidateIndex | None = None,
    precomputed_probability: float = 0.0,
    prior: RequestPrior | None = None,
    crowd: CandidateIndex | None = None,
) -> np.ndarray:
    """Features of one retrieved candidate for query `q` (`personal`: the user's own index, used to
    look up their frequency and recency for a global candidate too; `prior`: the language model
    `q.lm_score` came from, which scores the candidate's wording the same way; `crowd`: the global
    index, whose support a personal candidate also has when many people say it)."""
    text = idx.texts[hit.row]
    qw, cw = q.text.split(), text.split()
    f = np.zeros(len(FEATURES), dtype=np.float64)
    f[_F["dense"]] = hit.dense
    f[_F["fuzzy"]] = fuzz.token_sort_ratio(q.text, text) / 100.0
    f[_F["phonetic"]] = hit.phonetic
    sq, sc = set(qw), set(cw)
    f[_F["token_jaccard"]] = len(sq & sc) / len(sq | sc) if sq | sc else 1.0
    f[_F["word_edit"]] = 1.0 - Levenshtein.normalized_distance(qw, cw)
    # Do the words that differ sound alike ("chicken" / "kitchen": a recognition error)?
    dq = " ".join(w for w in qw if w not in sc)
    dc = " ".join(w for w in cw if w not in sq)
    f[_F["diff_phonetic"]] = (
        1.0 if not dq and not dc else fuzz.ratio(phonetic_key(dq), phonetic_key(dc)) / 100.0
    )
    nq, nc = _numbers(qw, cw), _numbers(cw, qw)
    f[_F["number_match"]] = (len(nq & nc) / len(nq | nc)) if nq | nc else 1.0
    f[_F["len_ratio"]] = len(cw) / max(1, len(qw))
    f[_F["asr_confidence"]] = q.asr_confidence
    f[_F["nlu_confidence"]] = q.nlu_confidence
    cand_conf = float(idx.nlu_confidence[hit.row])
    f[_F["cand_nlu_confidence"]] = cand_conf
    f[_F["nlu_gain"]] = cand_conf - q.nlu_confidence
    f[_F["same_intent"]] = float(q.nlu_intent is not None and idx.intents[hit.row] == q.nlu_intent)
    f[_F["is_personal"]] = float(idx.layer == "personal")
    f[_F["source_match"]] = idx.source_match(hit.row, q.text)
    # The user's own history with this candidate (a global candidate may be in it too).
    own, own_row = (idx, hit.row) if idx.layer == "personal" else (personal, None)
    if own is not None and own_row is None:
        own_row = own.row_of(text)
    if own is not None and own_row is not None:
        f[_F["user_count"]] = math.log1p(float(own.counts[own_row]))
        days = (q.timestamp - float(own.last_seen[own_row])) / 86400.0 if q.timestamp else 0.0
        f[_F["user_recency_days"]] = min(_NEVER_DAYS, max(0.0, days))
    else:
        f[_F["user_recency_days"]] = _NEVER_DAYS
    users = float(idx.distinct_users[hit.row])
    if idx.layer == "personal" and crowd is not None:
        # The user's own success that many others share is both: it keeps the crowd's support.
        crowd_row = crowd.row_of(text)
        if crowd_row is not None:
            users = max(users, float(crowd.distinct_users[crowd_row]))
    f[_F["global_users"]] = math.log1p(users)
    ctx = idx.contexts[hit.row]
    total = float(idx.counts[hit.row]) or 1.0
    keys = context_keys(q.device_type, q.room, q.hour)
    for key in keys:
        name = {"dt": "ctx_device", "room": "ctx_room", "tod": "ctx_time"}[key.split(":", 1)[0]]
        f[_F[name]] = ctx.get(key, 0) / total
    ents = _entity_ids(idx.interpretations[hit.row])
    f[_F["entity_match"]] = (sum(e in q.entity_ids for e in ents) / len(ents)) if ents else -1.0
    f[_F["precomputed_probability"]] = precomputed_probability
    f[_F["unexplained_query"]] = _unexplained(qw, cw)
    f[_F["unexplained_candidate"]] = _unexplained(cw, qw)
    f[_F["unknown_words"]] = q.unknown_words
    # How much more usual the candidate's wording is than the request's. Only the difference: the
    # request's own score alone let the ranker split on how unusual a request is, which hurt.
    f[_F["lm_gain"]] = prior.score(text) - q.lm_score if prior is not None else 0.0
    return f


@dataclass
class RankerReport:
    groups: int = 0
    fit_groups_with_target: int = 0
    oof_fired: int = 0
    oof_correct: int = 0
    oof_losses: float = 0.0  # weighted
    oof_positive_groups: int = 0
    threshold: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class RewriteRanker(Learner):
    """LambdaRank over candidate groups; group row 0 is always "no rewrite".

    fit(x, labels, groups): `x` (n, len(FEATURES)); `labels` relevance (2: the rewrite the user
    reached, 1: harmless, 0: wrong); `groups` the size of each consecutive group. The threshold on
    (best candidate score - "no rewrite" score) is calibrated on out-of-fold predictions.
    """

    def __init__(
        self,
        n_estimators: int = 250,
        num_leaves: int = 15,
        learning_rate: float = 0.1,
        min_child_samples: int = 10,
        target_precision: float = 0.92,
        folds: int = 3,
        seed: int = 0,
        loss_cost: float = 1.0,
        min_layer_wins: int = 10,
        bags: int = 3,
        subsample: float = 0.8,
        colsample: float = 0.8,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.min_child_samples = min_child_samples
        self.target_precision = target_precision
        self.loss_cost = loss_cost
        self.min_layer_wins = min_layer_wins  # out-of-fold wins a layer needs for its own threshold
        self.folds = folds
        self.seed = seed
        # A bag of boosters, each on a random 80% of rows and features per tree, scored by their
        # mean: on logged traffic it ranked markedly better out of fold than one booster of 120
        # trees, which underfit (net wins 234 -> 306 summed over four workspaces,
        # `benchmarks/online_ranker_ablation.py --rankers single,bag`, online_ranker_bagging.json).
        # 250 trees at step 0.1 rank as well as 500 at 0.05 (out-of-fold net wins 137.5 vs 139.5
        # on the simulator, 55.0 vs 55.5 on SLURP real recognition; `--rankers bag,bag250`,
        # online_ranker_trees.json) at half the nightly fit, which was over half a night's
        # online training, and half the per-request scoring.
        self.bags = bags
        self.subsample = subsample
        self.colsample = colsample
        # Threads per booster fit and out-of-fold scoring: about half the time with 2 on two
        # cores, the same trees in a check here; 1 where other jobs (other seeds of a benchmark)
        # already use every core.
        self.n_jobs = n_jobs
        self._path: Path | None = None  # where a loaded ranker came from (its compile cache)
        self._compiled: _CompiledBag | None = None  # the bag as native code (`compile`)

    manifest_kind = "RewriteRanker"

    @property
    def _n_bags(self) -> int:
        return max(1, int(self.bags))

    @property
    def _threads(self) -> int:
        return max(1, int(self.n_jobs))

    def _model(self, bag: int = 0) -> Any:
        import lightgbm as lgb

        sampled = self._n_bags > 1
        return lgb.LGBMRanker(
            objective="lambdarank",
            n_estimators=self.n_estimators,
            num_leaves=self.num_leaves,
            learning_rate=self.learning_rate,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample if sampled else 1.0,
            subsample_freq=1 if sampled else 0,
            colsample_bytree=self.colsample if sampled else 1.0,
            random_state=self.seed * 1009 + bag,
            n_jobs=self._threads,
            verbose=-1,
        )

    def _fit_bag(self, x: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> _Bag:
        return _Bag([self._model(b).fit(x, labels, group=groups).booster_ for b in range(self._n_bags)])

    @staticmethod
    def _check(x: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != len(FEATURES):
            raise ValueError(f"features must have shape (n, {len(FEATURES)}), got {x.shape}")
        if len(labels) != len(x) or int(groups.sum()) != len(x):
            raise ValueError(f"{len(x)} rows, {len(labels)} labels, groups summing to {int(groups.sum())}")
        starts = np.r_[0, np.cumsum(groups)[:-1]]
        if len(x) and not np.all(x[starts, _F["is_none"]] == 1.0):
            raise ValueError("every group must start with the 'no rewrite' candidate")

    def fit(
        self,
        x: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray,
        group_weight: np.ndarray | None = None,
    ) -> RewriteRanker:
        """`group_weight`: how many real requests each group stands for (for the calibration)."""
        x = np.asarray(x, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        groups = np.asarray(groups, dtype=np.int64)
        self._check(x, labels, groups)
        starts = np.r_[0, np.cumsum(groups)[:-1]]
        report = RankerReport(groups=len(groups))
        # Out-of-fold margins (best candidate minus "no rewrite") and whether that candidate was right.
        margins = np.full(len(groups), -np.inf)
        correct = np.zeros(len(groups), dtype=bool)
        loss = np.zeros(len(groups), dtype=np.float64)
        personal_best = np.zeros(len(groups), dtype=bool)  # the group's best candidate is personal
        weight = np.ones(len(groups)) if group_weight is None else np.asarray(group_weight, np.float64)
        positive = np.array(
            [labels[s + 1 : s + g].max(initial=0) == 2 for s, g in zip(starts, groups, strict=True)]
        )
        report.oof_positive_groups = int(positive.sum())
        rng = np.random.default_rng(self.seed)
        fold = rng.integers(0, self.folds, size=len(groups))
        if len(groups) >= 4 * self.folds and positive.sum() >= self.folds:
            for k in range(self.folds):
                tr = np.flatnonzero(fold != k)
                te = np.flatnonzero(fold == k)
                rows_tr = np.concatenate([np.arange(starts[g], starts[g] + groups[g]) for g in tr])
                m = self._fit_bag(x[rows_tr], labels[rows_tr], groups[tr])
                # one call scores the whole held-out fold (a call per group costs more than its trees)
                rows_te = np.concatenate([np.arange(starts[g], starts[g] + groups[g]) for g in te])
                scored = m.predict(x[rows_te], num_threads=self._threads)
                at = np.r_[0, np.cumsum(groups[te])[:-1]]
                for g, off in zip(te, at, strict=True):
                    s, n = starts[g], groups[g]
                    if n < 2:
                        continue
                    sc = scored[off : off + n]
                    best = 1 + int(np.argmax(sc[1:]))
                    margins[g] = sc[best] - sc[0]
                    personal_best[g] = x[s + best, _F["is_personal"]] == 1.0
                    correct[g] = positive[g] and labels[s + best] == 2
                    # rewriting a request that was fine into another meaning
                    loss[g] = weight[g] if (labels[s] == 2 and labels[s + best] == 0) else 0.0
        self.threshold_ = self._calibrate(margins, correct, loss, report)
        # Each layer's rewrites fire at their own line where there is enough evidence to draw it:
        # a user's own earlier success and a crowd's are right at different margins, and one
        # shared line lets the larger layer decide for both.
        self.layer_thresholds_: dict[str, float] = {}
        for layer, mask in (("personal", personal_best), ("global", ~personal_best)):
            if int((correct & mask).sum()) >= self.min_layer_wins:
                sub = RankerReport()
                self.layer_thresholds_[layer] = self._calibrate(margins[mask], correct[mask], loss[mask], sub)
                report.extra[f"threshold_{layer}"] = self.layer_thresholds_[layer]
                report.extra[f"oof_fired_{layer}"] = sub.oof_fired
                report.extra[f"oof_losses_{layer}"] = sub.oof_losses
        # Map a margin to a probability of being right (isotonic on the out-of-fold groups).
        finite = np.isfinite(margins)
        from sklearn.isotonic import IsotonicRegression

        self.calibration_: Any = None
        if finite.sum() >= 10 and correct[finite].any() and (~correct[finite]).any():
            self.calibration_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                margins[finite], correct[finite].astype(float)
            )
        if not len(groups):
            raise ValueError("no candidate groups to fit the ranker on")
        self.model_: _Bag = self._fit_bag(x, labels, groups)
        self._compiled = None  # an earlier fit's compiled bag scores other trees
        report.threshold = self.threshold_
        self.report_ = report
        return self

    def _calibrate(
        self, margins: np.ndarray, correct: np.ndarray, loss: np.ndarray, report: RankerReport
    ) -> float:
        """The margin that maximises out-of-fold net wins (wins - `loss_cost` x losses) among those
        at which wins / (wins + losses) >= target_precision (never: +inf).

        The margin may be negative: LambdaRank orders candidates within a group, so the "no
        rewrite" row outscoring a candidate by a little still leaves rewrites that are usually
        right; where the line lies is a matter of calibration, not of sign."""
        finite = np.isfinite(margins)
        order = np.argsort(-margins[finite])
        m, c, lo = margins[finite][order], correct[finite][order], loss[finite][order]
        if len(m) == 0:
            return math.inf
        wins, losses = np.cumsum(c), np.cumsum(lo)
        prec = wins / np.maximum(wins + losses, 1e-9)
        # only cut between distinct margins (ties fire together)
        last_of_tie = np.r_[m[1:] < m[:-1], True]
        ok = np.flatnonzero((prec >= self.target_precision) & (wins >= 3) & last_of_tie)
        if len(ok) == 0:
            return math.inf
        net = wins[ok] - self.loss_cost * losses[ok]
        i = int(ok[int(np.argmax(net))])
        report.oof_fired = i + 1
        report.oof_correct = int(wins[i])
        report.oof_losses = float(losses[i])
        return float(m[i] - 1e-9)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Ranker scores of one group's rows (row 0: "no rewrite")."""
        self.check_fitted()
        model: _Bag | _CompiledBag = self._compiled or self.model_
        return np.asarray(model.predict(np.asarray(x, dtype=np.float64), num_threads=_PREDICT_THREADS))

    def compile(self, cache_dir: str | os.PathLike[str] | None = None) -> RewriteRanker:
        """Score with the bag compiled to native code (lleaves) from now on: same scores, ~20x less
        time per request. Compiling costs seconds per booster (~6 s for 500 trees), so objects are
        cached in `cache_dir` (default: `compiled/` beside a loaded ranker's boosters) under a key of
        the booster, the compiler and the CPU; a cached object loads in milliseconds. The nightly
        publish compiles ahead (`OnlineStore.publish(compile_rankers=True)`), and the service
        compiles what is not cached. Raises ImportError without lleaves; the caller keeps LightGBM."""
        self.check_fitted()
        if cache_dir is None and self._path is not None:
            cache_dir = self._path / "compiled"
        where = Path(cache_dir) if cache_dir is not None else None
        models = [_compile_booster(b.model_to_string(), where) for b in self.model_.boosters]
        self._compiled = _CompiledBag(models)  # one assignment: a concurrent reader sees old or new
        return self

    @property
    def is_compiled(self) -> bool:
        return self._compiled is not None

    def __getstate__(self) -> dict[str, Any]:
        # Native code does not pickle; a copy scores with LightGBM until compiled again.
        return {**self.__dict__, "_compiled": None}

    def decide(self, x: np.ndarray) -> tuple[int, float, float]:
        """(chosen row, margin over "no rewrite", probability the rewrite is right); row 0 means
        leave the request as it is."""
        if len(x) < 2:
            return 0, 0.0, 0.0
        sc = self.scores(x)
        best = 1 + int(np.argmax(sc[1:]))
        margin = float(sc[best] - sc[0])
        prob = self.probability(margin)
        layer = "personal" if x[best, _F["is_personal"]] == 1.0 else "global"
        line = self.layer_thresholds().get(layer, self.threshold_)
        return (best if margin > line else 0), margin, prob

    def layer_thresholds(self) -> dict[str, float]:
        """Per-layer firing thresholds (a layer without one uses `threshold_`)."""
        return getattr(self, "layer_thresholds_", {})

    def probability(self, margin: float) -> float:
        if self.calibration_ is None:
            return 1.0 / (1.0 + math.exp(-margin))
        return float(self.calibration_.predict([margin])[0])

    # -- persistence -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """A directory with the bag's boosters (text) and a manifest: parameters, features,
        thresholds, calibration points and the out-of-fold report."""
        self.check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        names = [f"booster{i}.txt" for i in range(len(self.model_.boosters))]
        for name, booster in zip(names, self.model_.boosters, strict=True):
            atomic_write_text(path / name, booster.model_to_string())
        cal = self.calibration_
        fields = {
            "features": list(FEATURES),
            "boosters": names,
            "threshold": None if math.isinf(self.threshold_) else self.threshold_,
            "layer_thresholds": {k: None if math.isinf(v) else v for k, v in self.layer_thresholds().items()},
            "calibration": None
            if cal is None
            else {"x": list(map(float, cal.X_thresholds_)), "y": list(map(float, cal.y_thresholds_))},
            "report": dict(self.report_.__dict__),
        }
        self.write_manifest(path, **_plain(fields))
        for stale in [*path.glob("booster*.txt"), path / _LEGACY_META]:  # older or larger saves
            if stale.name not in names and stale.exists():
                stale.unlink()
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RewriteRanker:
        import lightgbm as lgb

        path = Path(path)
        if (path / _LEGACY_META).exists() and not (path / MANIFEST).exists():
            return cls._load_legacy(path)
        meta = cls.read_manifest(path)
        _check_features(path, meta["features"])
        self: RewriteRanker = cls.from_manifest(meta)
        names = list(meta["boosters"])
        missing = [n for n in names if not (path / n).is_file()]
        if missing:
            raise ValueError(f"{path}: the manifest names {len(names)} booster(s) but {missing} are missing")
        self.model_ = _Bag([lgb.Booster(model_str=(path / n).read_text(encoding="utf-8")) for n in names])
        self._restore(path, meta)
        return self

    @classmethod
    def _load_legacy(cls, path: Path) -> RewriteRanker:
        """A ranker saved before the learner base (`ranker.json`, a subset of the parameters)."""
        import lightgbm as lgb

        meta = json.loads((path / _LEGACY_META).read_text(encoding="utf-8"))
        _check_features(path, meta["features"])
        self = cls(**{k: v for k, v in meta["params"].items() if k != "learning_rate"})
        bags = int(meta["params"].get("bags", 1))
        names = ["booster.txt"] if "bags" not in meta["params"] else [f"booster{i}.txt" for i in range(bags)]
        missing = [n for n in names if not (path / n).is_file()]
        if missing:
            raise ValueError(f"{path}: ranker.json names {bags} booster(s) but {missing} are missing")
        self.model_ = _Bag([lgb.Booster(model_str=(path / n).read_text(encoding="utf-8")) for n in names])
        self._restore(path, meta)
        return self

    def _restore(self, path: Path, meta: Mapping[str, Any]) -> None:
        self._path = path
        self._compiled = None
        self.threshold_ = math.inf if meta["threshold"] is None else float(meta["threshold"])
        self.layer_thresholds_ = {
            k: math.inf if v is None else float(v) for k, v in (meta.get("layer_thresholds") or {}).items()
        }
        self.calibration_ = None
        if meta["calibration"]:
            self.calibration_ = _Interp(meta["calibration"]["x"], meta["calibration"]["y"])
        self.report_ = RankerReport(**{k: v for k, v in meta["report"].items()})


_LEGACY_META = "ranker.json"


def _plain(x: Any) -> Any:
    """JSON-ready: numpy scalars as Python numbers, containers recursively."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, Mapping):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def _check_features(path: Path, saved: Sequence[str]) -> None:
    if list(saved) != list(FEATURES):
        raise ValueError(
            f"{path}: ranker was trained on other features than this version computes "
            f"(missing {sorted(set(FEATURES) - set(saved))}, "
            f"extra {sorted(set(saved) - set(FEATURES))}): retrain it with "
            "`selflearn online train`"
        )


class _Bag:
    """Boosters scored by their mean (fitted here or loaded from text)."""

    def __init__(self, boosters: Sequence[Any]) -> None:
        if not boosters:
            raise ValueError("a bag needs at least one booster")
        self.boosters = list(boosters)

    def predict(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        out = np.asarray(self.boosters[0].predict(x, num_threads=num_threads), dtype=np.float64)
        for b in self.boosters[1:]:
            out = out + np.asarray(b.predict(x, num_threads=num_threads), dtype=np.float64)
        return out / len(self.boosters)


class _CompiledBag:
    """A bag compiled to native code by lleaves (LLVM): the same scores as LightGBM's (to ~1e-14)
    at a twentieth of the cost for a request's few dozen rows: LightGBM walks every tree per row
    through its generic predictor (~0.6 ms a 500-tree booster on a 25-row group, measured before
    the default became 250 trees), the compiled forest ~0.03 ms. Serving runs two bagged rankers
    per request, so this is most of the online path's budget beyond the encoder."""

    def __init__(self, models: Sequence[Any]) -> None:
        self.models = list(models)

    def predict(self, x: np.ndarray, num_threads: int = 1) -> np.ndarray:
        out = np.asarray(self.models[0].predict(x, n_jobs=1), dtype=np.float64)
        for m in self.models[1:]:
            out = out + np.asarray(m.predict(x, n_jobs=1), dtype=np.float64)
        return out / len(self.models)


def _compile_key(model_str: str) -> str:
    """What a compiled object depends on: the booster, the compiler's versions and the CPU it was
    compiled for (an object built for another CPU may not run here)."""
    import hashlib
    from importlib.metadata import version

    import llvmlite.binding as llvm

    h = hashlib.sha256(model_str.encode("utf-8"))
    for part in (
        version("lleaves"),
        version("llvmlite"),
        llvm.get_host_cpu_name(),
        llvm.get_host_cpu_features().flatten(),
        _COMPILE_FLAGS,
    ):
        h.update(b"\0" + str(part).encode("utf-8"))
    return h.hexdigest()[:24]


_COMPILE_FLAGS = "raw_score=1,fp64=1"


def _compile_booster(model_str: str, cache_dir: Path | None) -> Any:
    """One booster compiled with lleaves, through an object cache in `cache_dir` when given (written
    atomically: a reader never loads a half-written object)."""
    import tempfile

    import lleaves

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "booster.txt"
        src.write_text(model_str, encoding="utf-8")
        model = lleaves.Model(model_file=str(src))
        if cache_dir is None:
            model.compile(raw_score=True)
            return model
        final = cache_dir / f"{_compile_key(model_str)}.o"
        if final.is_file():
            model.compile(cache=str(final), raw_score=True)
            return model
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=cache_dir, suffix=".o.part")
        os.close(fd)
        os.unlink(part)  # lleaves compiles only when the cache path does not exist
        try:
            model.compile(cache=part, raw_score=True)
            os.replace(part, final)
        finally:
            if os.path.exists(part):
                os.unlink(part)
        return model


class _Interp:
    """Isotonic calibration restored from its points (a step-wise linear interpolation)."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        self.X_thresholds_ = np.asarray(xs, dtype=np.float64)
        self.y_thresholds_ = np.asarray(ys, dtype=np.float64)

    def predict(self, v: Sequence[float]) -> np.ndarray:
        return np.interp(np.asarray(v, dtype=np.float64), self.X_thresholds_, self.y_thresholds_)


def hour_of(ts: float) -> int:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).hour


def describe(features: np.ndarray) -> Mapping[str, float]:
    """A feature row by name (for logs and the service's provenance)."""
    return {name: float(features[i]) for i, name in enumerate(FEATURES)}
