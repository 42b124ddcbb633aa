"""Request turns of a session and the candidate (turn, later turn) pairs a rephrase detector scores.

Every function here is a pure function over an Arrow table of complete sessions (all turns of each
`session_id` present) and works row-wise within a session only, so the result does not depend on
how sessions are partitioned across workers (DuckDB/Polars in-process, Spark `applyInArrow`).

Only turns where the wake word fired are requests: a turn with `wake_detected` false never reached
the user's intent, so it is neither paired nor chained (a null `wake_detected`, e.g. push-to-talk
logs, counts as a request).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.logs.flat import FLAT_SCHEMA

# The flat columns the feedback jobs read. Anything else in the input is ignored, so a caller can
# pass a wider table (e.g. with engine-added columns).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "turn_id",
    "session_id",
    "user_id",
    "turn_index",
    "timestamp",
    "wake_detected",
    "asr_text",
    "asr_confidence",
    "rewrite_original",
    "rewrite_rule_id",
    "nlu_text",
    "nlu_intent",
    "nlu_confidence",
    "action_status",
    "response_text",
    "response_duration_ms",
    "barge_in",
    "barge_in_offset_ms",
    "explicit_feedback",
    "error_codes",
)

OPTIONAL_COLUMNS: tuple[str, ...] = ("household_id",)

PAIRS_SCHEMA = pa.schema(
    [
        ("turn_id_a", pa.string()),
        ("turn_id_b", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("hop", pa.int32()),  # b is the hop-th request after a
        ("pos_a", pa.int32()),  # a's position among the session's request turns
        ("gap_s", pa.float64()),  # seconds from a's start to b's start
        ("text_a", pa.string()),  # nlu_text of a (what the NLU read)
        ("text_b", pa.string()),
        ("barge_in_a", pa.bool_()),
        ("barge_in_offset_ms_a", pa.int64()),
        ("response_duration_ms_a", pa.int64()),
        ("has_error_a", pa.bool_()),
        ("nlu_confidence_a", pa.float64()),
        ("asr_confidence_a", pa.float64()),
        ("nlu_intent_a", pa.string()),
        ("nlu_intent_b", pa.string()),
        ("nlu_confidence_b", pa.float64()),
        ("response_text_a", pa.string()),  # what the assistant answered a (contextual detectors)
    ]
)
"""Output of `candidate_pairs`: one row per (a, b) with b 1..max_ahead requests after a."""

SCORED_PAIRS_SCHEMA = PAIRS_SCHEMA.append(pa.field("prob", pa.float64()))
"""`PAIRS_SCHEMA` plus the detector's rephrase probability; what `build_chains` reads as pair_probs.
Only turn_id_a, turn_id_b and prob are actually needed there."""

LINKS_SCHEMA = pa.schema(
    [
        ("turn_id_a", pa.string()),
        ("turn_id_b", pa.string()),
        ("session_id", pa.string()),
        ("hop", pa.int32()),
        ("prob", pa.float64()),
    ]
)
"""Output of `select_links`: the rephrase links chains are made of (each turn at most one in, one out)."""

_FLAT_TYPES = {f.name: f.type for f in FLAT_SCHEMA}


def _conform(flat: pa.Table) -> pa.Table:
    """The required columns, cast to their FLAT_SCHEMA types (Polars/Spark may hand large_string,
    a different timestamp unit or chunked columns)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in flat.column_names]
    if missing:
        raise KeyError(f"flat table lacks feedback columns {missing}; expected logs.flat.FLAT_SCHEMA")
    # the principal who sent a turn (chains.principal) travels along where the table has it
    names = [*REQUIRED_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in flat.column_names)]
    cols = []
    for name in names:
        col = flat.column(name)
        want = _FLAT_TYPES[name]
        if col.type != want:
            col = col.cast(want)
        cols.append(col)
    return pa.table(cols, names=names)


