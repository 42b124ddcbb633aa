"""The logged turns an estimator reads, and a reward model of what serving a text yields.

A turn's outcome is the log's own signal (`defective` in the chains: the feedback detector's
verdict from barge-ins, rephrases and abandonment), never the truth. The reward model answers "had
this turn been served text s, would it have succeeded?" by how turns that were served s fared. It
is cross-fitted by person: a turn's estimate comes only from other people's turns (the other half of
a fixed hash split), so one person's own outcome never vouches for itself."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["LoggedTurns", "RewardModel", "logged_turns"]

_Arr = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LoggedTurns:
    """One entry per logged request turn, in chain order."""

    principal: list[str]  # who vouches for the turn (the chain's principal)
    heard: list[str]  # the request as recognised, before any rewrite (normalised)
    served: list[str]  # what the understanding read (after any rewrite)
    rule_id: list[str | None]  # the rewrite that fired, if any
    success: npt.NDArray[np.bool_]  # the log's own verdict: not defective

    def __len__(self) -> int:
        return len(self.heard)


def logged_turns(chains: pa.Table) -> LoggedTurns:
    """Every turn of every chain (CHAIN_SCHEMA), as the estimators read them."""
    principal: list[str] = []
    heard: list[str] = []
    served: list[str] = []
    rule_id: list[str | None] = []
    success: list[bool] = []
    cols = chains.select(["principal", "asr_texts", "nlu_texts", "rule_ids", "defective"]).to_pydict()
    for who, asr, nlu, rules, bad in zip(
        cols["principal"],
        cols["asr_texts"],
        cols["nlu_texts"],
        cols["rule_ids"],
        cols["defective"],
        strict=True,
    ):
        for i, text in enumerate(asr or ()):
            if not text:
                continue
            principal.append(str(who))
            heard.append(text)
            served.append((nlu or ())[i] or text)
            rule_id.append((rules or ())[i])
            success.append(not bool((bad or ())[i]))
    return LoggedTurns(principal, heard, served, rule_id, np.asarray(success, dtype=bool))


def _fold(principal: str) -> int:
    return int(hashlib.blake2b(principal.encode(), digest_size=2).hexdigest(), 16) & 1


class RewardModel:
    """P(success | served text s), cross-fitted over two halves of the people.

    Each half's estimate is a Beta posterior mean shrunk towards that half's overall success rate
    with `prior_strength` pseudo-turns, so a text served twice is not trusted like one served a
    hundred times, and a text nobody in the other half was served gets the overall rate."""

    def __init__(self, prior_strength: float = 4.0) -> None:
        if prior_strength <= 0:
            raise ValueError(f"prior_strength must be > 0, got {prior_strength}")
        self.prior_strength = prior_strength

    def fit(self, turns: LoggedTurns) -> RewardModel:
        counts: list[dict[str, list[int]]] = [defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0])]
        totals = [[0, 0], [0, 0]]
        for who, text, ok in zip(turns.principal, turns.served, turns.success, strict=True):
            f = _fold(who)
            counts[f][text][0] += int(ok)
            counts[f][text][1] += 1
            totals[f][0] += int(ok)
            totals[f][1] += 1
        overall = sum(t[0] for t in totals) / max(1, sum(t[1] for t in totals))
        self.base_ = [t[0] / t[1] if t[1] else overall for t in totals]
        self.counts_ = [dict(c) for c in counts]
        return self

    def predict(self, principals: Sequence[str], texts: Sequence[str]) -> _Arr:
        """For each (person, text): the success rate of `text` among the other half's turns."""
        out = np.empty(len(texts), dtype=np.float64)
        for i, (who, text) in enumerate(zip(principals, texts, strict=True)):
            other = 1 - _fold(who)
            wins, n = self.counts_[other].get(text, (0, 0))
            prior = self.base_[other]
            out[i] = (wins + self.prior_strength * prior) / (n + self.prior_strength)
        return out
