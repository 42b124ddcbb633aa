"""The versioned Arrow schema of a `Turn`, and conversions between turns and Arrow tables.

The log is stored nested: one row per turn, one struct per pipeline stage, lists for n-best lists
and entities, maps for string dictionaries, exactly mirroring `records.py`, so a stored turn comes
back equal to the one written. The schema version travels twice: in the `schema_version` column
(what the producer of each record claimed) and in the Arrow schema metadata under
`SCHEMA_VERSION_KEY` (the layout of the file), so a reader can refuse a file it cannot read
without decoding a row.

Type choices, and why:
  * `timestamp` is `timestamp[us, UTC]`: records hold microsecond UTC datetimes.
  * `context.local_time` is an ISO-8601 *string*: it is a device wall clock that may be naive or
    carry any UTC offset; a naive Arrow timestamp would silently drop the offset and a UTC one would
    shift the wall clock. The string is lossless and sorts by wall time for naive values.
  * enums (`device.type`, `feedback.explicit`) are strings holding the enum value.
  * all integers are int64 (pydantic ints are unbounded; int64 is what Parquet readers expect).

`flatten_table` builds the flat job view (`flat.FLAT_SCHEMA`) straight from the nested table with
Arrow compute kernels, without materialising a pydantic object per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.logs.flat import FLAT_SCHEMA
from selflearn.logs.records import SCHEMA_VERSION, Turn
from selflearn.text.normalize import normalize_request
from selflearn.util.perf import gc_paused

__all__ = [
    "SCHEMA_VERSION_KEY",
    "TURN_SCHEMA",
    "check_schema_version",
    "column_paths",
    "flatten_table",
    "rows_to_records",
    "schema_for_version",
    "schema_version_of",
    "table_to_turns",
    "turns_to_table",
]

SCHEMA_VERSION_KEY = b"selflearn.schema_version"


def _f(name: str, type_: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable)


_STR_MAP = pa.map_(pa.string(), pa.string())

_DEVICE = pa.struct(
    [
        _f("device_id", pa.string()),
        _f("type", pa.string()),
        _f("has_screen", pa.bool_()),
        _f("capabilities", pa.list_(_f("item", pa.string()))),
    ]
)
_DEVICE_STATE = pa.struct(
    [
        _f("entity_id", pa.string()),
        _f("kind", pa.string()),
        _f("name", pa.string()),
        _f("room", pa.string(), True),
        _f("state", _STR_MAP),
    ]
)
_CONTEXT = pa.struct(
    [
        _f("room", pa.string(), True),
        _f("local_time", pa.string(), True),
        _f("location", pa.string(), True),
        _f("device_states", pa.list_(_f("item", _DEVICE_STATE))),
    ]
)
_WAKE = pa.struct(
    [
        _f("detected", pa.bool_()),
        _f("score", pa.float64()),
        _f("threshold", pa.float64()),
        _f("error", pa.string(), True),
    ]
)
_ASR_HYP = pa.struct([_f("text", pa.string()), _f("confidence", pa.float64())])
_ASR = pa.struct(
    [
        _f("engine", pa.string()),
        _f("nbest", pa.list_(_f("item", _ASR_HYP))),
        _f("error", pa.string(), True),
    ]
)
_REWRITE = pa.struct(
    [
        _f("original", pa.string()),
        _f("rewritten", pa.string()),
        _f("rule_id", pa.string()),
        _f("source", pa.string()),
        _f("score", pa.float64()),
        _f("table_version", pa.string(), True),
    ]
)
_SLOT = pa.struct(
    [
        _f("name", pa.string()),
        _f("value", pa.string()),
        _f("start", pa.int64(), True),
        _f("end", pa.int64(), True),
    ]
)
_NLU_HYP = pa.struct(
    [
        _f("intent", pa.string()),
        _f("confidence", pa.float64()),
        _f("slots", pa.list_(_f("item", _SLOT))),
    ]
)
_NLU = pa.struct(
    [
        _f("model", pa.string()),
        _f("input_text", pa.string()),
        _f("nbest", pa.list_(_f("item", _NLU_HYP))),
        _f("error", pa.string(), True),
    ]
)
_ENTITY = pa.struct(
    [
        _f("slot", pa.string()),
        _f("value", pa.string()),
        _f("entity_id", pa.string(), True),
        _f("score", pa.float64()),
        _f("candidates", pa.list_(_f("item", pa.string()))),
    ]
)
_RESOLUTION = pa.struct(
    [
        _f("entities", pa.list_(_f("item", _ENTITY))),
        _f("error", pa.string(), True),
    ]
)
_ACTION = pa.struct(
    [
        _f("name", pa.string(), True),
        _f("arguments", _STR_MAP),
        _f("status", pa.string()),
        _f("error", pa.string(), True),
        _f("changes", pa.list_(_f("item", pa.string()))),
    ]
)
_RESPONSE = pa.struct(
    [
        _f("text", pa.string()),
        _f("has_visual", pa.bool_()),
        _f("duration_ms", pa.int64()),
    ]
)
_FEEDBACK = pa.struct(
    [
        _f("barge_in", pa.bool_()),
        _f("barge_in_offset_ms", pa.int64(), True),
        _f("explicit", pa.string(), True),
        _f("teaching", pa.string(), True),
    ]
)

_TURN_FIELDS = [
    _f("schema_version", pa.string()),
    _f("turn_id", pa.string()),
    _f("session_id", pa.string()),
    _f("user_id", pa.string()),
    _f("household_id", pa.string(), True),
    _f("turn_index", pa.int64()),
    _f("timestamp", pa.timestamp("us", tz="UTC")),
    _f("device", _DEVICE),
    _f("context", _CONTEXT),
    _f("wake", _WAKE),
    _f("asr", _ASR),
    _f("rewrite", _REWRITE, True),
    _f("nlu", _NLU),
    _f("resolution", _RESOLUTION),
    _f("action", _ACTION),
    _f("response", _RESPONSE),
    _f("feedback", _FEEDBACK),
    _f("latency_ms", pa.float64()),
]


def schema_for_version(version: str) -> pa.Schema:
    """The turn schema with `version` recorded in its metadata (one version per file)."""
    return pa.schema(_TURN_FIELDS, metadata={SCHEMA_VERSION_KEY: version.encode()})


TURN_SCHEMA: pa.Schema = schema_for_version(SCHEMA_VERSION)
"""The nested Arrow schema of `records.Turn` at the current `SCHEMA_VERSION`."""


def schema_version_of(schema: pa.Schema) -> str | None:
    """The schema version recorded in an Arrow/Parquet schema's metadata, or None."""
    raw = (schema.metadata or {}).get(SCHEMA_VERSION_KEY)
    return raw.decode() if raw is not None else None


