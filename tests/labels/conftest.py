"""Shared fixtures: a small simulated log (with its truth) and a tiny labeller fitted on it once."""

from __future__ import annotations

from typing import Any

import pytest

from selflearn.eval.annotator import GoldSlotSimulator
from selflearn.labels.labeller import Labeller
from selflearn.simulate.traffic import SimConfig
from selflearn.simulate.truth import truth_table


@pytest.fixture(scope="session")
def sim_log(small_assistant: Any) -> dict[str, Any]:
    sim = GoldSlotSimulator(SimConfig(users=10, seed=3))
    res = sim.run_day(1, small_assistant)
    return {"turns": res.turns, "truth": truth_table(res.truth), "gold_slots": sim.gold_slots}


def tiny_params(**kw: Any) -> dict[str, Any]:
    return {
        "trainable_layers": 1,
        "max_length": 24,
        "d_model": 32,
        "n_layers": 1,
        "train": {"epochs": 1, "batch_dialogues": 16, "max_steps": 2},
        "pretrain": {"epochs": 1, "batch_dialogues": 16, "max_steps": 1},
        **kw,
    }


@pytest.fixture(scope="session")
def tiny_labeller(sim_log: dict[str, Any]) -> Labeller:
    return Labeller(**tiny_params()).fit(sim_log["turns"])