def request_turns(flat: pa.Table) -> pa.Table:
    """The request turns of `flat` (wake fired), in session order, with a `pos` column.

    Rows are sorted by (session_id, timestamp, turn_index, turn_id) so every later step can rely on
    "the next row of the same session is the next request"; `pos` (int32) is the 0-based position
    of the turn among its session's requests.
    """
    t = _conform(flat)
    if t.num_rows:
        keep = pc.fill_null(t.column("wake_detected"), True)
        t = t.filter(keep)
    if t.num_rows:
        order = pc.sort_indices(
            t,
            sort_keys=[
                ("session_id", "ascending"),
                ("timestamp", "ascending"),
                ("turn_index", "ascending"),
                ("turn_id", "ascending"),
            ],
        )
        t = t.take(order)
    t = t.combine_chunks()
    starts = session_starts(t)
    n = t.num_rows
    run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    pos = (np.arange(n) - run_start).astype(np.int32)
    return t.append_column("pos", pa.array(pos, pa.int32()))


def session_starts(req: pa.Table) -> np.ndarray:
    """Boolean mask: row starts a new session (rows sorted by session)."""
    n = req.num_rows
    if n == 0:
        return np.zeros(0, dtype=bool)
    codes = _codes(req.column("session_id"))
    starts = np.ones(n, dtype=bool)
    starts[1:] = codes[1:] != codes[:-1]
    return starts


