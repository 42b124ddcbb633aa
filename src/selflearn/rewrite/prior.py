"""How plausible a request's wording is, under a language model of the requests that worked.

A recognition error swaps a word for one that sounds alike ("turn off the chicken lights"); the
NLU can still be confident, and the similarity features cannot say which of the two spellings is
the mistake. A language model of what people successfully say can: "the kitchen lights" is common
in requests that worked, "the chicken lights" is not. This is the prior half of the noisy-channel
view of correction (the phonetic features are the channel half): the ranker reads how much a
candidate's per-word log-probability improves on the request's (`ranking` feature ``lm_gain``).

The model is the interpolated modified Kneser-Ney trigram model of `selflearn.text.ngram`, fitted
on the global index's texts only (requests at least k distinct users succeeded with, plus the
developer's catalog), each repeated by its count up to `max_weight`. Nothing that only one user
said enters it, so it carries no personal data across users and needs no scrubbing of its own
when a user is deleted: it is rebuilt from the global index it belongs to.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from selflearn.text.ngram import BOS, EOS, UNK, KneserNeyLM

__all__ = ["RequestPrior"]

_FLOOR = -20.0  # log-probability floor per word: an unseen word is very unlikely, not impossible


class RequestPrior:
    """`fit(texts, counts)` then `score(text)`: the mean natural log-probability per word (end of
    request included) of a normalized request. Unfitted or fitted on nothing, every score is 0.0
    (no evidence either way), so features built on it are neutral."""

    def __init__(self, order: int = 3, max_weight: int = 16, cache_size: int = 65536) -> None:
        self.order = order
        self.max_weight = max_weight
        self.cache_size = cache_size
        self.lm_: KneserNeyLM | None = None
        self._vocab: frozenset[str] = frozenset()
        self._cache: dict[str, float] = {}

    def fit(self, texts: Sequence[str], counts: Iterable[float] | None = None) -> RequestPrior:
        weights = list(counts) if counts is not None else [1.0] * len(texts)
        if len(weights) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(weights)} counts")
        sentences: list[list[str]] = []
        for text, w in zip(texts, weights, strict=True):
            toks = text.split()
            if toks:
                sentences.extend([toks] * min(self.max_weight, max(1, int(w))))
        self._cache = {}
        if not sentences:
            self.lm_, self._vocab = None, frozenset()
            return self
        self.lm_ = KneserNeyLM(order=self.order, extra_words=(UNK,)).fit(sentences)
        self._vocab = frozenset(self.lm_.vocabulary_)
        return self

    def score(self, text: str) -> float:
        lm = self.lm_
        if lm is None:
            return 0.0
        hit = self._cache.get(text)
        if hit is not None:
            return hit
        toks = [t if t in self._vocab else UNK for t in text.split()]
        history: list[str] = [BOS]
        total = 0.0
        for tok in [*toks, EOS]:
            p = lm.prob(tok, history)
            total += max(_FLOOR, math.log(p)) if p > 0.0 else _FLOOR
            history.append(tok)
        value = total / (len(toks) + 1)
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[text] = value
        return value
