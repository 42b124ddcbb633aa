from __future__ import annotations

import random

import pyarrow as pa
import pytest

from selflearn.feedback.pairs import (
    LINKS_SCHEMA,
    PAIRS_SCHEMA,
    candidate_pairs,
    request_turns,
    select_links,
)
from selflearn.logs.flat import FLAT_SCHEMA, flatten_turns


def _session(turn):
    return [
        turn("s1", 0, 0, "turn on the chicken lights", "lights_on", 0.4, barge_in=True, offset_ms=300),
        turn("s1", 1, 5, "hey", wake=False),  # a missed wake: not a request
        turn("s1", 2, 8, "turn on the kitchen lights", "lights_on", error="er-unresolved"),
        turn("s1", 3, 20, "what time is it", "time_query"),
        turn("s1", 4, 200, "lock the door", "door_lock"),  # far later: out of every window
        turn("s2", 0, 1, "volume up", "volume_up"),
    ]


def test_pairs_window_hops_and_wake_exclusion(turn):
    pairs = candidate_pairs(flatten_turns(_session(turn)), max_gap_s=60.0, max_ahead=2)
    assert pairs.schema.equals(PAIRS_SCHEMA)
    got = list(
        zip(
            pairs["turn_id_a"].to_pylist(),
            pairs["turn_id_b"].to_pylist(),
            pairs["hop"].to_pylist(),
            strict=True,
        )
    )
    # t1 never appears (wake did not fire); hops count requests only; t4 is 180 s after t3.
    assert got == [("s1-t0", "s1-t2", 1), ("s1-t0", "s1-t3", 2), ("s1-t2", "s1-t3", 1)]
    assert pairs["gap_s"].to_pylist() == [8.0, 20.0, 12.0]
    assert pairs["pos_a"].to_pylist() == [0, 0, 1]


def test_pairs_carry_signals_of_a_and_b(turn):
    pairs = candidate_pairs(flatten_turns(_session(turn)))
    first = pairs.slice(0, 1).to_pylist()[0]
    assert first["text_a"] == "turn on the chicken lights"
    assert first["text_b"] == "turn on the kitchen lights"
    assert first["barge_in_a"] is True and first["barge_in_offset_ms_a"] == 300
    assert first["response_duration_ms_a"] == 2000
    assert first["has_error_a"] is False
    assert first["nlu_confidence_a"] == pytest.approx(0.4)
    assert first["nlu_intent_a"] == "lights_on" and first["nlu_intent_b"] == "lights_on"
    third = pairs.slice(2, 1).to_pylist()[0]
    assert third["has_error_a"] is True and third["nlu_intent_b"] == "time_query"


def test_pairs_parameters_and_row_order_invariance(turn):
    flat = flatten_turns(_session(turn))
    assert candidate_pairs(flat, max_ahead=1)["hop"].to_pylist() == [1, 1]
    assert candidate_pairs(flat, max_gap_s=10.0)["turn_id_b"].to_pylist() == ["s1-t2"]
    rows = flat.to_pylist()
    random.Random(0).shuffle(rows)
    shuffled = pa.Table.from_pylist(rows, schema=FLAT_SCHEMA)
    assert candidate_pairs(shuffled).equals(candidate_pairs(flat))
    with pytest.raises(ValueError):
        candidate_pairs(flat, max_ahead=0)


def test_empty_and_polars_typed_input(turn):
    empty = candidate_pairs(FLAT_SCHEMA.empty_table())
    assert empty.num_rows == 0 and empty.schema.equals(PAIRS_SCHEMA)
    flat = flatten_turns(_session(turn))
    wide = flat.cast(
        pa.schema([pa.field(f.name, pa.large_string()) if f.type == pa.string() else f for f in flat.schema])
    )
    assert candidate_pairs(wide).equals(candidate_pairs(flat))
    with pytest.raises(KeyError, match="nlu_text"):
        candidate_pairs(flat.drop_columns(["nlu_text"]))


def test_request_turns_positions(turn):
    req = request_turns(flatten_turns(_session(turn)))
    assert req["turn_id"].to_pylist() == ["s1-t0", "s1-t2", "s1-t3", "s1-t4", "s2-t0"]
    assert req["pos"].to_pylist() == [0, 1, 2, 3, 0]


def _probs(pairs: list[tuple[str, str, float]]) -> pa.Table:
    a, b, p = zip(*pairs, strict=True)
    return pa.table({"turn_id_a": list(a), "turn_id_b": list(b), "prob": list(p)})


def test_select_links_prefers_nearest_and_skips_interjections(turn):
    turns = [turn("s", i, 3 * i, f"x{i}", "volume_up") for i in range(5)]
    req = request_turns(flatten_turns(turns))
    # t0,t1,t2 are three tries at one goal: t2 follows t1 even though (t0,t2) scores higher.
    # t3 is an interjection: t4 links back to t2 over it (hop 2) because (t3,t4) is below 0.5.
    links = select_links(
        req,
        _probs(
            [
                ("s-t0", "s-t1", 0.9),
                ("s-t0", "s-t2", 0.99),
                ("s-t1", "s-t2", 0.8),
                ("s-t2", "s-t3", 0.1),
                ("s-t2", "s-t4", 0.7),
                ("s-t3", "s-t4", 0.2),
                ("s-t1", "s-t3", 0.9),  # source already has its successor: ignored
                ("x-t0", "s-t4", 0.99),  # unknown turn: ignored
            ]
        ),
        threshold=0.5,
    )
    assert links.schema.equals(LINKS_SCHEMA)
    got = list(zip(links["turn_id_a"].to_pylist(), links["turn_id_b"].to_pylist(), strict=True))
    assert got == [("s-t0", "s-t1"), ("s-t1", "s-t2"), ("s-t2", "s-t4")]
    assert links["hop"].to_pylist() == [1, 1, 2]
    assert select_links(req, None, 0.5).num_rows == 0
