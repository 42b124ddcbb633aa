"""Rephrase detectors by name, so the miner, the loop and the CLI take one by config.

Names: "lexical" (baseline (a), `LexicalPhoneticRephraseDetector`), "heuristic" (hand-set, no
training), "span" (the contextual MiniLM span model), "cosine", "pairwise" and "rule" (baselines
(b)-(d)). Only "lexical", "heuristic", "span" and "rule" persist with save/load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selflearn.util.workspace import ARTIFACT_KINDS, Workspace

DETECTORS: tuple[str, ...] = ("lexical", "heuristic", "span", "cosine", "pairwise", "rule")
TRAINED_DETECTORS: tuple[str, ...] = ("lexical", "span", "cosine", "pairwise", "rule")


def make_detector(name: str, **kwargs: Any) -> Any:
    """An unfitted detector of kind `name` (kwargs go to its constructor / config)."""
    if name == "lexical":
        from selflearn.feedback.rephrase_baseline import LexicalPhoneticRephraseDetector

        return LexicalPhoneticRephraseDetector(**kwargs)
    if name == "heuristic":
        from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector

        return HeuristicRephraseDetector(**kwargs)
    if name == "span":
        from selflearn.feedback.rephrase.span_model import ContextualRephraseDetector

        return ContextualRephraseDetector(**kwargs)
    if name == "cosine":
        from selflearn.feedback.rephrase.baselines import EmbeddingCosineDetector

        return EmbeddingCosineDetector()
    if name == "pairwise":
        from selflearn.feedback.rephrase.baselines import PairwiseTextClassifier

        return PairwiseTextClassifier(**kwargs)
    if name == "rule":
        from selflearn.feedback.rephrase.baselines import TimeGapBargeInRule

        return TimeGapBargeInRule()
    raise ValueError(f"unknown rephrase detector {name!r}; choose one of {', '.join(DETECTORS)}")


def model_dir_name(name: str) -> str:
    """The workspace artifact kind (`util.workspace.ARTIFACT_KINDS`) a trained detector of kind
    `name` is published as ("rephrase" for the lexical one, as before this registry existed)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown rephrase detector {name!r}; choose one of {', '.join(DETECTORS)}")
    return "rephrase" if name == "lexical" else f"rephrase_{name}"


def load_detector(path: str | Path) -> Any:
    """Load whichever detector `path` holds (its manifest names the kind)."""
    path = Path(path)
    manifest = path / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"no rephrase detector at {path} (missing manifest.json)")
    kind = json.loads(manifest.read_text()).get("kind")
    if kind == "LexicalPhoneticRephraseDetector":
        from selflearn.feedback.rephrase_baseline import LexicalPhoneticRephraseDetector

        return LexicalPhoneticRephraseDetector.load(path)
    if kind == "HeuristicRephraseDetector":
        from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector

        return HeuristicRephraseDetector.load(path)
    if kind == "ContextualRephraseDetector":
        from selflearn.feedback.rephrase.span_model import ContextualRephraseDetector

        return ContextualRephraseDetector.load(path)
    if kind == "TimeGapBargeInRule":
        from selflearn.feedback.rephrase.baselines import TimeGapBargeInRule

        return TimeGapBargeInRule.load(path)
    raise ValueError(f"{manifest}: unknown detector kind {kind!r}")


#: Trained detectors a workspace may hold, in the order `workspace_detector("auto")` prefers them
#: (the kinds that persist with save/load; the contextual span model first, as the loop's best).
SAVED_DETECTORS: tuple[str, ...] = ("span", "lexical", "rule")


def workspace_detector(workspace: str | Path, name: str = "auto") -> tuple[Any, str]:
    """The rephrase detector every command that reads a workspace's logs uses, and a line saying
    which it is. `name` "auto" takes the trained detector the workspace holds
    (the live version of artifact kind `model_dir_name(kind)`, in `SAVED_DETECTORS` order), else the
    hand-set heuristic; "heuristic" asks for that one; any other name must be trained in the
    workspace (`selflearn demo --detector NAME` trains one) and is an error when it is not."""
    ws = Workspace(workspace)
    if name == "heuristic":
        return make_detector("heuristic").fit(), "heuristic (hand-set)"
    if name != "auto":
        if name not in SAVED_DETECTORS:
            raise ValueError(
                f"rephrase detector {name!r} is not one a workspace can hold; choose auto, heuristic or "
                f"one of {', '.join(SAVED_DETECTORS)}"
            )
        d = ws.model_dir(model_dir_name(name))
        if d is None:
            where = ws.root / ARTIFACT_KINDS[model_dir_name(name)].directory
            raise FileNotFoundError(f"no trained {name} rephrase detector is published at {where}")
        return load_detector(d), f"{name} ({d})"
    for kind in SAVED_DETECTORS:
        d = ws.model_dir(model_dir_name(kind))
        if d is not None:
            return load_detector(d), f"{kind} ({d})"
    return make_detector("heuristic").fit(), "heuristic (no trained detector in the workspace)"
