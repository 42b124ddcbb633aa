"""The rephrase-chain table: what feedback detection produces and every learner mines.

One row per chain, in session/time order; all list columns of a row have the same length (one
element per turn, in time order). Produced by `selflearn.feedback.chains` (and the nightly graph's
detect step on either engine), read by the Markov miner, the online layers and the context
learner."""

from __future__ import annotations

import pyarrow as pa

__all__ = ["CHAIN_SCHEMA", "OUTCOMES"]

_TS = pa.timestamp("us", tz="UTC")

CHAIN_SCHEMA = pa.schema(
    [
        ("chain_id", pa.string()),  # session_id + ":" + first turn_id: stable across reruns
        ("user_id", pa.string()),
        ("session_id", pa.string()),
        ("turn_ids", pa.list_(pa.string())),
        ("asr_texts", pa.list_(pa.string())),  # normalize_request(ASR 1-best, before any rewrite)
        ("nlu_texts", pa.list_(pa.string())),  # what the NLU read (after any rewrite)
        ("rule_ids", pa.list_(pa.string())),  # rewrite rule that fired, or null
        ("intents", pa.list_(pa.string())),  # top NLU intent, or null
        ("timestamps", pa.list_(_TS)),
        ("defective", pa.list_(pa.bool_())),
        ("outcome", pa.string()),  # success | failure | abandoned
        ("first_ts", _TS),
        ("last_ts", _TS),
        ("interpretations", pa.list_(pa.string())),  # flat nlu_interpretation per turn, or null
        # Who vouches for the chain: the authenticated household/device that sent it (the log's
        # household_id), else the user id. Crowd thresholds (k) count principals: user ids are
        # free strings, and one client can mint any number of them.
        ("principal", pa.string()),
    ]
)

#: How a chain ended.
OUTCOMES: tuple[str, ...] = ("success", "failure", "abandoned")
