"""Classification metrics for failure points: accuracy, per-class precision/recall/F1, macro-F1
(over the classes present in the truth or the predictions) and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from selflearn.fpi.labels import STAGES

__all__ = ["FpiMetrics", "evaluate"]


@dataclass
class FpiMetrics:
    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]  # stage -> precision, recall, f1, support
    labels: list[str]  # row/column order of the confusion matrix
    confusion: list[list[int]]  # rows: truth, columns: prediction

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(truth: Sequence[str], pred: Sequence[str]) -> FpiMetrics:
    """Metrics of `pred` against `truth` (same length). Macro-F1 averages the classes that occur
    in the truth (a class nobody needed cannot be recalled; a spurious prediction of it still
    costs precision of the others through their recall)."""
    if len(truth) != len(pred):
        raise ValueError(f"{len(truth)} truth labels but {len(pred)} predictions")
    present = set(truth) | set(pred)
    labels = [s for s in STAGES if s in present] + sorted(present - set(STAGES))
    idx = {s: i for i, s in enumerate(labels)}
    conf = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, pred, strict=True):
        conf[idx[t]][idx[p]] += 1
    per: dict[str, dict[str, float]] = {}
    for s in labels:
        i = idx[s]
        tp = conf[i][i]
        support = sum(conf[i])
        predicted = sum(row[i] for row in conf)
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[s] = {"precision": prec, "recall": rec, "f1": f1, "support": float(support)}
    in_truth = [s for s in labels if per[s]["support"] > 0]
    n = len(truth)
    return FpiMetrics(
        n=n,
        accuracy=sum(t == p for t, p in zip(truth, pred, strict=True)) / n if n else 0.0,
        macro_f1=sum(per[s]["f1"] for s in in_truth) / len(in_truth) if in_truth else 0.0,
        per_class=per,
        labels=labels,
        confusion=conf,
    )
