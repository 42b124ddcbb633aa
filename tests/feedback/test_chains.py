from __future__ import annotations

import random
from datetime import UTC

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from selflearn.feedback.chains import CHAIN_SCHEMA, build_chains, detect_sessions
from selflearn.feedback.defect import FEEDBACK_SCHEMA, DefectScorer
from selflearn.feedback.pairs import candidate_pairs, request_turns
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector, LexicalPhoneticRephraseDetector
from selflearn.logs.flat import FLAT_SCHEMA, flatten_turns

THRESHOLD = 0.5


def _sessions(turn):
    return [
        # Misrecognised, barged in, rephrased, worked; then an unrelated request.
        turn("barge", 0, 0, "turn on the chicken lights", "play_music", 0.5, barge_in=True, offset_ms=300),
        turn("barge", 1, 5, "turn on the kitchen lights", "lights_on", 0.95),
        turn("barge", 2, 20, "what time is it", "time_query"),
        # Three tries; the last one fixed by a rewrite rule.
        turn("three", 0, 0, "play the habit", None, 0.0, error="nlu-no-intent"),
        turn("three", 1, 6, "play the hobbit", "play_media", 0.6, barge_in=True, offset_ms=400),
        turn("three", 2, 12, "play the hobit", "play_media", 0.9, rewrite_to="play the hobbit"),
        # The user says it was wrong, then leaves.
        turn("neg", 0, 0, "what's the weather in paris", "weather_query", explicit="negative"),
        # An error, then silence: the user gave up.
        turn("aband", 0, 0, "turn on the garage light", "lights_on", error="er-unresolved"),
        # A failure, then something else entirely.
        turn("moved", 0, 0, "play jazz", "play_music", error="action-failed"),
        turn("moved", 1, 8, "lock the door", "door_lock"),
        # A retry over an interjection.
        turn("stop", 0, 0, "play hello by adele", "play_media", barge_in=True, offset_ms=300),
        turn("stop", 1, 2, "stop", "media_pause"),
        turn("stop", 2, 6, "play hello by adele", "play_media"),
        # A false wake is not a request.
        turn("wake", 0, 0, "turn on the lights", "lights_on", user="u2"),
        turn("wake", 1, 3, "", wake=False, user="u2"),
        turn("wake", 2, 9, "turn on the lights", "lights_on", user="u2"),  # repeat of a success
    ]


@pytest.fixture
def flat(turn) -> pa.Table:
    return flatten_turns(_sessions(turn))


def _detect(flat: pa.Table) -> tuple[pa.Table, pa.Table]:
    return detect_sessions(flat, HeuristicRephraseDetector().fit(), DefectScorer(), THRESHOLD)


def _by_first_turn(chains: pa.Table) -> dict[str, dict]:
    return {r["turn_ids"][0]: r for r in chains.to_pylist()}


def test_chain_schema_and_every_request_in_one_chain(flat):
    feedback, chains = _detect(flat)
    assert chains.schema.equals(CHAIN_SCHEMA)
    assert feedback.schema.equals(FEEDBACK_SCHEMA)
    chained = [t for ids in chains["turn_ids"].to_pylist() for t in ids]
    requests = request_turns(flat)["turn_id"].to_pylist()
    assert sorted(chained) == sorted(requests) and len(chained) == len(set(chained))
    assert "wake-t1" not in chained and "wake-t1" not in feedback["turn_id"].to_pylist()
    assert set(chains["outcome"].to_pylist()) <= {"success", "failure", "abandoned"}
    for r in chains.to_pylist():
        n = len(r["turn_ids"])
        assert r["chain_id"] == f"{r['session_id']}:{r['turn_ids'][0]}"
        assert len(r["asr_texts"]) == len(r["nlu_texts"]) == len(r["rule_ids"]) == n
        assert len(r["intents"]) == len(r["timestamps"]) == len(r["defective"]) == n
        assert r["first_ts"] == r["timestamps"][0] and r["last_ts"] == r["timestamps"][-1]
        assert r["first_ts"].tzinfo is not None and r["first_ts"].utcoffset() == UTC.utcoffset(None)


