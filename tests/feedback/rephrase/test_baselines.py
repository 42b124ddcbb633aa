from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from selflearn.feedback.rephrase.baselines import (
    EmbeddingCosineDetector,
    PairwiseTextClassifier,
    Rule,
    TimeGapBargeInRule,
)
from selflearn.feedback.rephrase.registry import DETECTORS, load_detector, make_detector, model_dir_name


def test_rule_finds_the_gap_and_evidence_that_separate(
    toy: tuple[pa.Table, list[bool]], tmp_path: Path
) -> None:
    pairs, labels = toy
    rule = TimeGapBargeInRule().fit(pairs, labels)
    assert rule.train_f1_ == 1.0
    assert rule.rule_.max_gap_s < 46.0
    np.testing.assert_array_equal(rule.predict(pairs), np.asarray(labels))
    loaded = load_detector(rule.save(tmp_path / "rule"))
    assert isinstance(loaded, TimeGapBargeInRule) and loaded.rule_ == rule.rule_


def test_rule_requires_evidence_when_asked(toy: tuple[pa.Table, list[bool]]) -> None:
    pairs, _ = toy
    p = TimeGapBargeInRule._apply(pairs, Rule(max_gap_s=60.0, max_hop=2, evidence="barge_in"))
    barge = np.asarray(pairs.column("barge_in_a").to_pylist())
    assert (p[~barge] == 0).all() and (p[barge] == 1).all()


def test_cosine_scores_similar_texts_higher(toy: tuple[pa.Table, list[bool]]) -> None:
    pairs, labels = toy
    det = EmbeddingCosineDetector().fit(pairs, labels)
    p = det.predict_proba(pairs)
    y = np.asarray(labels)
    assert p[y].min() > p[~y].max()
    assert det.train_f1_ == 1.0


def test_pairwise_classifier_reads_only_the_two_texts(toy: tuple[pa.Table, list[bool]]) -> None:
    pairs, labels = toy
    det = PairwiseTextClassifier().fit(pairs, labels)
    p = det.predict_proba(pairs)
    assert p.shape == (pairs.num_rows,)
    # Same texts, other log signals: same score (no context, no log signals).
    other = pairs.set_column(pairs.schema.get_field_index("gap_s"), "gap_s", pa.array([1.0] * pairs.num_rows))
    np.testing.assert_allclose(det.predict_proba(other), p)


def test_registry_names_and_errors() -> None:
    assert set(DETECTORS) >= {"lexical", "span", "cosine", "pairwise", "rule"}
    assert model_dir_name("lexical") == "rephrase" and model_dir_name("span") == "rephrase_span"
    with pytest.raises(ValueError, match="unknown rephrase detector"):
        make_detector("magic")
    with pytest.raises(FileNotFoundError):
        load_detector(Path("/nonexistent/detector"))
