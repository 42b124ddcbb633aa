"""Shared fixtures: a small NLU trained once per test session, and the assistant built on it."""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

# Spark workers must run the same interpreter (and virtual environment) as the tests.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def small_nlu() -> Any:
    from selflearn.compose import train_default_nlu

    return train_default_nlu(seed=0, n_per_intent=60)


@pytest.fixture(scope="session")
def small_assistant(small_nlu: Any) -> Any:
    from selflearn.compose import build_assistant, default_config

    return build_assistant(default_config(seed=0, nlu=small_nlu))


def _check_learner(est: Any, fit: Any, predict: Any, tmp_path: Any, other_kind: Any = None) -> None:
    """The learner contract (`selflearn.util.learner`), like scikit-learn's `check_estimator`:
    `__init__` only stores parameters (clone keeps them, nothing fitted yet); use before `fit`
    raises NotFittedError; `fit` returns self, keeps the parameters and leaves fitted state in
    `*_`; `save` writes a manifest with the kind and parameters; `load` gives the same
    predictions; a directory of another kind is refused."""
    import json

    import numpy as np
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils import get_tags

    from selflearn.util.learner import Learner
    from selflearn.util.manifest import ManifestError

    assert isinstance(est, Learner)
    params = est.get_params()
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")], "fitted before fit"
    assert clone(est).get_params() == params
    if get_tags(est).requires_fit:
        with pytest.raises(NotFittedError):
            predict(est)
    assert fit(est) is est, "fit must return self"
    assert est.get_params() == params, "fit must not change the parameters"
    assert [k for k in vars(est) if k.endswith("_") and not k.startswith("_")], "no fitted state in *_"
    saved = est.save(tmp_path / type(est).__name__)
    manifest = type(est).read_manifest(saved)
    assert manifest["kind"] == type(est).kind_name()
    assert manifest["params"] == json.loads(json.dumps(params))
    loaded = type(est).load(saved)
    np.testing.assert_allclose(
        np.asarray(predict(loaded), dtype=float), np.asarray(predict(est), dtype=float)
    )
    if other_kind is not None:
        with pytest.raises(ManifestError, match="not a"):
            other_kind.load(saved)


@pytest.fixture
def check_learner() -> Any:
    """`check_learner(est, fit, predict, tmp_path, other_kind=None)`: the learner contract."""
    return _check_learner