def test_rephrase_after_barge_in_forms_chain_and_unrelated_does_not(flat):
    chains = _by_first_turn(_detect(flat)[1])
    c = chains["barge-t0"]
    assert c["turn_ids"] == ["barge-t0", "barge-t1"]
    assert c["defective"] == [True, False] and c["outcome"] == "success"
    assert c["intents"] == ["play_music", "lights_on"]
    assert c["user_id"] == "u1" and c["session_id"] == "barge"
    assert chains["barge-t2"]["turn_ids"] == ["barge-t2"] and chains["barge-t2"]["outcome"] == "success"
    # "lock the door" after a failed "play jazz" is a new request, not a rephrase.
    assert chains["moved-t0"]["turn_ids"] == ["moved-t0"] and chains["moved-t0"]["outcome"] == "failure"
    assert chains["moved-t1"]["outcome"] == "success"
    # Saying the same successful thing again is not a rephrase.
    assert chains["wake-t0"]["turn_ids"] == ["wake-t0"] and chains["wake-t2"]["turn_ids"] == ["wake-t2"]


def test_three_turn_chain_texts_and_rules(flat):
    c = _by_first_turn(_detect(flat)[1])["three-t0"]
    assert c["turn_ids"] == ["three-t0", "three-t1", "three-t2"]
    assert c["defective"] == [True, True, False] and c["outcome"] == "success"
    assert c["asr_texts"] == ["play the habit", "play the hobbit", "play the hobit"]  # before the rewrite
    assert c["nlu_texts"] == ["play the habit", "play the hobbit", "play the hobbit"]  # what the NLU read
    assert c["rule_ids"] == [None, None, "r-1"]
    assert c["intents"] == [None, "play_media", "play_media"]


def test_outcomes_negative_abandoned_and_hop2_skip(flat):
    chains = _by_first_turn(_detect(flat)[1])
    assert chains["neg-t0"]["outcome"] == "failure"  # explicit negative beats "session ended"
    assert chains["aband-t0"]["outcome"] == "abandoned"
    assert chains["aband-t0"]["defective"] == [True]
    assert chains["stop-t0"]["turn_ids"] == ["stop-t0", "stop-t2"]
    assert chains["stop-t0"]["outcome"] == "success"
    assert chains["stop-t1"]["turn_ids"] == ["stop-t1"]


def test_build_chains_without_pair_probs_gives_singletons(flat):
    chains = build_chains(flat, None, DefectScorer(), THRESHOLD)
    assert chains.schema.equals(CHAIN_SCHEMA)
    assert all(len(ids) == 1 for ids in chains["turn_ids"].to_pylist())
    assert chains.num_rows == request_turns(flat).num_rows
    # With scored pairs it matches detect_sessions.
    pairs = candidate_pairs(flat)
    probs = HeuristicRephraseDetector().fit().predict_proba(pairs)
    scored = pairs.append_column("prob", pa.array(probs))
    assert build_chains(flat, scored, DefectScorer(), THRESHOLD).equals(_detect(flat)[1])


def _sorted(t: pa.Table, key: str) -> pa.Table:
    return t.take(pa.compute.sort_indices(t, sort_keys=[(key, "ascending")]))


def test_partition_invariance(flat):
    feedback, chains = _detect(flat)
    sessions = sorted(set(flat["session_id"].to_pylist()))
    half = set(sessions[::2])
    mask = pa.array([s in half for s in flat["session_id"].to_pylist()])
    parts = [_detect(flat.filter(mask)), _detect(flat.filter(pa.compute.invert(mask)))]
    fb_parts = pa.concat_tables([p[0] for p in parts])
    ch_parts = pa.concat_tables([p[1] for p in parts])
    assert _sorted(fb_parts, "turn_id").equals(_sorted(feedback, "turn_id"))
    assert _sorted(ch_parts, "chain_id").equals(_sorted(chains, "chain_id"))
    # Row order and engine string types do not matter either.
    rows = flat.to_pylist()
    random.Random(3).shuffle(rows)
    fb2, ch2 = _detect(pa.Table.from_pylist(rows, schema=FLAT_SCHEMA))
    assert fb2.equals(feedback) and ch2.equals(chains)
    fb3, ch3 = _detect(pl.from_arrow(flat).to_arrow())
    assert fb3.equals(feedback) and ch3.equals(chains)


