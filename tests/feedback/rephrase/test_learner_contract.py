"""The learner contract over the rephrase detectors that persist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from selflearn.feedback.rephrase.baselines import TimeGapBargeInRule
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector, LexicalPhoneticRephraseDetector


@pytest.mark.parametrize(
    "make",
    [
        lambda: LexicalPhoneticRephraseDetector(model="logreg"),
        TimeGapBargeInRule,
        HeuristicRephraseDetector,
    ],
    ids=["lexical", "rule", "heuristic"],
)
def test_rephrase_detectors_keep_the_contract(
    make: Any, toy: tuple[pa.Table, list[bool]], tmp_path: Path, check_learner: Any
) -> None:
    pairs, labels = toy
    est = make()
    other = TimeGapBargeInRule if isinstance(est, HeuristicRephraseDetector) else HeuristicRephraseDetector
    check_learner(
        est,
        lambda est: est.fit(pairs, labels),
        lambda est: est.predict_proba(pairs),
        tmp_path,
        other_kind=other,
    )
