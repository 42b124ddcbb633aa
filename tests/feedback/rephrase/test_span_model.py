from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.exceptions import NotFittedError

from selflearn.feedback.chains import CHAIN_SCHEMA
from selflearn.feedback.rephrase.span_model import ContextualRephraseDetector, SpanConfig, hard_negatives
from selflearn.jobs.engine import EmbeddedEngine
from selflearn.jobs.steps import DetectStep
from selflearn.logs.flat import flatten_turns
from selflearn.logs.records import Turn


@pytest.fixture(scope="module")
def fitted(toy: tuple[pa.Table, list[bool]]) -> ContextualRephraseDetector:
    pairs, labels = toy
    det = ContextualRephraseDetector(
        epochs=4, batch_size=8, lr=3e-4, head_lr=5e-3, valid_fraction=0.25, threads=1, precision="fp32"
    )
    return det.fit(pairs, labels)


def test_fit_learns_to_separate_retries_from_new_requests(
    fitted: ContextualRephraseDetector, toy: tuple[pa.Table, list[bool]]
) -> None:
    pairs, labels = toy
    p = fitted.predict_proba(pairs)
    y = np.asarray(labels)
    assert p.shape == (pairs.num_rows,) and ((p >= 0) & (p <= 1)).all()
    assert p[y].min() > p[~y].max()
    assert fitted.steps_ > 0 and fitted.n_hard_negatives_ > 0
    assert 0.0 < fitted.threshold_ < 1.0


def test_save_load_and_pickle_give_the_same_scores(
    fitted: ContextualRephraseDetector, toy: tuple[pa.Table, list[bool]], tmp_path: Path
) -> None:
    pairs, _ = toy
    p = fitted.predict_proba(pairs)
    loaded = ContextualRephraseDetector.load(fitted.save(tmp_path / "m"))
    assert loaded.threshold_ == fitted.threshold_
    np.testing.assert_allclose(loaded.predict_proba(pairs), p, atol=1e-5)
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(clone.predict_proba(pairs), p, atol=1e-5)


def test_cache_returns_identical_scores_and_subsets_align(
    fitted: ContextualRephraseDetector, toy: tuple[pa.Table, list[bool]]
) -> None:
    pairs, _ = toy
    fitted.clear_cache()
    first = fitted.predict_proba(pairs)
    again = fitted.predict_proba(pairs)  # served from the cache
    np.testing.assert_array_equal(first, again)
    sub = pairs.slice(0, 3)  # one session: its contexts are the same as in the full table
    np.testing.assert_allclose(fitted.predict_proba(sub), first[:3], atol=1e-6)
    assert fitted.predict_proba(pairs.slice(0, 0)).shape == (0,)


def test_bad_labels_and_unfitted_model_fail_clearly(toy: tuple[pa.Table, list[bool]]) -> None:
    pairs, labels = toy
    det = ContextualRephraseDetector(max_steps=1)
    with pytest.raises(ValueError, match="shape"):
        det.fit(pairs, labels[:-1])
    with pytest.raises(ValueError, match="both"):
        det.fit(pairs, [False] * pairs.num_rows)
    with pytest.raises(NotFittedError):
        det.predict_proba(pairs)


def test_hard_negatives_follow_only_requests_without_defect(toy: tuple[pa.Table, list[bool]]) -> None:
    pairs, labels = toy
    neg = hard_negatives(pairs, np.asarray(labels), rate=1.0, seed=1)
    assert neg.num_rows > 0 and neg.schema.equals(pairs.schema)
    assert not any(neg.column("barge_in_a").to_pylist())
    assert all(t.startswith("hn") for t in neg.column("turn_id_a").to_pylist())
    assert all(
        b != a
        for a, b in zip(neg.column("text_a").to_pylist(), neg.column("text_b").to_pylist(), strict=True)
    )


def test_nightly_step_takes_the_span_model_on_any_partition(
    fitted: ContextualRephraseDetector, turn: Callable[..., Turn]
) -> None:
    turns = [
        turn("s1", 0, 0, "turn on the chicken lights", "play_music", 0.5, barge_in=True, offset_ms=300),
        turn("s1", 1, 4, "turn on the kitchen lights", "lights_on", 0.95),
        turn("s1", 2, 50, "what time is it", "time_query"),
        turn("s2", 0, 0, "play the habit", None, 0.0, error="nlu-no-intent"),
        turn("s2", 1, 5, "play the hobbit", "play_media", 0.9),
        turn("s3", 0, 0, "lock the door", "door_lock"),
    ]
    flat = flatten_turns(turns)
    step = DetectStep(detector=fitted)
    whole = step.chains(flat).sort_by("chain_id")
    split = (
        EmbeddedEngine(buckets=3)
        .map_groups(flat, "session_id", step.chains, CHAIN_SCHEMA)
        .sort_by("chain_id")
    )
    assert whole.equals(split)
    ids = [t for row in whole.column("turn_ids").to_pylist() for t in row]
    assert sorted(ids) == sorted(flat.column("turn_id").to_pylist())  # every request in one chain


def test_models_saved_before_confidence_tokens_read_their_old_context() -> None:
    from dataclasses import asdict

    from selflearn.feedback.rephrase.span_model import FORMAT, _params_of

    old = {"format": 1, "config": asdict(SpanConfig())}
    assert ContextualRephraseDetector(**_params_of(old)).config.context == {
        "confidence_tokens": False,
        "max_response_tokens": 10,
    }
    assert _params_of({"format": FORMAT, "params": asdict(SpanConfig())})["context"] == {}


def test_bfloat16_scoring_stays_close_to_float32_and_bad_precision_fails_clearly(
    fitted: ContextualRephraseDetector, toy: tuple[pa.Table, list[bool]]
) -> None:
    from selflearn.feedback.rephrase.span_model import native_bf16

    pairs, labels = toy
    p32 = fitted.predict_proba(pairs)
    bf = pickle.loads(pickle.dumps(fitted))
    bf.set_params(precision="bf16")
    assert bf.inference_precision() == "bf16"
    p16 = bf.predict_proba(pairs)
    assert np.abs(p16 - p32).max() < 0.05  # bfloat16 keeps ~3 significant digits
    y = np.asarray(labels)
    assert p16[y].min() > p16[~y].max()  # the same separation as in float32
    bf.set_params(precision="auto")
    assert bf.inference_precision() == ("bf16" if native_bf16() else "fp32")
    bf.set_params(quantize=True)
    assert bf.inference_precision() == "int8"
    bf.set_params(quantize=False, precision="fp64")
    with pytest.raises(ValueError, match="precision"):
        bf.predict_proba(pairs)


def test_keeps_the_learner_contract(
    toy: tuple[pa.Table, list[bool]], tmp_path: Path, check_learner: Any
) -> None:
    from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector

    pairs, labels = toy
    check_learner(
        ContextualRephraseDetector(epochs=1, batch_size=8, max_steps=3, threads=1, precision="fp32"),
        lambda est: est.fit(pairs, labels),
        lambda est: est.predict_proba(pairs),
        tmp_path,
        other_kind=HeuristicRephraseDetector,
    )
