"""Builders for small hand-made chain tables (CHAIN_SCHEMA) used by the rewrite tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from selflearn.rewrite.markov import CHAIN_SCHEMA

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def build_chains(specs: Sequence[Mapping[str, Any]]) -> pa.Table:
    """One chain per spec: ``user``, ``texts`` (what the NLU read), ``outcome`` (default success) and
    optionally ``asr``, ``rules``, ``intents``, ``interps`` (NLU interpretations), ``defective``,
    ``session``, ``start`` (minutes; default an hour apart)."""
    rows = []
    for i, spec in enumerate(specs):
        texts = list(spec["texts"])
        n = len(texts)
        outcome = spec.get("outcome", "success")
        start = T0 + timedelta(minutes=spec.get("start", 60 * i))  # people on their own schedules
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
                "interpretations": list(spec.get("interps", [None] * n)),
            }
        )
    return pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA)


def rule_row(
    source: str,
    target: str,
    users: Sequence[str] = ("u1", "u2", "u3"),
    probability: float = 0.9,
    intent: str | None = "lights_off",
) -> dict[str, Any]:
    """A REWRITE_SCHEMA row whose provenance names `users` (one chain and one example session each)."""
    from selflearn.rewrite.markov import rule_id_for

    return {
        "rule_id": rule_id_for(source, target),
        "source": source,
        "target": target,
        "target_intent": intent,
        "probability": probability,
        "source_success": 0.1,
        "source_count": 10,
        "support": len(users),
        "distinct_users": len(users),
        "users": [{"user_id": u, "chains": 1} for u in users],
        "first_seen": T0,
        "last_seen": T0 + timedelta(days=1),
        "example_session_ids": [f"{u}-session" for u in users],
        "example_user_ids": list(users),
        "fired_successes": 0,
        "fired_failures": 0,
        "source_successes": 1,
        "source_failures": 9,
        "p_better": None,
    }


def table_of(*rows: Mapping[str, Any], min_users: int = 3) -> Any:
    """A RewriteTable of `rows` whose meta records the miner's min_users (as a miner's would)."""
    from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteTable

    data = pa.Table.from_pylist([dict(r) for r in rows], schema=REWRITE_SCHEMA)
    return RewriteTable(
        data, meta={"miner": {"name": "test", "min_users": min_users}, "input": {"chains": 1}}
    )


def candidate_index(layer: str, texts: list[str], users: list[list[str]]) -> Any:
    """A small CandidateIndex (one-hot embeddings) whose rows name their supporting `users`."""
    import numpy as np

    from selflearn.rewrite.retrieval import CandidateIndex
    from selflearn.text.encoder import EMBEDDING_DIM

    n = len(texts)
    return CandidateIndex(
        layer=layer,
        texts=texts,
        embeddings=np.eye(n, EMBEDDING_DIM, dtype=np.float32),
        interpretations=[None] * n,
        intents=[None] * n,
        nlu_confidence=np.full(n, 0.9),
        counts=np.ones(n),
        distinct_users=np.array([float(len(u)) for u in users]),
        last_seen=np.zeros(n),
        contexts=[{} for _ in range(n)],
        users=users,
    )
