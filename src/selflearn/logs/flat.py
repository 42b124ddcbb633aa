"""The flat, columnar view of turns that offline jobs read.

Jobs (feedback detection, chains, mining) work on a fixed set of top-level columns, so they run
unchanged on DuckDB, Polars and Spark. `FLAT_SCHEMA` is that contract; `flatten_turns` builds it
from records, and `flatten_table` from the nested Arrow table stored in the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from selflearn.logs.records import NluHypothesis, ResolvedEntity, Turn
from selflearn.text.normalize import normalize_request

FLAT_SCHEMA = pa.schema(
    [
        ("turn_id", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("household_id", pa.string()),
        ("device_id", pa.string()),
        ("device_type", pa.string()),
        ("turn_index", pa.int32()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("room", pa.string()),
        ("wake_detected", pa.bool_()),
        ("wake_score", pa.float64()),
        ("asr_text", pa.string()),
        ("asr_confidence", pa.float64()),
        ("asr_margin", pa.float64()),  # 1-best minus 2-best confidence (1-best alone: itself)
        ("rewrite_original", pa.string()),
        ("rewrite_text", pa.string()),
        ("rewrite_rule_id", pa.string()),
        ("rewrite_source", pa.string()),
        ("nlu_text", pa.string()),  # normalize_request of what the NLU read
        ("nlu_intent", pa.string()),
        ("nlu_confidence", pa.float64()),
        ("nlu_margin", pa.float64()),
        ("resolution_min_score", pa.float64()),  # lowest entity score; null if no entities
        ("action_name", pa.string()),
        ("action_status", pa.string()),
        ("response_text", pa.string()),
        ("response_duration_ms", pa.int64()),
        ("barge_in", pa.bool_()),
        ("barge_in_offset_ms", pa.int64()),
        ("explicit_feedback", pa.string()),
        ("teaching", pa.string()),
        ("error_codes", pa.list_(pa.string())),
        ("nlu_interpretation", pa.string()),  # see `interpretation`; null without an NLU hypothesis
    ]
)


def _margin(confs: list[float]) -> float:
    if not confs:
        return 0.0
    return confs[0] - (confs[1] if len(confs) > 1 else 0.0)


def interpretation(top: NluHypothesis | None, entities: Iterable[ResolvedEntity] = ()) -> str | None:
    """Canonical signature of what the assistant understood: ``intent|name=value|name=value``.

    Two requests worded differently but understood the same way ("turn on the kitchen lights",
    "kitchen lamp on") get the same signature, which is what lets the rewrite miner pool their
    successes. Rule, per slot of the top hypothesis: if the resolution stage resolved that slot
    (the first entity whose ``slot`` is the slot's name and whose ``entity_id`` is not null), the
    value is that entity id; otherwise it is ``normalize_request`` of the surface value. Slots are
    sorted by (name, value); a hypothesis without slots is just ``intent``. Entities the resolver
    added without an NLU slot (a room taken from context) are not part of it: the signature says
    what the *words* meant. None when there is no NLU hypothesis. Values are not escaped, so the
    string is a key to compare, not a format to parse.
    """
    if top is None:
        return None
    resolved: dict[str, str] = {}
    for e in entities:
        if e.entity_id is not None and e.slot not in resolved:
            resolved[e.slot] = e.entity_id
    parts = sorted(
        (s.name, resolved[s.name] if s.name in resolved else normalize_request(s.value)) for s in top.slots
    )
    return "|".join([top.intent, *(f"{name}={value}" for name, value in parts)])


def flat_row(t: Turn) -> dict[str, Any]:
    """One turn as a flat row of `FLAT_SCHEMA`."""
    ents = t.resolution.entities
    top = t.nlu.top
    return {
        "turn_id": t.turn_id,
        "session_id": t.session_id,
        "user_id": t.user_id,
        "household_id": t.household_id,
        "device_id": t.device.device_id,
        "device_type": str(t.device.type),
        "turn_index": t.turn_index,
        "timestamp": t.timestamp,
        "room": t.context.room,
        "wake_detected": t.wake.detected,
        "wake_score": t.wake.score,
        "asr_text": t.asr.text,
        "asr_confidence": t.asr.confidence,
        "asr_margin": _margin([h.confidence for h in t.asr.nbest]),
        "rewrite_original": t.rewrite.original if t.rewrite else None,
        "rewrite_text": t.rewrite.rewritten if t.rewrite else None,
        "rewrite_rule_id": t.rewrite.rule_id if t.rewrite else None,
        "rewrite_source": t.rewrite.source if t.rewrite else None,
        "nlu_text": normalize_request(t.nlu.input_text or t.text),
        "nlu_intent": top.intent if top else None,
        "nlu_confidence": top.confidence if top else 0.0,
        "nlu_margin": _margin([h.confidence for h in t.nlu.nbest]),
        "resolution_min_score": min((e.score for e in ents), default=None),
        "action_name": t.action.name,
        "action_status": t.action.status,
        "response_text": t.response.text,
        "response_duration_ms": t.response.duration_ms,
        "barge_in": t.feedback.barge_in,
        "barge_in_offset_ms": t.feedback.barge_in_offset_ms,
        "explicit_feedback": str(t.feedback.explicit) if t.feedback.explicit else None,
        "teaching": t.feedback.teaching,
        "error_codes": t.errors,
        "nlu_interpretation": interpretation(top, ents),
    }


def flatten_turns(turns: Iterable[Turn]) -> pa.Table:
    """Turns -> a flat Arrow table (FLAT_SCHEMA)."""
    return pa.Table.from_pylist([flat_row(t) for t in turns], schema=FLAT_SCHEMA)