def _codes(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Dense integer codes of a string column (equal strings, equal codes)."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = pc.dictionary_encode(arr)
    return np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _micros(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(col.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)


def candidate_pairs(flat: pa.Table, max_gap_s: float = 60.0, max_ahead: int = 2) -> pa.Table:
    """For each request turn a, the next 1..max_ahead requests b of its session starting within
    `max_gap_s` seconds of a: the rows a rephrase detector scores (`PAIRS_SCHEMA`).

    The window is small on purpose: a rephrase follows its failed request within seconds; a hop-2
    pair lets a chain skip an interjection ("stop", "cancel") between a request and its retry.
    Rows come out ordered by (session, position of a, hop).
    """
    if max_ahead < 1:
        raise ValueError(f"max_ahead must be >= 1, got {max_ahead}")
    req = request_turns(flat)
    n = req.num_rows
    codes = _codes(req.column("session_id")) if n else np.zeros(0, np.int64)
    ts = _micros(req.column("timestamp")) if n else np.zeros(0, np.int64)
    max_gap_us = max_gap_s * 1e6
    idx_a: list[np.ndarray] = []
    idx_b: list[np.ndarray] = []
    for hop in range(1, max_ahead + 1):
        if n <= hop:
            break
        a = np.arange(n - hop)
        b = a + hop
        gap = ts[b] - ts[a]
        ok = (codes[a] == codes[b]) & (gap <= max_gap_us)
        idx_a.append(a[ok])
        idx_b.append(b[ok])
    if idx_a:
        ia = np.concatenate(idx_a)
        ib = np.concatenate(idx_b)
        order = np.lexsort((ib - ia, ia))  # by a, then hop
        ia, ib = ia[order], ib[order]
    else:
        ia = ib = np.zeros(0, dtype=np.int64)
    ta = req.take(pa.array(ia, pa.int64()))
    tb = req.take(pa.array(ib, pa.int64()))
    has_err = pc.greater(pc.fill_null(pc.list_value_length(ta.column("error_codes")), 0), 0)
    gap_s = (ts[ib] - ts[ia]).astype(np.float64) / 1e6
    cols = {
        "turn_id_a": ta.column("turn_id"),
        "turn_id_b": tb.column("turn_id"),
        "session_id": ta.column("session_id"),
        "user_id": ta.column("user_id"),
        "hop": pa.array((ib - ia).astype(np.int32), pa.int32()),
        "pos_a": ta.column("pos"),
        "gap_s": pa.array(gap_s, pa.float64()),
        "text_a": pc.fill_null(ta.column("nlu_text"), ""),
        "text_b": pc.fill_null(tb.column("nlu_text"), ""),
        "barge_in_a": pc.fill_null(ta.column("barge_in"), False),
        "barge_in_offset_ms_a": ta.column("barge_in_offset_ms"),
        "response_duration_ms_a": pc.fill_null(ta.column("response_duration_ms"), 0),
        "has_error_a": has_err,
        "nlu_confidence_a": pc.fill_null(ta.column("nlu_confidence"), 0.0),
        "asr_confidence_a": pc.fill_null(ta.column("asr_confidence"), 0.0),
        "nlu_intent_a": ta.column("nlu_intent"),
        "nlu_intent_b": tb.column("nlu_intent"),
        "nlu_confidence_b": pc.fill_null(tb.column("nlu_confidence"), 0.0),
        "response_text_a": pc.fill_null(ta.column("response_text"), ""),
    }
    return pa.table(cols, schema=PAIRS_SCHEMA)


def select_links(req: pa.Table, pair_probs: pa.Table | None, threshold: float) -> pa.Table:
    """The rephrase links of `req` (the output of `request_turns`): each request gets at most one
    predecessor and at most one successor, so links form chains (paths).

    Rule, per session in time order of the later turn b: b's predecessor is the NEAREST earlier
    request a with a scored pair (a, b) at prob >= threshold that has no successor yet. Nearest
    first, not most probable: in A, A', A'' (three tries at one goal) A'' must follow A', not A.
    A hop-2 link is only taken when the hop-1 pair is below threshold (or its source is taken), so
    it skips a turn that is not a rephrase, e.g. "play x" / "stop" / "play x". The skipped turn
    forms its own chain. Pairs naming turns not in `req` (non-requests, other partitions) are
    ignored; only turn_id_a, turn_id_b and prob are read from `pair_probs`.
    """
    empty = pa.table(
        {f.name: pa.array([], f.type) for f in LINKS_SCHEMA},
        schema=LINKS_SCHEMA,
    )
    if pair_probs is None or pair_probs.num_rows == 0 or req.num_rows == 0:
        return empty
    ids = req.column("turn_id").combine_chunks()
    ra = pc.index_in(pair_probs.column("turn_id_a").cast(pa.string()), value_set=ids)
    rb = pc.index_in(pair_probs.column("turn_id_b").cast(pa.string()), value_set=ids)
    prob = pc.fill_null(pair_probs.column("prob").cast(pa.float64()), 0.0)
    valid = pc.and_(pc.and_(pc.is_valid(ra), pc.is_valid(rb)), pc.greater_equal(prob, threshold))
    ra_np = np.asarray(pc.filter(ra, valid).to_numpy(zero_copy_only=False), dtype=np.int64)
    rb_np = np.asarray(pc.filter(rb, valid).to_numpy(zero_copy_only=False), dtype=np.int64)
    p_np = np.asarray(pc.filter(prob, valid).to_numpy(zero_copy_only=False), dtype=np.float64)
    codes = _codes(req.column("session_id"))
    ok = (rb_np > ra_np) & (codes[ra_np] == codes[rb_np])
    ra_np, rb_np, p_np = ra_np[ok], rb_np[ok], p_np[ok]
    # Target order, then nearest source first (largest a); duplicates of a pair keep the first.
    order = np.lexsort((-ra_np, rb_np))
    has_succ: set[int] = set()
    has_pred: set[int] = set()
    keep_a: list[int] = []
    keep_b: list[int] = []
    keep_p: list[float] = []
    for k in order.tolist():
        a, b = int(ra_np[k]), int(rb_np[k])
        if a in has_succ or b in has_pred:
            continue
        has_succ.add(a)
        has_pred.add(b)
        keep_a.append(a)
        keep_b.append(b)
        keep_p.append(float(p_np[k]))
    if not keep_a:
        return empty
    ia = pa.array(keep_a, pa.int64())
    ib = pa.array(keep_b, pa.int64())
    pos = req.column("pos")
    hop = np.asarray(pos.take(ib).to_numpy(), dtype=np.int32) - np.asarray(
        pos.take(ia).to_numpy(), dtype=np.int32
    )
    return pa.table(
        {
            "turn_id_a": ids.take(ia),
            "turn_id_b": ids.take(ib),
            "session_id": req.column("session_id").take(ia),
            "hop": pa.array(hop, pa.int32()),
            "prob": pa.array(keep_p, pa.float64()),
        },
        schema=LINKS_SCHEMA,
    )
