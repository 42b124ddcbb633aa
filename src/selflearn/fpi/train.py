"""Training data for the FPI models: features from each labelled workspace's logs, labels from a
labels table passed in (default: the workspace's own truth/ folder, read as plain data)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from selflearn.fpi.features import Encoder, FeatureSet
from selflearn.fpi.gbm import GbmFpi
from selflearn.fpi.labels import read_labels
from selflearn.fpi.mixer import MixerFpi
from selflearn.fpi.nbest import log_features

__all__ = ["MODEL_KINDS", "concat_features", "labelled_workspace", "make_model", "train_model"]

MODEL_KINDS: tuple[str, ...] = ("gbm", "mixer")


def labelled_workspace(
    workspace: str | Path, labels: str | Path | None = None, encoder: Encoder | None = None
) -> tuple[FeatureSet, list[str]]:
    """(features of every logged turn, its label). Inputs come from workspace/logs only; every
    logged turn must have a label, else the error names the first one without."""
    ws = Path(workspace)
    feats = log_features(ws / "logs", encoder=encoder)
    table = read_labels(labels if labels is not None else ws)
    missing = [t for t in feats.turn_ids if t not in table]
    if missing:
        raise ValueError(f"{ws}: {len(missing)} logged turns have no label, e.g. turn {missing[0]}")
    return feats, [table[t] for t in feats.turn_ids]


def concat_features(parts: Sequence[tuple[FeatureSet, list[str]]]) -> tuple[FeatureSet, list[str]]:
    """Stack labelled feature sets (same feature version) into one."""
    if not parts:
        raise ValueError("no labelled data to concatenate")
    feats = FeatureSet(
        turn_ids=[t for f, _ in parts for t in f.turn_ids],
        numeric=np.vstack([f.numeric for f, _ in parts]),
        texts=np.vstack([f.texts for f, _ in parts]),
        numeric_names=parts[0][0].numeric_names,
        meta={k: [v for f, _ in parts for v in f.meta.get(k, [])] for k in parts[0][0].meta},
    )
    return feats, [y for _, ys in parts for y in ys]


def make_model(kind: str) -> GbmFpi | MixerFpi:
    if kind == "gbm":
        # the configuration that transfers to requests never seen (see benchmarks/fpi.py)
        return GbmFpi(n_jobs=1, neighbour_classes=("false_wake",), text_components=2, calibrate_fraction=0.2)
    if kind == "mixer":
        return MixerFpi()
    raise ValueError(f"unknown FPI model kind {kind!r}; choose one of {MODEL_KINDS}")


def train_model(
    workspaces: Sequence[str | Path], kind: str = "gbm", encoder: Encoder | None = None
) -> GbmFpi | MixerFpi:
    """Fit a model of `kind` on the labelled turns of all `workspaces`."""
    data = concat_features([labelled_workspace(w, encoder=encoder) for w in workspaces])
    return make_model(kind).fit(*data)
