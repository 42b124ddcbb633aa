"""A small simulated workspace (logs + truth) shared by the FPI tests, and a cheap stand-in for
the sentence encoder (hash-seeded unit vectors: equal texts, equal vectors), so the tests exercise
the feature plumbing without paying for MiniLM on every run."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest


def fake_encoder(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=4).digest(), "big")
        v = np.random.default_rng(seed).standard_normal(384)
        out[i] = v / np.linalg.norm(v)
    return out


@pytest.fixture(scope="session")
def sim_workspace(tmp_path_factory: pytest.TempPathFactory, small_assistant: Any) -> Path:
    from selflearn.simulate.run import write_day
    from selflearn.simulate.traffic import SimConfig, Simulator

    ws = tmp_path_factory.mktemp("fpi-ws")
    sim = Simulator(SimConfig(users=14, seed=3, background_per_day=3.0))
    for day in (1, 2):
        write_day(ws, sim.run_day(day, small_assistant))
    return ws
