"""Word error rate: the recogniser's yardstick, shared by the ASR simulator, tests and benchmarks.

WER = (substitutions + deletions + insertions) / number of reference words, from a word-level
Levenshtein alignment. Text is normalised with `normalize_request` first (by default) so case and
punctuation never count as recognition errors; a corpus WER sums edits and reference words over
all pairs instead of averaging per-utterance rates, which would over-weight short requests.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz.distance import Levenshtein

from selflearn.text.normalize import normalize_request

__all__ = ["corpus_word_error_rate", "word_error_rate", "word_errors"]


def _tokens(text: str, normalize: bool) -> list[str]:
    return (normalize_request(text) if normalize else text).split()


def word_errors(ref: str, hyp: str, *, normalize: bool = True) -> tuple[int, int]:
    """Return ``(edits, reference_words)``: the word-level edit distance and the reference length."""
    r = _tokens(ref, normalize)
    h = _tokens(hyp, normalize)
    return int(Levenshtein.distance(r, h)), len(r)


def word_error_rate(ref: str, hyp: str, *, normalize: bool = True) -> float:
    """Word error rate of `hyp` against `ref`.

    An empty reference has no words to get wrong: WER is 0.0 when the hypothesis is empty too and
    1.0 otherwise (a pure insertion), so the function is total and never divides by zero. WER is
    not capped at 1.0 for non-empty references: insertions can push it above one, as in jiwer.
    """
    edits, n = word_errors(ref, hyp, normalize=normalize)
    if n == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / n


def corpus_word_error_rate(pairs: Iterable[tuple[str, str]], *, normalize: bool = True) -> float:
    """WER over many ``(ref, hyp)`` pairs: total edits over total reference words (0.0 if none)."""
    edits = words = 0
    for ref, hyp in pairs:
        e, n = word_errors(ref, hyp, normalize=normalize)
        edits += e
        words += n
    return edits / words if words else 0.0
