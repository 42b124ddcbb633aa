from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from selflearn.context.features import FEATURE_NAMES
from selflearn.context.reranker import ContextReranker


def _data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, len(FEATURE_NAMES)))
    col = FEATURE_NAMES.index("target_active")
    x[:, col] = rng.integers(0, 2, n)
    y = (x[:, col] > 0.5).astype(float)
    return x, y


def test_learns_a_context_rule_and_chooses_by_margin() -> None:
    x, y = _data()
    m = ContextReranker(n_estimators=30, seed=0).fit(x, y)
    col = FEATURE_NAMES.index("target_active")
    turn = np.full((3, len(FEATURE_NAMES)), 0.5)
    turn[:, col] = [0.0, 1.0, 0.0]  # the default does not fit the context, candidate 1 does
    best, p = m.choose(turn)
    assert best == 1 and p[1] > p[0] + m.margin
    turn[:, col] = [1.0, 1.0, 0.0]  # both fit: keep the default
    assert m.choose(turn)[0] == 0
    assert m.choose(turn[:1])[0] == 0


def test_save_load_same_scores(tmp_path: Path) -> None:
    x, y = _data(300)
    m = ContextReranker(n_estimators=20).fit(x, y)
    back = ContextReranker.load(m.save(tmp_path / "ctx"))
    assert np.allclose(back.predict_proba(x), m.predict_proba(x))
    assert back.get_params() == m.get_params()
    assert set(m.feature_importance()) == set(FEATURE_NAMES)


def test_bad_input_is_named() -> None:
    x, y = _data(50)
    with pytest.raises(ValueError, match="both positive and negative"):
        ContextReranker().fit(x, np.zeros(50))
    with pytest.raises(ValueError, match="shape"):
        ContextReranker().fit(x[:, :3], y)
    with pytest.raises(NotFittedError, match="not fitted"):
        ContextReranker().predict_proba(x)


def _turns(n_turns: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turns of 3 candidates (row 0 the default). A third are ambiguous: the default does not fit
    the context, candidate 1 does and is right. The rest are ordinary: the default is right, and
    in a tenth of them an alternative fits the context too (noise the margin must absorb)."""
    rng = np.random.default_rng(seed)
    col = FEATURE_NAMES.index("target_active")
    xs, ys, gs = [], [], []
    for g in range(n_turns):
        x = rng.random((3, len(FEATURE_NAMES)))
        if rng.random() < 1 / 3:
            x[:, col], y = [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]
        else:
            x[:, col] = [1.0, 1.0 if rng.random() < 0.1 else 0.0, 0.0]
            y = [1.0, 0.0, 0.0]
        xs.append(x)
        ys += y
        gs += [g] * 3
    return np.vstack(xs), np.asarray(ys), np.asarray(gs)


def test_margin_is_calibrated_on_held_out_turns(tmp_path: Path) -> None:
    x, y, g = _turns()
    m = ContextReranker(n_estimators=30, seed=0).fit(x, y, group=g)
    cal = m.calibration_
    assert cal is not None and cal["heldout_turns"] == 75
    assert cal["heldout_fixed"] > cal["heldout_harmed"]
    assert (m.margin_, m.min_prob_) == (cal["margin"], cal["min_prob"])
    col = FEATURE_NAMES.index("target_active")
    turn = np.full((3, len(FEATURE_NAMES)), 0.5)
    turn[:, col] = [0.0, 1.0, 0.0]
    assert m.choose(turn)[0] == 1
    back = ContextReranker.load(m.save(tmp_path / "cal"))
    assert (back.margin_, back.min_prob_, back.calibration_) == (m.margin_, m.min_prob_, cal)
    # without groups (or with calibration off) the constructor's margin is used
    plain = ContextReranker(n_estimators=30, calibrate=False).fit(x, y, group=g)
    assert plain.calibration_ is None and plain.margin_ == plain.margin
    with pytest.raises(ValueError, match="group has"):
        ContextReranker(n_estimators=5).fit(x, y, group=g[:-1])


def test_calibration_counts_observed_turns_and_prices_harm() -> None:
    x, y, g = _turns()
    unseen = np.zeros(len(y), dtype=bool)
    m = ContextReranker(n_estimators=30).fit(x, y, group=g, observed=unseen)
    assert m.calibration_ is None and m.margin_ == m.margin  # nothing observed: the fallback
    cheap = ContextReranker(n_estimators=30, harm_cost=0.5).fit(x, y, group=g)
    dear = ContextReranker(n_estimators=30, harm_cost=5.0).fit(x, y, group=g)
    assert cheap.calibration_ is not None and dear.calibration_ is not None
    assert dear.calibration_["heldout_harmed"] <= cheap.calibration_["heldout_harmed"]
    assert dear.margin_ + dear.min_prob_ >= cheap.margin_ + cheap.min_prob_


def test_keeps_the_learner_contract(tmp_path: Path, check_learner: Any) -> None:
    x, y = _data(300)
    check_learner(
        ContextReranker(n_estimators=20, calibrate=False),
        lambda est: est.fit(x, y),
        lambda est: est.predict_proba(x),
        tmp_path,
    )
