"""The nightly graph's `labels` step: fit the labeller on the logs' own feedback signals, publish
it, and label every request turn.

The labeller learns from weak labels (the rephrase detector's and the defect scorer's), so each
night's logs make a better one; the labels it gives (defect, goal, intent and slots, each with a
confidence, and whether a turn clears the automatic-labelling bar) are what retrains the
understanding model. Fitting is one neural model over every dialogue, so it runs on the driver
whatever the engine (like the context reranker): the work is the forward and backward passes, not
the grouping, and a night's dialogues fit in memory.

The published version holds the labeller (``model/``) and the night's labels
(``labels.parquet``), with each turn's ``user_id`` so that forgetting a person removes their rows
here too. The digest is that of the labels (rows sorted by turn), not of the weights: two engines
that fit the same labeller give the same labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from selflearn.feedback.rephrase_baseline import PairScorer
from selflearn.labels.labeller import Labeller
from selflearn.logs.io import read_turns
from selflearn.util.digest import table_digest
from selflearn.util.workspace import MODEL_SUBDIR, Workspace

__all__ = ["LABELS_FILE", "LabelsNight", "labels_night", "with_users"]

LABELS_FILE = "labels.parquet"


@dataclass
class LabelsNight:
    """One night's labelling: the labeller used, its labels, the version published (None when
    the live labeller was reused), and the digest of the labels."""

    labeller: Labeller
    labels: pa.Table
    version: str | None
    digest: str
    turns: int

    def summary(self) -> dict[str, Any]:
        auto = sum(self.labels.column("auto").to_pylist()) if self.labels.num_rows else 0
        return {
            "labelled_turns": self.labels.num_rows,
            "auto_labelled": int(auto),
            "labels_version": self.version,
        }


def with_users(labels: pa.Table, owners: Mapping[str, str]) -> pa.Table:
    """`labels` with a leading ``user_id`` column (turn id -> the person whose turn it is)."""
    users = [owners.get(t) for t in labels.column("turn_id").to_pylist()]
    return labels.add_column(0, "user_id", pa.array(users, pa.string()))


def labels_night(
    workspace: str | Path,
    detector: PairScorer | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    refit: bool = True,
    seed: int = 0,
) -> LabelsNight:
    """Fit a labeller on every turn under WORKSPACE/logs (`params` are `Labeller`'s) and publish it
    with its labels as the next ``labels`` version; with `refit` False, label with the live
    labeller when there is one and publish nothing."""
    import torch

    ws = Workspace(workspace)
    turns = list(read_turns(ws.logs))
    if not turns:
        raise ValueError(f"no turns under {ws.logs} to label")
    owners = {t.turn_id: t.user_id for t in turns}
    live = ws.model_dir("labels")
    version: str | None = None
    if live is not None and not refit:
        labeller = Labeller.load(live, detector=detector)
        labels = labeller.predict(turns)
    else:
        torch.manual_seed(seed)  # the weights' initialisation: the same logs give the same labeller
        labeller = Labeller(**dict(params or {})).fit(turns, detector=detector)
        labels = labeller.predict(turns)
        stored = with_users(labels, owners)

        def write(tmp: Path) -> None:
            labeller.save(tmp / MODEL_SUBDIR)
            pq.write_table(stored, tmp / LABELS_FILE)

        provenance = {"turns": len(turns), "labelled": labels.num_rows, "params": labeller.get_params()}
        version = ws.store("labels").publish(write, provenance)
    return LabelsNight(labeller, labels, version, table_digest(labels, sort_by=["turn_id"]), len(turns))