def check_schema_version(schema: pa.Schema, source: str = "table") -> str:
    """Return the file's schema version; raise ValueError if missing or of another major version.

    A reader speaks every minor version of its major (minor bumps only add optional fields).
    """
    version = schema_version_of(schema)
    if version is None:
        raise ValueError(f"{source}: no {SCHEMA_VERSION_KEY.decode()!r} in the schema metadata")
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise ValueError(
            f"{source}: unsupported schema version {version!r}; this reader speaks {SCHEMA_VERSION}"
        )
    return version


# --- turns -> table --------------------------------------------------------------------------


def _turn_row(t: Turn) -> dict[str, Any]:
    # model_dump (python mode) runs in pydantic-core and keeps datetimes / enums, which pyarrow
    # converts natively; only the wall-clock local_time needs its lossless string form.
    d = t.model_dump()
    lt: datetime | None = d["context"]["local_time"]
    if lt is not None:
        d["context"]["local_time"] = lt.isoformat()
    return d


def turns_to_table(turns: Iterable[Turn], version: str | None = None) -> pa.Table:
    """Turns -> a nested Arrow table of `TURN_SCHEMA`.

    `version` is the schema version written to the metadata; by default the turns' own (which must
    then all agree: one schema version per file), or `SCHEMA_VERSION` for no turns.
    """
    turns = list(turns)
    versions = {t.schema_version for t in turns}
    if version is None:
        if len(versions) > 1:
            raise ValueError(f"turns of several schema versions in one table: {sorted(versions)}")
        version = versions.pop() if versions else SCHEMA_VERSION
    with gc_paused():
        rows = [_turn_row(t) for t in turns]
        return pa.Table.from_pylist(rows, schema=schema_for_version(version))


