"""Labelled-neighbour features: how turns with similar requests turned out in the training log.

Whether a misheard request would have been understood had it been heard right depends on how
well the assistant understands requests *like it*; whether a turn is a false wake depends on
whether it sounds like the chatter that woke devices before. Both are questions about labelled
neighbours: for each turn, the k most similar training requests (MiniLM cosine) vote for their
failure points, weighted by similarity, and the best similarity to each class is kept too.

Training rows get out-of-fold votes (folds by session, so a turn never votes for itself or for
its own retries), which keeps the feature honest: at prediction time no neighbour is the turn.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from selflearn.util.atomic import atomic_path

if TYPE_CHECKING:
    from selflearn.fpi.features import FeatureSet

__all__ = ["LabelNeighbours", "fit_neighbours", "load_neighbours", "neighbour_block", "save_neighbours"]


def _fold(group: str, folds: int) -> int:
    return int.from_bytes(hashlib.blake2b(group.encode(), digest_size=4).digest(), "big") % folds


class LabelNeighbours:
    """`fit(vectors, labels, groups)`; `transform(vectors)` -> (n, 2 * n_classes): per class the
    similarity-weighted vote share among the k nearest training rows, and the best similarity."""

    def __init__(self, k: int = 10, folds: int = 5, chunk: int = 2048) -> None:
        self.k = k
        self.folds = folds
        self.chunk = chunk
        self.train_votes_: np.ndarray | None = None  # out-of-fold votes of the training rows

    def fit(self, vectors: np.ndarray, labels: Sequence[str], classes: Sequence[str]) -> LabelNeighbours:
        if len(vectors) != len(labels):
            raise ValueError(f"{len(vectors)} vectors but {len(labels)} labels")
        self.classes_ = list(classes)
        # Contiguous, as a loaded model's are: a strided copy takes another BLAS path, and the
        # votes then differ in the 7th digit, enough to flip a tree split after save and load.
        self.vectors_ = np.ascontiguousarray(vectors, dtype=np.float32)
        self.labels_ = np.array([self.classes_.index(s) for s in labels], dtype=np.int64)
        return self

    def names(self) -> list[str]:
        return [f"nn_vote_{c}" for c in self.classes_] + [f"nn_max_{c}" for c in self.classes_]

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        return self._votes(np.asarray(vectors, dtype=np.float32), None, None)

    def fit_transform_oof(self, groups: Sequence[str]) -> np.ndarray:
        """Out-of-fold features of the training rows (folds by `groups`, e.g. session ids)."""
        fold = np.array([_fold(g, self.folds) for g in groups])
        return self._votes(self.vectors_, fold, fold)

    def _votes(self, q: np.ndarray, q_fold: np.ndarray | None, ref_fold: np.ndarray | None) -> np.ndarray:
        c = len(self.classes_)
        out = np.zeros((len(q), 2 * c), dtype=np.float32)
        if len(self.vectors_) == 0 or len(q) == 0:
            return out
        k = min(self.k, len(self.vectors_))
        onehot = np.eye(c, dtype=np.float32)[self.labels_]
        for s in range(0, len(q), self.chunk):
            sim = q[s : s + self.chunk] @ self.vectors_.T
            zero = ~q[s : s + self.chunk].any(axis=1)  # no text: no neighbours
            if q_fold is not None and ref_fold is not None:
                sim[q_fold[s : s + self.chunk, None] == ref_fold[None, :]] = -1.0
            sim[zero] = -1.0
            top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
            w = np.clip(np.take_along_axis(sim, top, axis=1), 0.0, None)
            votes = np.einsum("nk,nkc->nc", w, onehot[top])
            out[s : s + self.chunk, :c] = votes / np.maximum(w.sum(axis=1, keepdims=True), 1e-6)
            for j in range(c):
                cls_sim = np.where(self.labels_[None, :] == j, sim, -1.0)
                out[s : s + self.chunk, c + j] = cls_sim.max(axis=1)
        return out


def fit_neighbours(
    features: FeatureSet, labels: Sequence[str], classes: Sequence[str], k: int
) -> LabelNeighbours | None:
    """Neighbours over the request embeddings of the training turns (None when `k` is 0); the
    out-of-fold votes of the training rows are computed once and kept for `neighbour_block`."""
    if k <= 0:
        return None
    nb = LabelNeighbours(k=k).fit(features.texts[:, 0], labels, classes)
    groups = features.meta.get("session_id") or features.turn_ids
    nb.train_votes_ = nb.fit_transform_oof([str(g) for g in groups])
    return nb


def neighbour_block(nb: LabelNeighbours | None, features: FeatureSet, training: bool) -> np.ndarray:
    """The neighbour columns for `features` (out-of-fold ones for the training rows)."""
    if nb is None:
        return np.zeros((len(features), 0), dtype=np.float32)
    if training:
        if nb.train_votes_ is None or len(nb.train_votes_) != len(features):
            raise ValueError("neighbour votes of the training rows are missing: fit first")
        return nb.train_votes_
    return nb.transform(features.texts[:, 0])


def save_neighbours(nb: LabelNeighbours | None, directory: Path) -> None:
    if nb is None:
        return
    with atomic_path(directory / "neighbours.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, vectors=nb.vectors_, labels=nb.labels_, k=np.array(nb.k))


def load_neighbours(directory: Path, classes: Sequence[str]) -> LabelNeighbours | None:
    path = directory / "neighbours.npz"
    if not path.exists():
        return None
    with np.load(path) as z:
        nb = LabelNeighbours(k=int(z["k"]))
        nb.classes_ = list(classes)
        nb.vectors_ = z["vectors"].astype(np.float32)
        nb.labels_ = z["labels"].astype(np.int64)
    return nb
