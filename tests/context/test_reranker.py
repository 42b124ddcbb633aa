from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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
    with pytest.raises(RuntimeError, match="not fitted"):
        ContextReranker().predict_proba(x)