# --- table -> turns --------------------------------------------------------------------------


def _map_to_dict(v: Any) -> Any:
    # Arrow maps come back from to_pylist as lists of (key, value) tuples.
    return dict(v) if isinstance(v, list) else v


def _fix_row(d: dict[str, Any]) -> dict[str, Any]:
    ctx = d.get("context")
    if isinstance(ctx, dict):
        for ds in ctx.get("device_states") or ():
            if isinstance(ds, dict) and "state" in ds:
                ds["state"] = _map_to_dict(ds["state"])
    act = d.get("action")
    if isinstance(act, dict) and "arguments" in act:
        act["arguments"] = _map_to_dict(act["arguments"])
    return d


def rows_to_records(batch: pa.RecordBatch | pa.Table) -> list[dict[str, Any]]:
    """Rows of a (nested) turn batch as plain dicts shaped like the JSON record (maps -> dicts).

    No validation: used by the ingest path, which validates each record itself.
    """
    return [_fix_row(d) for d in batch.to_pylist()]


def table_to_turns(table: pa.Table | pa.RecordBatch, batch_size: int = 8192) -> Iterator[Turn]:
    """Nested turn table -> validated `Turn`s, converting `batch_size` rows at a time."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    for batch in table.to_batches(max_chunksize=batch_size):
        with gc_paused():  # convert a whole batch, then hand it out with the collector back on
            out = [Turn.model_validate(d) for d in rows_to_records(batch)]
        yield from out


# --- nested -> flat ----------------------------------------------------------------------------


def _field(arr: pa.Array, *names: str) -> pa.Array:
    """A (nested) struct child, null wherever any parent struct is null."""
    for name in names:
        arr = pc.struct_field(arr, name)
    return arr


def _nth(list_arr: pa.Array, n: int) -> pa.Array:
    """Element `n` of each list, null where the list is shorter (or null)."""
    sliced = pc.list_slice(list_arr, n, n + 1)
    values = pc.list_flatten(sliced)
    parents = pc.list_parent_indices(sliced).to_numpy(zero_copy_only=False)
    idx = np.full(len(list_arr), -1, dtype=np.int64)
    idx[parents] = np.arange(len(parents), dtype=np.int64)
    mask = idx < 0
    return pc.take(values, pa.array(idx, mask=mask))


def _list_min(list_arr: pa.Array, child: str) -> pa.Array:
    """Minimum of `child` over each list of structs; null for empty lists (like `min(default=None)`)."""
    n = len(list_arr)
    values = pc.struct_field(pc.list_flatten(list_arr), child).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(list_arr).to_numpy(zero_copy_only=False)
    out = np.zeros(n, dtype=np.float64)
    mask = np.ones(n, dtype=bool)
    if len(values):
        starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
        rows = parents[starts]
        out[rows] = np.minimum.reduceat(values.astype(np.float64), starts)
        mask[rows] = False
    return pa.array(out, mask=mask)


def _margin(list_arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(1-best confidence or 0.0, 1-best minus 2-best confidence) as in `flat._margin`."""
    c0 = pc.fill_null(pc.struct_field(_nth(list_arr, 0), "confidence"), 0.0)
    c1 = pc.fill_null(pc.struct_field(_nth(list_arr, 1), "confidence"), 0.0)
    return c0, pc.subtract(c0, c1)


def _normalize(texts: pa.Array) -> pa.Array:
    """`normalize_request` over a string column, computed once per distinct text."""
    enc = pc.dictionary_encode(texts)
    dictionary = enc.dictionary.to_pylist()
    normed = pa.array([normalize_request(s) for s in dictionary], pa.string())
    return pc.take(normed, enc.indices)


