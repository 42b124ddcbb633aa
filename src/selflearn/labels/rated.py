"""The labeller's defect head against human ratings: dialogues whose user turns several annotators
rated 1-5 (`logs.adapters.rated_tsv`).

The labeller is trained as the product trains it, on a deployment's logs with no human label; this
is the check of whether what it learned carries to real people's dissatisfaction. Two numbers,
both threshold-free or threshold-chosen in the open: AUROC of the defect probability, and the best
F1 over all thresholds (with the threshold that reaches it), beside the F1 at the labeller's own
decision. Turns the annotators left unrated, and the last turn of each dialogue, have no label
and are not scored.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selflearn.labels.labeller import Labeller
from selflearn.logs.adapters.rated_tsv import RatedTsvError, defect_labels, read_rated_tsv, to_turns

__all__ = ["RatedScore", "score_rated"]


@dataclass
class RatedScore:
    file: str
    dialogues: int
    labelled_turns: int
    defect_share: float  # share of labelled turns the annotators' majority rated low
    auroc: float | None  # None when the file's labels are all one class
    best_f1: float
    best_threshold: float
    f1_at_decision: float  # the labeller's own `defect` decision
    skipped_lines: int  # bad lines skipped (see `errors`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_rated(
    labeller: Labeller,
    path: str | os.PathLike[str],
    errors: list[RatedTsvError] | None = None,
    defect_max_rating: int = 2,
) -> RatedScore:
    """Label the rated dialogues in `path` and score the defect head against the annotators'
    majority. Bad lines are skipped and appended to `errors` (a new list when None)."""
    from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score

    errs = errors if errors is not None else []
    dialogues = read_rated_tsv(path, defect_max_rating=defect_max_rating, errors=errs)
    gold_by_turn = defect_labels(dialogues)
    if not gold_by_turn:
        raise ValueError(f"{path}: no rated turn to score (no USER line is followed by a rated one)")
    table = labeller.predict(to_turns(dialogues))
    ids = table.column("turn_id").to_pylist()
    prob = dict(zip(ids, table.column("defect_prob").to_pylist(), strict=True))
    decided = dict(zip(ids, table.column("defect").to_pylist(), strict=True))
    keys = [k for k in gold_by_turn if k in prob]
    gold = np.array([gold_by_turn[k] for k in keys], dtype=bool)
    scores = np.array([prob[k] for k in keys], dtype=np.float64)
    auroc = float(roc_auc_score(gold, scores)) if 0 < gold.sum() < len(gold) else None
    best_f1, best_t = 0.0, 0.5
    if gold.any():
        precision, recall, thresholds = precision_recall_curve(gold, scores)
        f1 = np.where(
            precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0
        )
        i = int(np.argmax(f1[:-1])) if len(thresholds) else 0
        best_f1, best_t = float(f1[i]), float(thresholds[i]) if len(thresholds) else 0.5
    return RatedScore(
        file=str(Path(path)),
        dialogues=len(dialogues),
        labelled_turns=len(keys),
        defect_share=float(gold.mean()),
        auroc=auroc,
        best_f1=best_f1,
        best_threshold=best_t,
        f1_at_decision=float(f1_score(gold, [bool(decided[k]) for k in keys], zero_division=0)),
        skipped_lines=len(errs),
    )
