"""Every command that reads a workspace's logs picks its rephrase detector the same way."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from selflearn.feedback.rephrase.baselines import TimeGapBargeInRule
from selflearn.feedback.rephrase.registry import model_dir_name, workspace_detector
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector, LexicalPhoneticRephraseDetector


def _models(ws: Path) -> Path:
    return ws / "artifacts" / "models"


def test_an_empty_workspace_gets_the_heuristic_and_says_so(tmp_path: Path) -> None:
    det, which = workspace_detector(tmp_path)
    assert isinstance(det, HeuristicRephraseDetector)
    assert "no trained detector" in which


def test_auto_takes_the_trained_detector_and_prefers_lexical_over_rule(
    tmp_path: Path, toy: tuple[pa.Table, list[bool]]
) -> None:
    pairs, labels = toy
    TimeGapBargeInRule().fit(pairs, labels).save(_models(tmp_path) / model_dir_name("rule"))
    det, which = workspace_detector(tmp_path)
    assert isinstance(det, TimeGapBargeInRule) and which.startswith("rule")
    LexicalPhoneticRephraseDetector().fit(pairs, labels).save(_models(tmp_path) / model_dir_name("lexical"))
    det, which = workspace_detector(tmp_path)
    assert isinstance(det, LexicalPhoneticRephraseDetector) and which.startswith("lexical")
    # Asked for by name, a trained one is taken even when auto would prefer another.
    det, _ = workspace_detector(tmp_path, "rule")
    assert isinstance(det, TimeGapBargeInRule)


def test_a_named_detector_must_be_trained_in_the_workspace(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no trained span rephrase detector"):
        workspace_detector(tmp_path, "span")
    with pytest.raises(ValueError, match="not one a workspace can hold"):
        workspace_detector(tmp_path, "cosine")
    det, which = workspace_detector(tmp_path, "heuristic")
    assert isinstance(det, HeuristicRephraseDetector) and which.startswith("heuristic")
