"""Protected actions are never learned from implicit feedback.

A learned fix changes what a request does. When it would turn a request into a protected action
(unlocking a door, opening the garage, disarming the alarm, buying something) that the request did
not already mean, no amount of implicit evidence (rephrases, barge-ins, abandonment) may install
it: that evidence is cheap to forge, from a few fake accounts or a doctored log file, and the
damage of one wrong unlock outweighs every convenience a rewrite buys.

The guard judges a (source, target) pair by what the target *means*, and it does not take the
log's word for that: a log can claim any intent. Each text is re-read by the deployment's own
understanding model (`reader`, e.g. `nlu_reader(model)`), at mining and training time and again
at serve time (`assistant.nlu.component` applies the same rule per turn). A pair is refused when
any reading of the target (the log's claim or the re-reading) is protected, unless the source
already reads as that same intent (rewriting "unlok the door" into "unlock the door" gives the
person nothing they had not asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selflearn.util.workspace import Workspace

__all__ = ["ProtectedGuard", "Reader", "nlu_reader", "workspace_reader"]

Reader = Callable[[Sequence[str]], Sequence[str | None]]
"""Texts -> the top intent the deployment's understanding reads in each (None: no reading)."""


def nlu_reader(model: Any) -> Reader:
    """A `Reader` from an NLU model with `predict_batch(texts, n)` (`assistant.nlu.load.Understanding`)."""

    def read(texts: Sequence[str]) -> list[str | None]:
        if not texts:
            return []
        return [nbest[0].intent if nbest else None for nbest in model.predict_batch(list(texts), n=1)]

    return read


def workspace_reader(workspace: Path) -> tuple[Reader | None, frozenset[str] | None]:
    """The workspace's own understanding as a `Reader`, with the intents it protects: those the
    workspace's domain (`domain.json`) protects, plus those the default policy
    (`contracts.domain`) finds among the model's intents. Without an NLU model: (None, the
    domain's set), or (None, None) when there is no domain file either."""
    from selflearn.lexicon.io import workspace_domain

    domain = workspace_domain(Path(workspace))
    declared = domain.protected if domain is not None else None
    model_dir = Workspace(workspace).model_dir("nlu")
    if model_dir is None:
        return None, declared
    from selflearn.assistant.nlu.load import load_nlu
    from selflearn.contracts.domain import protected_by_default

    model = load_nlu(model_dir)
    return nlu_reader(model), protected_by_default(model.classes_) | (declared or frozenset())


@dataclass(frozen=True)
class ProtectedGuard:
    """Refuses learned fixes whose target means a protected intent the source did not."""

    protected: frozenset[str]
    read: Reader | None = field(default=None, compare=False)

    @classmethod
    def of(cls, protected: Collection[str], read: Reader | None = None) -> ProtectedGuard:
        return cls(frozenset(protected), read)

    def refusals(
        self, pairs: Sequence[tuple[str, str]], claimed: Sequence[str | None] | None = None
    ) -> list[str | None]:
        """Per (source, target) pair: None when allowed, else why it is refused.

        `claimed` holds the target intent the logs claim for each pair (None: no claim)."""
        n = len(pairs)
        claims = list(claimed) if claimed is not None else [None] * n
        if len(claims) != n:
            raise ValueError(f"{n} pairs but {len(claims)} claimed intents")
        if not self.protected or n == 0:
            return [None] * n
        if self.read is not None:
            texts = sorted({t for pair in pairs for t in pair})
            reading = dict(zip(texts, self.read(texts), strict=True))
        else:
            reading = {}
        out: list[str | None] = []
        for (source, target), claim in zip(pairs, claims, strict=True):
            read_target = reading.get(target)
            hits = sorted({c for c in (claim, read_target) if c is not None} & self.protected)
            if not hits:
                out.append(None)
                continue
            already = (
                self.read is not None
                and read_target in self.protected
                and reading.get(source) == read_target
                and claim in (None, read_target)
            )
            out.append(None if already else f"target reads as protected intent {hits[0]}")
        return out

    def protected_texts(self, texts: Sequence[str], claimed: Sequence[str | None] | None = None) -> set[str]:
        """The texts that read as (or are claimed by the logs to be) a protected intent: never
        candidates a retrieval layer may rewrite an arbitrary request into."""
        claims = list(claimed) if claimed is not None else [None] * len(texts)
        if len(claims) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(claims)} claimed intents")
        if not self.protected or not texts:
            return set()
        readings = list(self.read(list(texts))) if self.read is not None else [None] * len(texts)
        return {
            t
            for t, c, r in zip(texts, claims, readings, strict=True)
            if c in self.protected or r in self.protected
        }

    def allows(self, source: str, target: str, claimed: str | None = None) -> bool:
        return self.refusals([(source, target)], [claimed])[0] is None
