"""The nightly graph's `fpi` step: which stage failed first, for every turn logged so far.

The failure-point model is trained offline on labelled workspaces (`selflearn fpi train
--publish WS`: the one place truth labels are synthetic supervision), never from a deployment's
own logs, which carry no such labels. What the night does is isolate: it reads the logs with the
workspace's live ``fpi`` model and publishes the per-turn failure points as the next
``failure_points`` version, which the report and the dashboard read. The encoding and the model
run on the driver: the features need each turn's session neighbours, and a night's log is
encoded in batches far faster than it could be shipped to executors and back.

Each row keeps its ``user_id``, so forgetting a person removes their rows from every kept night.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from selflearn.fpi.report import load_model, predict_workspace
from selflearn.util.digest import table_digest
from selflearn.util.workspace import Workspace

__all__ = ["FAILURE_POINTS_FILE", "FpiNight", "fpi_night"]

FAILURE_POINTS_FILE = "failure_points.parquet"


@dataclass
class FpiNight:
    """One night's failure points, the version that holds them and their digest."""

    table: pa.Table
    version: str | None
    digest: str
    model_version: str | None

    def summary(self) -> dict[str, Any]:
        return {
            "turns": self.table.num_rows,
            "by_stage": dict(Counter(self.table.column("stage").to_pylist())),
            "failure_points_version": self.version,
            "fpi_model_version": self.model_version,
        }


def fpi_night(workspace: str | Path, *, publish: bool = True, encoder: Any = None) -> FpiNight:
    """Predict every logged turn's failure point with the workspace's live ``fpi`` model and
    publish them (unless `publish` is False). A workspace without a model is an error that says
    how to give it one."""
    ws = Workspace(workspace)
    model_dir = ws.model_dir("fpi")
    if model_dir is None:
        raise FileNotFoundError(
            f"the fpi step needs a failure-point model in {ws.store('fpi').dir}: train one on labelled "
            f"workspaces with `selflearn fpi train LABELLED_WS --publish {ws.root}`"
        )
    model = load_model(model_dir)
    table = predict_workspace(ws.root, model, encoder=encoder)
    model_version = ws.store("fpi").current_version()
    version = None
    if publish:
        by_stage = dict(Counter(table.column("stage").to_pylist()))
        version = ws.store("failure_points").publish(
            lambda tmp: pq.write_table(table, tmp / FAILURE_POINTS_FILE),
            {"turns": table.num_rows, "by_stage": by_stage, "fpi_model_version": model_version},
        )
    return FpiNight(table, version, table_digest(table, sort_by=["turn_id"]), model_version)
