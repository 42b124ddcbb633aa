from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score

from selflearn.feedback.pairs import PAIRS_SCHEMA
from selflearn.feedback.rephrase_baseline import (
    FEATURE_NAMES,
    HeuristicRephraseDetector,
    LexicalPhoneticRephraseDetector,
    pair_features,
)


def _row(a: str, b: str, **kw: Any) -> dict[str, Any]:
    row = {
        "turn_id_a": "a",
        "turn_id_b": "b",
        "session_id": "s",
        "user_id": "u",
        "hop": 1,
        "pos_a": 0,
        "gap_s": 5.0,
        "text_a": a,
        "text_b": b,
        "barge_in_a": False,
        "barge_in_offset_ms_a": None,
        "response_duration_ms_a": 3000,
        "has_error_a": False,
        "nlu_confidence_a": 0.9,
        "asr_confidence_a": 0.9,
        "nlu_intent_a": "x",
        "nlu_intent_b": "x",
        "nlu_confidence_b": 0.9,
    }
    row.update(kw)
    return row


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=PAIRS_SCHEMA)


@pytest.fixture(scope="module")
def trained(synth) -> LexicalPhoneticRephraseDetector:
    pairs, labels = synth(2000, 1)
    return LexicalPhoneticRephraseDetector(model="auto", cv=3).fit(pairs, labels)


def test_trained_detector_learns_synthetic_set(trained, synth):
    test_pairs, test_labels = synth(1000, 2)  # another seed: other pairs, same distribution
    f1 = f1_score(test_labels, trained.predict(test_pairs))
    assert f1 > 0.9, f1
    assert set(trained.cv_f1_) == {"hgb", "logreg"}
    assert trained.model_kind_ == max(trained.cv_f1_, key=lambda k: trained.cv_f1_[k])
    assert 0.0 < trained.threshold_ < 1.0
    p = trained.predict_proba(test_pairs)
    assert p.shape == (1000,) and np.all((p >= 0) & (p <= 1))
    assert np.array_equal(trained.predict(test_pairs, threshold=0.0), np.ones(1000, dtype=bool))


def test_single_model_kinds_and_validation(synth):
    pairs, labels = synth(400, 3)
    det = LexicalPhoneticRephraseDetector(model="logreg").fit(pairs, labels)
    assert det.model_kind_ == "logreg" and list(det.cv_f1_) == ["logreg"]
    with pytest.raises(ValueError, match="shape"):
        LexicalPhoneticRephraseDetector().fit(pairs, labels[:-1])
    with pytest.raises(ValueError, match="both"):
        LexicalPhoneticRephraseDetector().fit(pairs, np.ones(len(labels), dtype=bool))
    with pytest.raises(ValueError, match="unknown model"):
        LexicalPhoneticRephraseDetector(model="svm").fit(pairs, labels)
    with pytest.raises(NotFittedError, match="not fitted"):
        LexicalPhoneticRephraseDetector().predict_proba(pairs)


def test_save_load_round_trip(trained, synth, tmp_path):
    pairs, _ = synth(300, 4)
    trained.save(tmp_path / "det")
    manifest = json.loads((tmp_path / "det" / "manifest.json").read_text())
    assert manifest["kind"] == "LexicalPhoneticRephraseDetector"
    assert manifest["feature_names"] == list(FEATURE_NAMES)
    assert manifest["params"]["model"] == "auto"
    loaded = LexicalPhoneticRephraseDetector.load(tmp_path / "det")
    assert loaded.threshold_ == trained.threshold_ and loaded.model_kind_ == trained.model_kind_
    np.testing.assert_array_equal(loaded.predict_proba(pairs), trained.predict_proba(pairs))
    with pytest.raises(ValueError, match="not a"):
        HeuristicRephraseDetector.load(tmp_path / "det")


def test_heuristic_on_obvious_cases(tmp_path):
    cases = {
        "misrecognised, barge-in": (
            _row(
                "turn on the chicken lights",
                "turn on the kitchen lights",
                barge_in_a=True,
                barge_in_offset_ms_a=300,
            ),
            True,
        ),
        "no intent, same words": (
            _row(
                "play the habit", "play the hobbit", has_error_a=True, nlu_confidence_a=0.0, nlu_intent_a=None
            ),
            True,
        ),
        "paraphrase after error": (
            _row("switch on kitchen light", "turn on the kitchen lights", has_error_a=True),
            True,
        ),
        "hop-2 retry over a stop": (
            _row(
                "play hello by adele", "play hello by adele", hop=2, barge_in_a=True, barge_in_offset_ms_a=300
            ),
            True,
        ),
        "unrelated after success": (
            _row("what time is it", "turn on the kitchen lights", nlu_intent_b="y"),
            False,
        ),
        "unrelated after error": (
            _row("what time is it", "turn on the kitchen lights", has_error_a=True, nlu_intent_b="y"),
            False,
        ),
        "stop after barge-in": (
            _row("play hello by adele", "stop", barge_in_a=True, barge_in_offset_ms_a=300, nlu_intent_b="y"),
            False,
        ),
        "repeat of a success": (_row("volume up", "volume up"), False),
    }
    det = HeuristicRephraseDetector().fit()
    probs = det.predict_proba(_table([row for row, _ in cases.values()]))
    for (name, (_, want)), p in zip(cases.items(), probs, strict=True):
        assert (p >= 0.5) == want, (name, p)
    # Time and hop make a rephrase less likely, everything else equal.
    base = _row("turn on the chicken lights", "turn on the kitchen lights", has_error_a=True)
    near, far, hop2 = det.predict_proba(_table([base, {**base, "gap_s": 55.0}, {**base, "hop": 2}]))
    assert near > far and near > hop2
    det.save(tmp_path / "h")
    again = HeuristicRephraseDetector.load(tmp_path / "h")
    assert again.get_params() == det.get_params()
    np.testing.assert_array_equal(again.predict_proba(_table([base])), det.predict_proba(_table([base])))


def test_features_dedupe_matches_row_by_row(synth):
    pairs, _ = synth(200, 5)
    x = pair_features(pairs)
    assert x.shape == (200, len(FEATURE_NAMES)) and np.isfinite(x).all()
    for i in (0, 17, 199):
        np.testing.assert_allclose(pair_features(pairs.slice(i, 1))[0], x[i])
    assert pair_features(PAIRS_SCHEMA.empty_table()).shape == (0, len(FEATURE_NAMES))


def test_phonetic_features_see_misrecognitions():
    x = pair_features(
        _table(
            [
                _row("turn on the chicken lights", "turn on the kitchen lights"),
                _row("dune", "june"),
                _row("set a timer", "what's the weather"),
            ]
        )
    )
    meta = x[:, FEATURE_NAMES.index("metaphone_ratio")]
    assert meta[0] > 0.8 and meta[2] < 0.5
    assert x[1, FEATURE_NAMES.index("soundex_jaccard")] == 0.0  # D500 vs J500: different first letter
    assert x[0, FEATURE_NAMES.index("prefix_tokens")] == 3.0


def test_scoring_is_vectorised(trained, synth):
    pairs, _ = synth(20_000, 6)
    t0 = time.perf_counter()
    p = trained.predict_proba(pairs)
    elapsed = time.perf_counter() - t0
    assert p.shape == (20_000,)
    assert elapsed < 5.0, f"20k pairs took {elapsed:.1f}s; expected well under a second"
