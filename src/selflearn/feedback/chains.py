"""Rephrase chains: each request turn's attempt sequence, the unit the Markov rewrite miner reads.

A chain is a maximal run of request turns in one session where each turn is a detected rephrase
of the one before it. Links come from `pairs.select_links`: the nearest earlier request whose pair
scores >= threshold; a hop-2 link is used only when the hop-1 pair is not a rephrase, so a chain
may skip an interjection ("play x" / "stop" / "play x" is the chain [play x, play x], and "stop"
is a chain of its own). Every request turn belongs to exactly one chain, so a request that
needed no retry is a chain of length 1 and the miner also learns each request's own success
rate. Turns whose wake word did not fire are not requests and appear in no chain.

Outcome (of the chain's last turn, scored by a `DefectScorer`):
- "success": the last turn is not defective;
- "failure": it is defective and the user said so (explicit negative), or it is defective and the
  session went on to something else (an error, a barge-in, then a different request);
- "abandoned": it is defective, without explicit feedback, and it is the session's last request:
  the user gave up.

Per turn a chain also carries the texts (as heard and as read), the rule that fired, the intent and
the NLU interpretation (`logs.flat.interpretation`: intent plus resolved slots), so the miner can
pool successes that were worded differently but understood the same way.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.feedback.defect import DefectScorer
from selflearn.feedback.pairs import candidate_pairs, request_turns, select_links, session_starts
from selflearn.feedback.rephrase_baseline import PairScorer
from selflearn.text.normalize import normalize_request

_TS = pa.timestamp("us", tz="UTC")


def _asr_texts(req: pa.Table) -> pa.Array:
    """normalize_request of the ASR 1-best: the rewrite's original if a rewrite fired, else asr_text."""
    raw = pc.coalesce(req.column("rewrite_original"), req.column("asr_text"), pa.scalar("")).combine_chunks()
    uniq = pc.unique(raw)
    norm = pa.array([normalize_request(s) for s in uniq.to_pylist()], pa.string())
    return norm.take(pc.index_in(raw, value_set=uniq))


def _interpretations(flat: pa.Table, req: pa.Table) -> pa.Array:
    """`nlu_interpretation` of each request turn (aligned with `req`), looked up by turn id.

    `request_turns` keeps only the columns the feedback steps need, so the interpretation is joined
    back from `flat`; a flat table without the column (written before it existed) gives nulls."""
    if "nlu_interpretation" not in flat.column_names or req.num_rows == 0:
        return pa.nulls(req.num_rows, pa.string())
    ids = flat.column("turn_id").cast(pa.string())
    where = pc.index_in(req.column("turn_id"), value_set=ids.combine_chunks())
    col = flat.column("nlu_interpretation").cast(pa.string()).combine_chunks()
    return col.take(where)


def _list(
    values: pa.Array | pa.ChunkedArray, order: pa.Array, offsets: pa.Array, typ: pa.DataType
) -> pa.Array:
    vals = values.take(order)
    if isinstance(vals, pa.ChunkedArray):
        vals = vals.combine_chunks()
    return pa.ListArray.from_arrays(offsets, vals.cast(typ), type=pa.list_(typ))


