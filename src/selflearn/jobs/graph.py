"""The nightly graph: named steps that say what they require and what they produce.

The learning loop is a graph, not a script: read the logs, rebuild sessions, detect feedback and
build chains, then the learners (the Markov miner behind the protected-action guard, the online
layers), each publishing a versioned artifact. Writing it as steps gives the loop a shape the code
can check and report on:

* a graph refuses to build when a step requires something no earlier step produces (as spaCy's
  pipeline refuses a component whose `requires` nobody `assigns`);
* `run(only=...)` runs one step and just the steps it needs;
* every run writes ``<workspace>/nightly/<run>/summary.json``: each step with its duration, and for
  each artifact it made its kind, the live version, whether it was published, and a sha256 digest
  of its canonical content (the rows, sorted, never the file bytes or timestamps), so two engines,
  or two nights, can be compared by digest alone; a step's report (the `evaluate` step's estimates
  and decision) is kept beside it.

The steps themselves are engine-agnostic: the per-group work goes through the `Engine` (embedded or
Spark), and fitting on the aggregated chains runs on the driver.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from selflearn.util.atomic import atomic_write_text
from selflearn.util.digest import table_digest

__all__ = ["Artifact", "GraphError", "NightlyGraph", "Step", "table_digest"]


class GraphError(ValueError):
    """A graph that cannot run: a requirement nobody produces, a duplicate step or output."""


@dataclass(frozen=True)
class Artifact:
    """What a step made: its kind, the live version after the step, and the content digest of what
    it made. `published` is False when the step made a candidate but kept the live version (a gate
    refused it, or publishing is off): `version` is then the one still serving."""

    kind: str
    version: str | None
    digest: str
    published: bool = True


@dataclass(frozen=True)
class Step:
    """One node: `run(values)` gets the values of `requires` by name and returns those of
    `produces` (plus, under the key ``"artifact"``, an `Artifact` when it made one, and under
    ``"report"``, a JSON-able mapping the run's summary keeps for the step)."""

    name: str
    requires: tuple[str, ...]
    produces: tuple[str, ...]
    run: Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass
class StepRecord:
    name: str
    seconds: float
    produces: tuple[str, ...]
    artifact: Artifact | None = None
    report: Mapping[str, Any] | None = None


@dataclass
class GraphRun:
    """The outcome of one run: every value produced, and what each step took and published."""

    values: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    summary_path: Path | None = None

    def artifact(self, kind: str) -> Artifact | None:
        return next((s.artifact for s in self.steps if s.artifact and s.artifact.kind == kind), None)


class NightlyGraph:
    """Steps in order; building checks every requirement is produced upstream."""

    def __init__(self, steps: Iterable[Step], inputs: Iterable[str] = ()) -> None:
        self.steps = list(steps)
        self.inputs = tuple(inputs)
        available = set(self.inputs)
        names: set[str] = set()
        for step in self.steps:
            if step.name in names:
                raise GraphError(f"two steps are named {step.name!r}")
            names.add(step.name)
            missing = [r for r in step.requires if r not in available]
            if missing:
                raise GraphError(f"step {step.name!r} requires {missing}, which no earlier step produces")
            again = [p for p in step.produces if p in available]
            if again:
                raise GraphError(f"step {step.name!r} produces {again}, already produced upstream")
            available.update(step.produces)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.steps]

    def needed(self, only: str) -> list[Step]:
        """The step `only` and every step it needs, in graph order."""
        by_output = {p: s for s in self.steps for p in s.produces}
        if only not in self.names:
            raise GraphError(f"no step {only!r}; the steps are {', '.join(self.names)}")
        wanted: set[str] = set()
        todo = [next(s for s in self.steps if s.name == only)]
        while todo:
            step = todo.pop()
            if step.name in wanted:
                continue
            wanted.add(step.name)
            todo.extend(by_output[r] for r in step.requires if r in by_output)
        return [s for s in self.steps if s.name in wanted]

    def run(
        self,
        inputs: Mapping[str, Any] | None = None,
        only: str | None = None,
        summary_dir: Path | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> GraphRun:
        """Run the steps (all, or `only` and what it needs); with `summary_dir`, write
        ``<summary_dir>/<run>/summary.json`` (atomically)."""
        values = dict(inputs or {})
        absent = [i for i in self.inputs if i not in values]
        if absent:
            raise GraphError(f"the graph needs inputs {absent}")
        run = GraphRun(values=values)
        started = datetime.now(UTC)
        for step in self.steps if only is None else self.needed(only):
            t0 = time.perf_counter()
            out = dict(step.run({r: values[r] for r in step.requires}))
            artifact = out.pop("artifact", None)
            report = out.pop("report", None)
            missing = [p for p in step.produces if p not in out]
            if missing:
                raise GraphError(f"step {step.name!r} did not produce {missing}")
            values.update({p: out[p] for p in step.produces})
            run.steps.append(StepRecord(step.name, time.perf_counter() - t0, step.produces, artifact, report))
        if summary_dir is not None:
            run.summary_path = self._write_summary(Path(summary_dir), run, started, only, meta or {})
        return run

    @staticmethod
    def _write_summary(
        root: Path, run: GraphRun, started: datetime, only: str | None, meta: Mapping[str, Any]
    ) -> Path:
        stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
        directory = root / stamp
        n = 1
        while directory.exists():
            directory = root / f"{stamp}-{n}"
            n += 1
        directory.mkdir(parents=True)
        summary = {
            "run": directory.name,
            "started": started.isoformat(),
            "only": only,
            **dict(meta),
            "steps": [
                {
                    "name": s.name,
                    "seconds": round(s.seconds, 4),
                    "produces": list(s.produces),
                    "artifact": None
                    if s.artifact is None
                    else {
                        "kind": s.artifact.kind,
                        "version": s.artifact.version,
                        "digest": s.artifact.digest,
                        "published": s.artifact.published,
                    },
                    **({} if s.report is None else {"report": dict(s.report)}),
                }
                for s in run.steps
            ],
        }
        path = directory / "summary.json"
        atomic_write_text(path, json.dumps(summary, indent=2, default=str) + "\n")
        return path
