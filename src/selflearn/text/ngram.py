"""Interpolated modified Kneser-Ney n-gram language models over token lists (Chen & Goodman 1998),
and the tokenizer they count with.

Used where text must be scored as language: by the speech side to build a recogniser's ARPA model
(`selflearn.speech.lm`) and by the online rewrite layer's fluency prior (`selflearn.rewrite.prior`).
See `selflearn.speech.lm` for the estimator's equations.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

from selflearn.text.numbers import render_number

__all__ = ["BOS", "EOS", "UNK", "KneserNeyLM", "tokenize"]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
Gram = tuple[str, ...]


def tokenize(text: str) -> list[str]:
    """Lower-case words as the recogniser spells them: accents folded, punctuation dropped,
    apostrophes inside words kept ("o'clock", "what's"), whole numbers spelled out ("7" -> "seven",
    as espeak-ng says them and as a recogniser's dictionary has them)."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    out: list[str] = []
    for tok in _TOKEN.findall(folded):
        if tok.isdigit() and len(tok) <= 9:
            out.extend(render_number(int(tok)).split())
        else:
            out.append(tok)
    return out


# --------------------------------------------------------------------------------------------------
# pronunciations


def _discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """(D1, D2, D3+) from counts-of-counts (modified Kneser-Ney), or one absolute discount."""
    coc = Counter(min(c, 5) for c in counts)
    n1, n2, n3, n4 = coc[1], coc[2], coc[3], coc[4]
    y = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else 0.5
    if n1 and n2 and n3 and n4:
        d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    else:
        d = (y, y, y)
    return tuple(min(max(dk, 0.05), k - 0.05) for k, dk in zip((1, 2, 3), d, strict=True))  # type: ignore[return-value]


class KneserNeyLM:
    """Interpolated modified Kneser-Ney n-gram model over token lists, written as backoff ARPA.

    `order` >= 1; `extra_words` join the vocabulary with only the uniform share of unigram mass
    (words the recogniser should be able to say although the text never does). `fit(sentences)`
    takes tokenized sentences; the learned state is in `vocabulary_`, `prob_` (order -> n-gram ->
    p(w | h)), `backoff_` (history -> weight) and `discounts_` (order -> (D1, D2, D3+)).
    """

    def __init__(self, order: int = 3, extra_words: Sequence[str] = ()) -> None:
        self.order = order
        self.extra_words = extra_words

    def fit(self, sentences: Iterable[Sequence[str]]) -> KneserNeyLM:
        if self.order < 1:
            raise ValueError(f"order must be >= 1, got {self.order}")
        n_max = self.order
        raw: list[Counter[Gram]] = [Counter() for _ in range(n_max + 1)]
        vocab: set[str] = set()
        n_sent = 0
        for sent in sentences:
            toks = [t for t in sent if t not in (BOS, EOS)]
            if not toks:
                continue
            n_sent += 1
            vocab.update(toks)
            padded = (BOS, *toks, EOS)
            for n in range(1, n_max + 1):
                for i in range(len(padded) - n + 1):
                    g = padded[i : i + n]
                    if g != (BOS,):
                        raw[n][g] += 1
        if n_sent == 0:
            raise ValueError("no sentences with words to build a language model from")
        vocab.update(w for w in self.extra_words if w not in (BOS, EOS))
        vocab.update((BOS, EOS))

        # Counts used at each order: raw at the top and for <s>-initial n-grams, else continuation.
        used: list[dict[Gram, int]] = [{} for _ in range(n_max + 1)]
        used[n_max] = dict(raw[n_max])
        for n in range(n_max - 1, 0, -1):
            cont: Counter[Gram] = Counter()
            for g in raw[n + 1]:
                cont[g[1:]] += 1
            used[n] = {g: (c if g[0] == BOS else cont[g]) for g, c in raw[n].items()}

        self.vocabulary_ = sorted(vocab)
        self.discounts_: dict[int, tuple[float, float, float]] = {}
        self.prob_: dict[int, dict[Gram, float]] = {}
        self.backoff_: dict[Gram, float] = {}

        # Unigrams: discounted continuation counts interpolated with the uniform distribution.
        predictable = [w for w in self.vocabulary_ if w != BOS]
        d = _discounts(used[1].values())
        self.discounts_[1] = d
        total = sum(used[1].values())
        mass = sum(d[min(c, 3) - 1] for c in used[1].values())
        gamma0 = mass / total
        uni: dict[Gram, float] = {}
        for w in predictable:
            c = used[1].get((w,), 0)
            uni[(w,)] = (c - d[min(c, 3) - 1] if c else 0.0) / total + gamma0 / len(predictable)
        self.prob_[1] = uni

        for n in range(2, n_max + 1):
            d = _discounts(used[n].values())
            self.discounts_[n] = d
            ctx_total: Counter[Gram] = Counter()
            ctx_mass: dict[Gram, float] = defaultdict(float)
            for g, c in used[n].items():
                ctx_total[g[:-1]] += c
                ctx_mass[g[:-1]] += d[min(c, 3) - 1]
            gamma = {h: ctx_mass[h] / ctx_total[h] for h in ctx_total}
            probs: dict[Gram, float] = {}
            for g, c in used[n].items():
                h = g[:-1]
                probs[g] = (c - d[min(c, 3) - 1]) / ctx_total[h] + gamma[h] * self.prob(g[-1], g[1:-1])
            self.prob_[n] = probs
            self.backoff_.update(gamma)
        return self

    def prob(self, word: str, history: Sequence[str] = ()) -> float:
        """p(word | history) by the backoff recursion the ARPA file encodes (history trimmed to
        order - 1 words); 0.0 for a word outside the vocabulary."""
        h = tuple(history)[-(self.order - 1) :] if self.order > 1 else ()
        weight = 1.0
        while True:
            g = (*h, word)
            p = self.prob_.get(len(g), {}).get(g)
            if p is not None:
                return weight * p
            if not h:
                return 0.0
            weight *= self.backoff_.get(h, 1.0)
            h = h[1:]

    def to_arpa(self) -> str:
        """The model as ARPA text (log10 probabilities and backoff weights)."""
        lines = ["", "\\data\\"]
        grams: dict[int, list[Gram]] = {}
        for n in range(1, self.order + 1):
            gs = sorted(self.prob_[n])
            if n == 1:
                gs = [(BOS,), *gs]
            grams[n] = gs
            lines.append(f"ngram {n}={len(gs)}")
        for n in range(1, self.order + 1):
            lines += ["", f"\\{n}-grams:"]
            for g in grams[n]:
                lp = -99.0 if g == (BOS,) else math.log10(self.prob_[n][g])
                row = f"{lp:.6f}\t{' '.join(g)}"
                if n < self.order and g in self.backoff_:
                    row += f"\t{math.log10(self.backoff_[g]):.6f}"
                lines.append(row)
        lines += ["", "\\end\\", ""]
        return "\n".join(lines)