def _interpretation(nlu_nbest: pa.Array, entities: pa.Array) -> pa.Array:
    """`flat.interpretation` per row: ``intent|name=value|...`` of the top NLU hypothesis, a slot's
    value being the entity id of the first resolved entity of that slot, else its normalized
    surface value; slots sorted by (name, value); null without a hypothesis.

    Vectorised: slots and entities are flattened, matched on (row, slot name) with integer keys,
    normalized once per distinct surface value and ordered with one lexsort; no per-row Python."""
    n = len(nlu_nbest)
    top = _nth(nlu_nbest, 0)
    intent = pc.struct_field(top, "intent").cast(pa.string())
    slots = pc.struct_field(top, "slots")  # null list where there is no hypothesis
    items = pc.list_flatten(slots)
    slot_row = np.asarray(pc.list_parent_indices(slots).to_numpy(zero_copy_only=False), dtype=np.int64)
    if len(slot_row) == 0:
        return intent
    names = pc.struct_field(items, "name").cast(pa.string())
    surface = _normalize(pc.struct_field(items, "value").cast(pa.string()))

    ents = pc.list_flatten(entities)
    ent_row = np.asarray(pc.list_parent_indices(entities).to_numpy(zero_copy_only=False), dtype=np.int64)
    ent_id = pc.struct_field(ents, "entity_id").cast(pa.string())
    resolved = np.flatnonzero(np.asarray(pc.is_valid(ent_id).to_numpy(zero_copy_only=False), dtype=bool))
    ns = len(slot_row)
    enc = pc.dictionary_encode(
        pa.concat_arrays([names, pc.struct_field(ents, "slot").cast(pa.string()).take(pa.array(resolved))])
    )
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    k = max(len(enc.dictionary), 1)
    slot_key = slot_row * k + codes[:ns]
    # the first resolved entity of each (row, slot name), in the resolver's order
    ent_key, first = np.unique(ent_row[resolved] * k + codes[ns:], return_index=True)
    at = np.minimum(np.searchsorted(ent_key, slot_key), max(len(ent_key) - 1, 0))
    hit = ent_key[at] == slot_key if len(ent_key) else np.zeros(ns, dtype=bool)
    idx = pa.array(np.where(hit, resolved[first[at]] if len(ent_key) else 0, 0), mask=~hit)
    value = pc.if_else(pa.array(hit), pc.take(ent_id, idx), surface)

    # order slots by (row, name, value); Arrow's string order (UTF-8 bytes) is Python's code-point order
    name_rank = pc.rank(names, sort_keys="ascending", tiebreaker="dense").to_numpy(zero_copy_only=False)
    value_rank = pc.rank(value, sort_keys="ascending", tiebreaker="dense").to_numpy(zero_copy_only=False)
    order = pa.array(np.lexsort((value_rank, name_rank, slot_row)))
    parts = pc.binary_join_element_wise(names, value, "=").take(order)
    counts = np.bincount(slot_row, minlength=n)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), parts), "|")
    with_slots = pc.binary_join_element_wise(intent, joined, "|")
    return pc.if_else(pa.array(counts > 0), with_slots, intent)


def _nonempty(arr: pa.Array) -> np.ndarray:
    valid = pc.fill_null(pc.not_equal(arr, ""), False)
    return np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)