def _chains(req: pa.Table, links: pa.Table, feedback: pa.Table, interpretations: pa.Array) -> pa.Table:
    """Assemble chains from request turns, their selected links, per-turn feedback and per-turn
    NLU interpretations (all aligned)."""
    n = req.num_rows
    if n == 0:
        return CHAIN_SCHEMA.empty_table()
    root = np.arange(n, dtype=np.int64)
    if links.num_rows:
        ids = req.column("turn_id").combine_chunks()
        ra = np.asarray(pc.index_in(links.column("turn_id_a"), value_set=ids).to_numpy(), dtype=np.int64)
        rb = np.asarray(pc.index_in(links.column("turn_id_b"), value_set=ids).to_numpy(), dtype=np.int64)
        for k in np.argsort(rb, kind="stable").tolist():  # a < b, so root[a] is final when b is set
            root[rb[k]] = root[ra[k]]
    order_np = np.lexsort((np.arange(n), root))
    sorted_root = root[order_np]
    heads = np.flatnonzero(np.r_[True, sorted_root[1:] != sorted_root[:-1]])
    offsets_np = np.r_[heads, n].astype(np.int32)
    first = order_np[heads]
    last = order_np[offsets_np[1:] - 1]
    order = pa.array(order_np, pa.int64())
    offsets = pa.array(offsets_np, pa.int32())

    starts = session_starts(req)
    session_last = np.r_[starts[1:], True]
    defective = np.asarray(feedback.column("defective").to_numpy(zero_copy_only=False), dtype=bool)
    negative = np.asarray(feedback.column("explicit_negative").to_numpy(zero_copy_only=False), dtype=bool)
    outcome = np.where(
        ~defective[last],
        "success",
        np.where(negative[last] | ~session_last[last], "failure", "abandoned"),
    )

    first_idx = pa.array(first, pa.int64())
    last_idx = pa.array(last, pa.int64())
    session = req.column("session_id").take(first_idx)
    first_turn = req.column("turn_id").take(first_idx)
    ts = req.column("timestamp")
    cols = {
        "chain_id": pc.binary_join_element_wise(session, first_turn, ":"),
        "user_id": req.column("user_id").take(first_idx),
        "session_id": session,
        "turn_ids": _list(req.column("turn_id"), order, offsets, pa.string()),
        "asr_texts": _list(_asr_texts(req), order, offsets, pa.string()),
        "nlu_texts": _list(req.column("nlu_text"), order, offsets, pa.string()),
        "rule_ids": _list(req.column("rewrite_rule_id"), order, offsets, pa.string()),
        "intents": _list(req.column("nlu_intent"), order, offsets, pa.string()),
        "timestamps": _list(ts, order, offsets, _TS),
        "defective": _list(feedback.column("defective"), order, offsets, pa.bool_()),
        "outcome": pa.array(outcome.tolist(), pa.string()),
        "first_ts": ts.take(first_idx),
        "last_ts": ts.take(last_idx),
        "interpretations": _list(interpretations, order, offsets, pa.string()),
        "principal": _principal(req).take(first_idx),
    }
    return pa.table(cols, schema=CHAIN_SCHEMA)


def _principal(req: pa.Table) -> pa.Array:
    """Per turn, its household (the authenticated principal) where the log has one, else its user."""
    users = req.column("user_id")
    if "household_id" not in req.column_names:
        return users
    return pc.coalesce(req.column("household_id"), users)


def build_chains(
    flat: pa.Table, pair_probs: pa.Table | None, scorer: DefectScorer, threshold: float
) -> pa.Table:
    """Chains (`CHAIN_SCHEMA`) of the request turns in `flat` (complete sessions).

    `pair_probs` holds scored candidate pairs (at least turn_id_a, turn_id_b, prob; e.g.
    `candidate_pairs` plus a `prob` column); a pair links its turns when prob >= `threshold`.
    None: no rephrase evidence, every request is its own chain.
    """
    req = request_turns(flat)
    links = select_links(req, pair_probs, threshold)
    return _chains(req, links, scorer.score_requests(req, links), _interpretations(flat, req))


def detect_sessions(
    flat: pa.Table,
    detector: PairScorer,
    scorer: DefectScorer,
    threshold: float,
    max_gap_s: float = 60.0,
    max_ahead: int = 2,
) -> tuple[pa.Table, pa.Table]:
    """The per-session-group job step: (per-turn feedback `FEEDBACK_SCHEMA`, chains `CHAIN_SCHEMA`).

    Pure over a table of complete sessions, so engines may call it on any grouping of sessions
    (one `applyInArrow` group, a Polars partition, the whole day) and concatenate the results.
    """
    req = request_turns(flat)
    pairs = candidate_pairs(flat, max_gap_s=max_gap_s, max_ahead=max_ahead)
    if pairs.num_rows:
        probs = np.asarray(detector.predict_proba(pairs), dtype=np.float64)
    else:
        probs = np.zeros(0, dtype=np.float64)
    if probs.shape != (pairs.num_rows,):
        raise ValueError(f"detector returned shape {probs.shape} for {pairs.num_rows} pairs")
    pair_probs = pairs.append_column("prob", pa.array(probs, pa.float64()))
    links = select_links(req, pair_probs, threshold)
    feedback = scorer.score_requests(req, links)
    return feedback, _chains(req, links, feedback, _interpretations(flat, req))
