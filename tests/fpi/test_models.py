from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from selflearn.fpi.features import NUMERIC_NAMES, TEXT_NAMES, FeatureSet
from selflearn.fpi.gbm import GbmFpi
from selflearn.fpi.labels import read_labels
from selflearn.fpi.metrics import evaluate
from selflearn.fpi.mixer import MixerFpi
from selflearn.fpi.rules import RulesFpi, RuleThresholds
from selflearn.fpi.train import labelled_workspace

from .conftest import fake_encoder


def _toy(n: int, seed: int = 0) -> tuple[FeatureSet, list[str]]:
    """Three classes told apart by one number and one text direction (plus noise)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    numeric = np.zeros((n, len(NUMERIC_NAMES)), dtype=np.float32)
    numeric[:, :5] = rng.standard_normal((n, 5)) * 0.3
    numeric[:, NUMERIC_NAMES.index("asr_confidence")] = (y == 1) * 2.0 + rng.normal(0, 0.2, n)
    texts = rng.standard_normal((n, len(TEXT_NAMES), 384)).astype(np.float32) * 0.03
    texts[:, 0, 0] += (y == 2) * 1.0
    names = np.array(["correct", "asr", "nlu"])
    return FeatureSet([f"t{i}" for i in range(n)], numeric, texts), [str(s) for s in names[y]]


def _rows(**cols: float) -> FeatureSet:
    numeric = np.zeros((1, len(NUMERIC_NAMES)), dtype=np.float32)
    numeric[0, NUMERIC_NAMES.index("wake_score")] = 0.9
    numeric[0, NUMERIC_NAMES.index("asr_confidence")] = 0.9
    numeric[0, NUMERIC_NAMES.index("nlu_has_intent")] = 1
    for k, v in cols.items():
        numeric[0, NUMERIC_NAMES.index(k.replace("__", "-"))] = v
    return FeatureSet(["t"], numeric, np.zeros((1, 4, 384), dtype=np.float32))


@pytest.mark.parametrize(
    ("cols", "stage"),
    [
        ({}, "correct"),
        ({"error_er__unresolved": 1}, "entity_resolution"),
        ({"error_action__failed": 1}, "result"),
        ({"error_nlu__low__confidence": 1, "error_action__failed": 1}, "nlu"),
        ({"barge_in": 1, "asr_confidence": 0.2}, "asr"),
        ({"barge_in": 1}, "nlu"),
        ({"wake_score": 0.3, "nlu_has_intent": 0}, "false_wake"),
    ],
)
def test_rules_blame_the_earliest_signalled_stage(cols: dict[str, float], stage: str) -> None:
    assert RulesFpi(RuleThresholds(), tune=False).predict(_rows(**cols)).tolist() == [stage]


def test_gbm_and_mixer_learn_a_separable_problem_and_round_trip(tmp_path: Path) -> None:
    x, y = _toy(400)
    xt, yt = _toy(200, seed=1)
    gbm = GbmFpi(n_estimators=40, n_jobs=1).fit(x, y)
    mixer = MixerFpi(epochs=15, dim=32, batch_size=32, lr=5e-3, neighbours=0).fit(x, y)
    for model, cls in ((gbm, GbmFpi), (mixer, MixerFpi)):
        pred = model.predict(xt)
        assert evaluate(yt, [str(p) for p in pred]).accuracy > 0.9
        loaded = cls.load(model.save(tmp_path / model.kind))
        np.testing.assert_allclose(loaded.predict_proba(xt), model.predict_proba(xt), atol=1e-5)


def test_models_refuse_a_single_class_and_unfitted_use() -> None:
    x, _ = _toy(10)
    with pytest.raises(ValueError, match="two failure-point classes"):
        GbmFpi().fit(x, ["correct"] * 10)
    with pytest.raises(NotFittedError, match="not fitted"):
        MixerFpi().predict(x)


def test_gbm_beats_rules_on_held_out_simulated_turns(sim_workspace: Path) -> None:
    feats, labels = labelled_workspace(sim_workspace, encoder=fake_encoder)
    assert {"correct", "nlu"} <= set(labels)
    half = len(labels) // 2
    tr, te = feats.subset(range(half)), feats.subset(range(half, len(labels)))
    gbm = GbmFpi(n_estimators=60, n_jobs=1).fit(tr, labels[:half])
    acc = evaluate(labels[half:], [str(p) for p in gbm.predict(te)]).accuracy
    majority = max(labels[half:].count(s) for s in set(labels)) / len(labels[half:])
    assert acc >= majority


def test_metrics_on_a_known_confusion() -> None:
    m = evaluate(["correct", "correct", "asr", "nlu"], ["correct", "asr", "asr", "nlu"])
    assert m.accuracy == 0.75
    assert m.labels == ["correct", "asr", "nlu"]
    assert m.confusion == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert m.per_class["asr"]["precision"] == 0.5 and m.per_class["correct"]["recall"] == 0.5
    assert m.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_read_labels_names_a_bad_stage(tmp_path: Path) -> None:
    p = tmp_path / "labels.jsonl"
    p.write_text('{"turn_id": "a", "failed_stage": "nlu"}\n{"turn_id": "b", "failed_stage": "wrong"}\n')
    with pytest.raises(ValueError, match="turn b"):
        read_labels(p)
    p.write_text('{"turn_id": "a", "failed_stage": "nlu"}\n')
    assert read_labels(p) == {"a": "nlu"}


@pytest.mark.parametrize(
    ("make", "other"),
    [
        (lambda: GbmFpi(n_estimators=20, n_jobs=1), MixerFpi),
        (lambda: MixerFpi(epochs=2, dim=16, batch_size=32, neighbours=0), GbmFpi),
    ],
    ids=["gbm", "mixer"],
)
def test_models_keep_the_learner_contract(make: Any, other: Any, tmp_path: Path, check_learner: Any) -> None:
    x, y = _toy(200)
    check_learner(make(), lambda est: est.fit(x, y), lambda est: est.predict_proba(x), tmp_path, other)
