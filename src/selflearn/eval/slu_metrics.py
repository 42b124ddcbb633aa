"""SLURP's entity metrics: span-F1, the distance-smoothed word-F1 and char-F1, and SLU-F1.

Reproduces the definitions of the SLURP evaluation toolkit (Bastianelli et al., "SLURP: A Spoken
Language Understanding Resource Package", EMNLP 2020; ``scripts/evaluation/metrics`` of the
official repository), micro-averaged (the toolkit's default):

* **span-F1**: a predicted (type, value) pair is a true positive iff an identical gold pair is
  still unmatched (multiset match); otherwise a false positive; unmatched gold pairs are false
  negatives.
* **word-F1 / char-F1** (the toolkit's ``span_distance_f1``): entities are matched by *type* only.
  Predictions are taken in order; a prediction whose type occurs among the still-unmatched gold
  entities is paired with the gold entity of that type at the lowest distance (the first on ties),
  which is then used up. The pair counts as one true positive, and its distance ``d`` is added to
  both the false positives and the false negatives, so a slightly wrong value earns partial
  credit instead of a full miss. A prediction of a type not among the unmatched gold entities is a
  false positive; gold entities left over are false negatives. The word distance is the word error
  rate of the predicted value against the gold value (word-level Levenshtein distance over the
  number of gold words, as ``jiwer.wer``: it is *not* capped at 1, as in the toolkit); the char
  distance is the character Levenshtein distance over the longer value's length (as
  ``textdistance``'s ``normalized_distance``, in [0, 1]).
* **SLU-F1**: F1 of the summed word and char confusion counts (TP, FP, FN of both added), i.e.
  a metric between word-F1 and char-F1.

Intents play no part: the toolkit scores them separately. Precision, recall and F1 follow the
toolkit's ``compute_metrics`` (0 where a denominator is 0), with one deliberate exception: when
there are no gold and no predicted entities at all, every score is 1.0 (nothing to find, nothing
wrongly found), the convention ``selflearn bench`` already uses for its exact slot F1 on a day
without slots; the toolkit would report 0.0 there.

Distances come from `rapidfuzz.distance.Levenshtein` (on word lists for the word level). Values
are compared as given: callers normalize them first if they want case or punctuation ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from rapidfuzz.distance import Levenshtein

__all__ = ["Entity", "char_distance", "slu_f1", "word_distance"]

Entity = tuple[str, str]  # (slot type, value)


def word_distance(gold: str, pred: str) -> float:
    """Word error rate of `pred` against `gold` (the toolkit's word distance; may exceed 1).

    A gold value with no words (which jiwer rejects) is at distance 0 from an empty prediction
    and 1 from anything else."""
    g, p = gold.split(), pred.split()
    if not g:
        return 0.0 if not p else 1.0
    return Levenshtein.distance(g, p) / len(g)


def char_distance(gold: str, pred: str) -> float:
    """Character Levenshtein distance over the longer string's length, in [0, 1]."""
    return float(Levenshtein.normalized_distance(gold, pred))


class _Counts:
    """Micro-averaged confusion counts (fractional for the distance metrics)."""

    def __init__(self) -> None:
        self.tp = 0.0
        self.fp = 0.0
        self.fn = 0.0

    def add(self, other: _Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def scores(self) -> tuple[float, float, float]:
        """(precision, recall, f1) as the toolkit's ``compute_metrics``, except all 1.0 when there
        was nothing at all to count."""
        if self.tp == 0.0 and self.fp == 0.0 and self.fn == 0.0:
            return 1.0, 1.0, 1.0
        precision = self.tp / (self.tp + self.fp) if self.tp or self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp or self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision or recall else 0.0
        return precision, recall, f1


def _span_counts(gold: Sequence[Entity], pred: Sequence[Entity], into: _Counts) -> None:
    left = Counter(gold)
    for entity in pred:
        if left[entity] > 0:
            left[entity] -= 1
            into.tp += 1
        else:
            into.fp += 1
    into.fn += sum(left.values())


def _distance_counts(
    gold: Sequence[Entity],
    pred: Sequence[Entity],
    distance: Callable[[str, str], float],
    into: _Counts,
) -> None:
    left = list(gold)
    for p_type, p_value in pred:
        best: int | None = None
        best_d = float("inf")
        for i, (g_type, g_value) in enumerate(left):
            if g_type == p_type:
                d = distance(g_value, p_value)
                if d < best_d:
                    best, best_d = i, d
        if best is None:
            into.fp += 1
            continue
        into.tp += 1
        into.fp += best_d
        into.fn += best_d
        left.pop(best)
    into.fn += len(left)


def slu_f1(gold: Sequence[Sequence[Entity]], pred: Sequence[Sequence[Entity]]) -> dict[str, float]:
    """SLURP's entity metrics over a corpus of aligned examples.

    `gold[i]` and `pred[i]` are the (slot type, value) entities of example i, in order (the order
    of the predictions decides the greedy matching, as in the toolkit). Returns ``slu_f1``,
    ``word_f1``, ``char_f1`` and ``span_f1``, each with its ``_precision`` and ``_recall``."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} examples but pred has {len(pred)}")
    span, word, char = _Counts(), _Counts(), _Counts()
    for g, p in zip(gold, pred, strict=True):
        _span_counts(g, p, span)
        _distance_counts(g, p, word_distance, word)
        _distance_counts(g, p, char_distance, char)
    slu = _Counts()
    slu.add(word)
    slu.add(char)
    out: dict[str, float] = {}
    for name, counts in (("slu", slu), ("word", word), ("char", char), ("span", span)):
        precision, recall, f1 = counts.scores()
        out[f"{name}_f1"] = f1
        out[f"{name}_precision"] = precision
        out[f"{name}_recall"] = recall
    return out
