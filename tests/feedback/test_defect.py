from __future__ import annotations

import pyarrow as pa
import pytest

from selflearn.feedback.defect import FEEDBACK_SCHEMA, DefectScorer
from selflearn.logs.flat import FLAT_SCHEMA, flatten_turns


def _by_turn(table: pa.Table) -> dict[str, dict]:
    return {r["turn_id"]: r for r in table.to_pylist()}


def test_barge_in_early_is_stronger_than_late(turn):
    # Each turn is followed by a clean request so that no abandonment is in play.
    turns = [
        turn("s", 0, 0, "play jazz", "play_music", barge_in=True, offset_ms=200, duration_ms=4000),
        turn("s", 1, 30, "what time is it", "time_query", barge_in=True, offset_ms=3800, duration_ms=4000),
        turn("s", 2, 60, "play rock", "play_music", barge_in=True),  # offset unknown
        turn("s", 3, 90, "lock the door", "door_lock"),
    ]
    fb = _by_turn(DefectScorer().score(flatten_turns(turns)))
    early, late, unknown = fb["s-t0"], fb["s-t1"], fb["s-t2"]
    assert early["defect_score"] > unknown["defect_score"] > late["defect_score"] > 0
    assert early["defective"] and not late["defective"]
    assert early["barge_in"] and late["barge_in"]
    assert fb["s-t3"]["defect_score"] == 0.0 and not fb["s-t3"]["defective"]


def test_errors_and_explicit_feedback(turn):
    turns = [
        turn("s", 0, 0, "play the habit", None, 0.0, error="nlu-no-intent"),
        turn("s", 1, 10, "turn on the lamp", "lights_on", error="er-unresolved"),
        turn("s", 2, 20, "what's the weather", "weather_query", explicit="negative"),
        # Explicit positive outweighs a barge-in: the user cut the answer short because it worked.
        turn("s", 3, 30, "play jazz", "play_music", barge_in=True, offset_ms=100, explicit="positive"),
        turn("s", 4, 40, "lock the door", "door_lock"),
    ]
    fb = _by_turn(DefectScorer().score(flatten_turns(turns)))
    assert (
        fb["s-t0"]["has_error"]
        and fb["s-t0"]["defective"]
        and fb["s-t0"]["defect_score"] == pytest.approx(0.8)
    )
    assert fb["s-t1"]["has_error"] and fb["s-t1"]["defect_score"] == pytest.approx(0.75)
    assert fb["s-t2"]["explicit_negative"] and fb["s-t2"]["defect_score"] == pytest.approx(0.95)
    assert fb["s-t3"]["explicit_positive"] and not fb["s-t3"]["defective"]
    assert fb["s-t3"]["defect_score"] <= 0.05
    custom = _by_turn(DefectScorer(error_weights={"er-unresolved": 0.2}).score(flatten_turns(turns)))
    assert custom["s-t1"]["defect_score"] == pytest.approx(0.2) and not custom["s-t1"]["defective"]


def test_abandonment(turn):
    flat = flatten_turns(
        [
            turn("a", 0, 0, "turn on the lamp", "lights_on", error="action-failed"),  # then silence
            turn("b", 0, 0, "turn on the lamp", "lights_on"),  # a clean last turn
            turn(
                "c", 0, 0, "dim the lights", "lights_dim", response="Which lights do you mean?", status="none"
            ),
            turn("d", 0, 0, "play jazz", "play_music", error="action-failed"),
            turn("d", 1, 5, "lock the door", "door_lock"),  # the session went on: not abandoned
        ]
    )
    fb = _by_turn(DefectScorer().score(flat))
    assert fb["a-t0"]["abandoned"] and fb["a-t0"]["defective"]
    assert fb["a-t0"]["defect_score"] > fb["d-t0"]["defect_score"]  # abandonment adds evidence
    assert not fb["b-t0"]["abandoned"] and not fb["b-t0"]["defective"]
    assert fb["c-t0"]["abandoned"] and fb["c-t0"]["defective"]  # a question left unanswered
    assert not fb["d-t0"]["abandoned"] and fb["d-t0"]["defective"]


def test_rephrase_signal_from_pair_probs(turn):
    flat = flatten_turns(
        [
            turn("s", 0, 0, "turn on the chicken lights", "lights_on"),
            turn("s", 1, 4, "turn on the kitchen lights", "lights_on"),
            turn("s", 2, 9, "hey", wake=False),
        ]
    )
    probs = pa.table({"turn_id_a": ["s-t0"], "turn_id_b": ["s-t1"], "prob": [0.9]})
    fb = DefectScorer().score(flat, probs, rephrase_threshold=0.5)
    assert fb.schema.equals(FEEDBACK_SCHEMA)
    assert fb["turn_id"].to_pylist() == ["s-t0", "s-t1"]  # the missed wake is no request
    rows = _by_turn(fb)
    assert rows["s-t0"]["rephrased"] and rows["s-t0"]["defective"]
    assert rows["s-t0"]["rephrase_prob"] == pytest.approx(0.9)
    assert not rows["s-t1"]["rephrased"]
    below = _by_turn(DefectScorer().score(flat, probs, rephrase_threshold=0.95))
    assert not below["s-t0"]["rephrased"] and not below["s-t0"]["defective"]


def test_empty_input():
    fb = DefectScorer().score(FLAT_SCHEMA.empty_table())
    assert fb.num_rows == 0 and fb.schema.equals(FEEDBACK_SCHEMA)
