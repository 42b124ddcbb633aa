"""Synthetic supervision from the truth table, handed to learners as plain data.

Rephrase detection may learn from simulated truth (the issue allows it): a candidate pair (a, b)
is a rephrase when b is a later attempt at the same goal as a. The learner only ever sees the
resulting boolean array, never this module."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def rephrase_labels(pairs: pa.Table, truth: pa.Table) -> np.ndarray:
    """True where turn b retries the goal of turn a (both requests, same goal id)."""
    goal = dict(zip(truth.column("turn_id").to_pylist(), truth.column("goal_id").to_pylist(), strict=True))
    req = dict(zip(truth.column("turn_id").to_pylist(), truth.column("is_request").to_pylist(), strict=True))
    a = pairs.column("turn_id_a").to_pylist()
    b = pairs.column("turn_id_b").to_pylist()
    out = np.zeros(len(a), dtype=bool)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        gx, gy = goal.get(x), goal.get(y)
        out[i] = bool(req.get(x) and req.get(y) and gx is not None and gx == gy)
    return out
