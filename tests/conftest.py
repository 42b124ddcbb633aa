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
