"""Simulate a population for some days against the reference assistant and write the workspace:
logs/ (what the assistant logged) and truth/ (what only the simulator knows)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from selflearn.assistant.assistant import Assistant
from selflearn.logs.io import LogWriter
from selflearn.simulate.traffic import DayResult, SimConfig, Simulator
from selflearn.simulate.truth import write_truth_day


@dataclass
class SimulationSummary:
    days: int
    turns: int
    seconds: float

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds if self.seconds > 0 else 0.0


def write_day(out: Path, res: DayResult) -> None:
    LogWriter(out).write_day(res.day, sorted(res.turns, key=lambda t: (t.timestamp, t.turn_id)))
    write_truth_day(out, res.day, res.truth)


def simulate_to_workspace(
    sim: Simulator,
    assistant: Assistant,
    days: int,
    out: Path,
    first_day: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Run `days` days from `first_day`, writing each day as it completes. `progress(day, users)`
    is called as households finish."""
    t0 = time.perf_counter()
    turns = 0
    for day in range(first_day, first_day + days):
        cb = (lambda n, d=day: progress(d, n)) if progress is not None else None
        res = sim.run_day(day, assistant, progress=cb)
        write_day(out, res)
        turns += len(res.turns)
    return SimulationSummary(days=days, turns=turns, seconds=time.perf_counter() - t0)


__all__ = ["SimConfig", "SimulationSummary", "simulate_to_workspace", "write_day"]