def test_empty_input():
    feedback, chains = _detect(FLAT_SCHEMA.empty_table())
    assert feedback.num_rows == 0 and feedback.schema.equals(FEEDBACK_SCHEMA)
    assert chains.num_rows == 0 and chains.schema.equals(CHAIN_SCHEMA)


def test_detect_sessions_with_trained_detector(flat, synth):
    pairs, labels = synth(1000, 11)
    det = LexicalPhoneticRephraseDetector(model="hgb").fit(pairs, labels)
    feedback, chains = detect_sessions(flat, det, DefectScorer(), det.threshold_)
    c = _by_first_turn(chains)
    assert c["barge-t0"]["turn_ids"] == ["barge-t0", "barge-t1"]
    assert c["aband-t0"]["outcome"] == "abandoned"
    assert np.array_equal(
        feedback["rephrased"].to_numpy(zero_copy_only=False),
        np.array(
            [
                tid in {ids[i] for ids in chains["turn_ids"].to_pylist() for i in range(len(ids) - 1)}
                for tid in feedback["turn_id"].to_pylist()
            ]
        ),
    )


def test_detector_shape_is_checked(flat):
    class Broken:
        def predict_proba(self, pairs: pa.Table) -> np.ndarray:
            return np.zeros(1)

    with pytest.raises(ValueError, match="shape"):
        detect_sessions(flat, Broken(), DefectScorer(), THRESHOLD)


def test_interpretations_follow_the_turns(flat, turn):
    chains = _by_first_turn(_detect(flat)[1])
    # hand-made turns carry an intent without slots: the interpretation is the bare intent
    assert chains["barge-t0"]["interpretations"] == ["play_music", "lights_on"]
    assert chains["three-t0"]["interpretations"] == [None, "play_media", "play_media"]
    # with slots and a resolved entity
    from selflearn.logs.records import NluHypothesis, ResolutionStage, ResolvedEntity, Slot

    t = turn("slots", 0, 0, "turn on the kitchen lamp", "lights_on")
    hyp = NluHypothesis(
        intent="lights_on",
        confidence=0.9,
        slots=[Slot(name="device", value="Kitchen Lamp"), Slot(name="x", value="Y")],
    )
    t = t.model_copy(
        update={
            "nlu": t.nlu.model_copy(update={"nbest": [hyp]}),
            "resolution": ResolutionStage(
                entities=[ResolvedEntity(slot="device", value="kitchen lamp", entity_id="light.k")]
            ),
        }
    )
    c = _detect(flatten_turns([t]))[1].to_pylist()[0]
    assert c["interpretations"] == ["lights_on|device=light.k|x=y"]
    # a flat table written before the column existed gives nulls, not an error
    old = flat.drop_columns(["nlu_interpretation"])
    _, chains_old = _detect(old)
    assert chains_old.schema.equals(CHAIN_SCHEMA)
    assert all(v is None for vs in chains_old["interpretations"].to_pylist() for v in vs)
    assert chains_old.drop_columns(["interpretations"]).equals(
        _detect(flat)[1].drop_columns(["interpretations"])
    )


def test_chains_carry_the_principal_who_sent_them() -> None:
    """A crowd is counted in principals: the chain holds the turn's household, else its user."""
    from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector
    from selflearn.jobs.steps import DetectStep
    from selflearn.logs.flat import flatten_turns

    from ..logs.strategies import make_turn

    turns = [make_turn(i) for i in range(6)]
    turns = [t.model_copy(update={"household_id": "hh-1" if i < 3 else None}) for i, t in enumerate(turns)]
    chains = DetectStep(detector=HeuristicRephraseDetector()).chains(flatten_turns(turns))
    by_user = dict(zip(chains["user_id"].to_pylist(), chains["principal"].to_pylist(), strict=True))
    for t in turns:
        if t.user_id in by_user:
            assert by_user[t.user_id] == (t.household_id or t.user_id)
    assert "hh-1" in by_user.values()