def _error_codes(errors: list[pa.Array], n: int) -> pa.Array:
    """Per row, the non-empty stage errors in pipeline order (as `Turn.errors`)."""
    k = len(errors)
    mask = np.stack([_nonempty(e) for e in errors], axis=1) if k else np.zeros((n, 0), bool)
    counts = mask.sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    # Row-major positions into the concatenation [errors[0] | errors[1] | ...].
    pos = (np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel()[mask.ravel()]
    values = pc.take(pa.concat_arrays([e.cast(pa.string()) for e in errors]), pa.array(pos))
    return pa.ListArray.from_arrays(pa.array(offsets), values, type=pa.list_(pa.string()))


def _flatten_batch(b: pa.RecordBatch) -> pa.RecordBatch:
    n = b.num_rows
    col = b.column
    asr_nbest = _field(col("asr"), "nbest")
    nlu_nbest = _field(col("nlu"), "nbest")
    rewrite = col("rewrite")
    asr_conf, asr_margin = _margin(asr_nbest)
    nlu_conf, nlu_margin = _margin(nlu_nbest)
    asr_text = pc.fill_null(pc.struct_field(_nth(asr_nbest, 0), "text"), "")
    rewritten = _field(rewrite, "rewritten")
    # Turn.text: the rewrite if one fired, else the ASR 1-best; the NLU input wins if non-empty.
    turn_text = pc.if_else(pc.is_valid(rewritten), rewritten, asr_text)
    input_text = _field(col("nlu"), "input_text")
    nlu_src = pc.if_else(pc.fill_null(pc.not_equal(input_text, ""), False), input_text, turn_text)
    errors = [_field(col(stage), "error") for stage in ("wake", "asr", "nlu", "resolution", "action")]
    columns: dict[str, Any] = {
        "turn_id": col("turn_id"),
        "session_id": col("session_id"),
        "user_id": col("user_id"),
        "household_id": col("household_id"),
        "device_id": _field(col("device"), "device_id"),
        "device_type": _field(col("device"), "type"),
        "turn_index": col("turn_index"),
        "timestamp": col("timestamp"),
        "room": _field(col("context"), "room"),
        "wake_detected": _field(col("wake"), "detected"),
        "wake_score": _field(col("wake"), "score"),
        "asr_text": asr_text,
        "asr_confidence": asr_conf,
        "asr_margin": asr_margin,
        "rewrite_original": _field(rewrite, "original"),
        "rewrite_text": rewritten,
        "rewrite_rule_id": _field(rewrite, "rule_id"),
        "rewrite_source": _field(rewrite, "source"),
        "nlu_text": _normalize(nlu_src) if n else pa.array([], pa.string()),
        "nlu_intent": pc.struct_field(_nth(nlu_nbest, 0), "intent"),
        "nlu_confidence": nlu_conf,
        "nlu_margin": nlu_margin,
        "resolution_min_score": _list_min(_field(col("resolution"), "entities"), "score"),
        "action_name": _field(col("action"), "name"),
        "action_status": _field(col("action"), "status"),
        "response_text": _field(col("response"), "text"),
        "response_duration_ms": _field(col("response"), "duration_ms"),
        "barge_in": _field(col("feedback"), "barge_in"),
        "barge_in_offset_ms": _field(col("feedback"), "barge_in_offset_ms"),
        "explicit_feedback": _field(col("feedback"), "explicit"),
        "teaching": _field(col("feedback"), "teaching"),
        "error_codes": _error_codes(errors, n),
        "nlu_interpretation": (
            _interpretation(nlu_nbest, _field(col("resolution"), "entities"))
            if n
            else pa.array([], pa.string())
        ),
    }
    arrays = [pc.cast(columns[f.name], f.type) for f in FLAT_SCHEMA]
    return pa.RecordBatch.from_arrays(arrays, schema=FLAT_SCHEMA)


def flatten_table(table: pa.Table | pa.RecordBatch) -> pa.Table:
    """Nested turn table -> the flat job view (`flat.FLAT_SCHEMA`), with Arrow kernels.

    Gives the same table as `flat.flatten_turns` over the same turns (tested), an order of
    magnitude faster because no per-row Python objects are built (only `normalize_request`, once
    per distinct NLU text).
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    missing = [f.name for f in TURN_SCHEMA if f.name not in table.schema.names]
    if missing:
        raise ValueError(f"not a turn table: missing columns {missing}")
    batches = [_flatten_batch(b) for b in table.to_batches() if b.num_rows]
    if not batches:
        return FLAT_SCHEMA.empty_table()
    return pa.Table.from_batches(batches, schema=FLAT_SCHEMA)


def column_paths(schema: pa.Schema | pa.DataType = TURN_SCHEMA) -> set[str]:
    """Every column path of a nested schema, dotted (list items as `[]`), for drift checks."""
    out: set[str] = set()

    def walk(t: pa.DataType, prefix: str) -> None:
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                f = t.field(i)
                p = f"{prefix}.{f.name}" if prefix else f.name
                out.add(p)
                walk(f.type, p)
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            walk(t.value_type, prefix + "[]")

    if isinstance(schema, pa.Schema):
        walk(pa.struct(list(schema)), "")
    else:
        walk(schema, "")
    return out
