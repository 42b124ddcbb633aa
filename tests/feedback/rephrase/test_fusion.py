from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from selflearn.feedback.rephrase.fusion import FusionHead, span_logit
from selflearn.feedback.rephrase.span_model import ContextualRephraseDetector
from selflearn.feedback.rephrase_baseline import FEATURE_NAMES

from .conftest import toy_pairs


def _data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels that each signal explains only in part: the span score is right on half the
    sessions, one lexical feature on the other half."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    groups = np.arange(n) // 3
    half = groups % 2 == 0
    span_p = np.where(half, np.where(y, 0.9, 0.1), 0.5) + rng.normal(0, 0.02, n)
    feats = rng.normal(0, 1, (n, len(FEATURE_NAMES)))
    feats[:, 0] = np.where(~half, np.where(y, 2.0, -2.0), 0.0) + rng.normal(0, 0.1, n)
    return np.clip(span_p, 0, 1), feats, y, groups


def test_head_learns_from_both_signals_better_than_either() -> None:
    span_p, feats, y, groups = _data()
    head = FusionHead().fit(span_p, feats, y, groups)
    p = head.predict_proba(span_p, feats)
    assert p.shape == y.shape and ((p >= 0) & (p <= 1)).all()
    f1 = lambda yh: 2 * (yh & y).sum() / max(yh.sum() + y.sum(), 1)  # noqa: E731
    assert head.oof_f1_ > 0.9
    assert f1(p >= head.threshold_) > max(f1(span_p >= 0.5), f1(feats[:, 0] > 0)) + 0.2
    assert head.summary()["feature_names"][0] == "span_logit"


def test_head_refuses_too_little_or_one_sided_data_and_bad_shapes() -> None:
    span_p, feats, y, groups = _data(30)
    with pytest.raises(ValueError, match="fusion head needs"):
        FusionHead().fit(span_p, feats, y, groups)
    span_p, feats, y, groups = _data()
    with pytest.raises(ValueError, match="fusion head needs"):
        FusionHead().fit(span_p, feats, np.zeros_like(y), groups)
    with pytest.raises(ValueError, match="shape"):
        FusionHead().fit(span_p, feats[:, :3], y, groups)
    assert np.isfinite(span_logit(np.array([0.0, 1.0]))).all()


def test_span_detector_refits_its_fused_decision_and_keeps_it_through_save_and_pickle(
    tmp_path: Path,
) -> None:
    pairs, labels = toy_pairs(n_sessions=8)
    det = ContextualRephraseDetector(
        epochs=2, batch_size=8, lr=3e-4, head_lr=5e-3, valid_fraction=0.25, threads=1, precision="fp32"
    ).fit(pairs, labels)
    assert det.fusion_ is None  # two held-out sessions: too few for a head, the span score decides
    assert det.threshold_ == det.span_threshold_

    big, big_labels = toy_pairs(n_sessions=60)
    det.config.valid_fraction = 0.5
    det.refit_fusion(big, big_labels)
    assert det.fusion_ is not None and det.threshold_ == det.fusion_.threshold_
    p = det.predict_proba(big)
    y = np.asarray(big_labels)
    assert (p[y] >= det.threshold_).mean() > 0.9 and (p[~y] < det.threshold_).mean() > 0.9
    assert not np.allclose(p, det.span_proba(big))  # the head, not the span score, decides

    loaded = ContextualRephraseDetector.load(det.save(tmp_path / "m"))
    assert loaded.fusion_ is not None and loaded.threshold_ == det.threshold_
    np.testing.assert_allclose(loaded.predict_proba(big), p, atol=1e-5)
    clone = pickle.loads(pickle.dumps(det))
    np.testing.assert_allclose(clone.predict_proba(big), p, atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        det.refit_fusion(big, big_labels[:-1])
    assert det.predict_proba(pa.Table.from_pylist([], schema=big.schema)).shape == (0,)
