"""Builders for small hand-made chain tables (CHAIN_SCHEMA) used by the rewrite tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from selflearn.rewrite.markov import CHAIN_SCHEMA

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def build_chains(specs: Sequence[Mapping[str, Any]]) -> pa.Table:
    """One chain per spec: ``user``, ``texts`` (what the NLU read), ``outcome`` (default success) and
    optionally ``asr``, ``rules``, ``intents``, ``defective``, ``session``, ``start`` (minutes)."""
    rows = []
    for i, spec in enumerate(specs):
        texts = list(spec["texts"])
        n = len(texts)
        outcome = spec.get("outcome", "success")
        start = T0 + timedelta(minutes=spec.get("start", i))
        ts = [start + timedelta(seconds=5 * k) for k in range(n)]
        default_def = [True] * (n - 1) + [outcome != "success"]
        rows.append(
            {
                "chain_id": f"c{i}",
                "user_id": spec["user"],
                "session_id": spec.get("session", f"{spec['user']}-s{i}"),
                "turn_ids": [f"c{i}-t{k}" for k in range(n)],
                "asr_texts": list(spec.get("asr", texts)),
                "nlu_texts": texts,
                "rule_ids": list(spec.get("rules", [None] * n)),
                "intents": list(spec.get("intents", [None] * n)),
                "timestamps": ts,
                "defective": list(spec.get("defective", default_def)),
                "outcome": outcome,
                "first_ts": ts[0],
                "last_ts": ts[-1],
            }
        )
    return pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA)


@pytest.fixture
def make_chains() -> Callable[[Sequence[Mapping[str, Any]]], pa.Table]:
    return build_chains
