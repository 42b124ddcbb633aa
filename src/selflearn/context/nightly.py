"""The nightly context job: from all logs so far, rebuild the per-user histories and retrain the
context reranker; both are published together as one version (model in ``model/``,
``history.json``; `context.store`).

Reads logs only: defects and corrections come from the log's own feedback signals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from selflearn.context.history import HistoryStore
from selflearn.context.reranker import ContextReranker
from selflearn.context.store import (
    HISTORY_FILE,
    MODEL_DIR,
    ContextModel,
    context_store,
    load_context,
    publish_context,
)
from selflearn.context.training import build_training_set
from selflearn.contracts.domain import Domain
from selflearn.feedback.rephrase_baseline import PairScorer
from selflearn.lexicon.io import workspace_domain
from selflearn.logs.records import Turn
from selflearn.util.workspace import Workspace

__all__ = [
    "HISTORY_FILE",
    "MODEL_DIR",
    "ContextModel",
    "ContextNight",
    "context_night",
    "fit_context",
    "hand_to_component",
    "load_context",
    "run_context_night",
]


def fit_context(
    turns: list[Turn],
    detector: PairScorer | None = None,
    reranker: ContextReranker | None = None,
    min_rows: int = 50,
    domain: Domain | None = None,
) -> ContextModel:
    """Histories and a reranker from `turns` (all logged days, any order), read under `domain`
    (the deployment's intents and vocabularies; None knows no intent, so nothing is learned)."""
    ts, history = build_training_set(turns, HistoryStore(domain), detector=detector)
    model: ContextReranker | None = None
    if ts.x.shape[0] >= min_rows and len(set(ts.y.tolist())) == 2:
        model = (reranker or ContextReranker()).fit(
            ts.x, ts.y, ts.weight, group=ts.group, observed=ts.observed
        )
    return ContextModel(model, history, ts.n_turns, int(ts.x.shape[0]))


@dataclass
class ContextNight:
    """One night's context learning: the model and histories, the version published, and the
    sha256 digest of the published histories and model files (manifests excluded: they hold the
    time they were written)."""

    result: ContextModel
    version: str
    digest: str
    turns: int

    def summary(self) -> dict[str, object]:
        return {
            "context_labelled_turns": self.result.labelled_turns,
            "context_rows": self.result.rows,
            "context_trained": self.result.model is not None,
            "context_version": self.version,
        }


def context_night(
    workspace: str | Path, detector: PairScorer | None = None, domain: Domain | None = None
) -> ContextNight:
    """Retrain from all logs under WORKSPACE/logs and publish a version to WORKSPACE/artifacts/context
    (`context.store`); the nightly graph's `context` step. The domain is the workspace's
    `domain.json` unless given. The live component pulls the new version (or is handed it)."""
    from selflearn.logs.io import read_turns

    workspace = Path(workspace)
    turns = list(read_turns(Workspace(workspace).logs))
    result = fit_context(turns, detector, domain=domain or workspace_domain(workspace))
    version = publish_context(workspace, result, {"turns": len(turns)})
    return ContextNight(result, version, _digest(context_store(workspace).path(version)), len(turns))


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json"):
        h.update(str(f.relative_to(directory)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def hand_to_component(assistant: object, night: ContextNight) -> dict[str, object] | None:
    """Give the assistant's context component (if it has one) the night's model and histories;
    what it changed since the last hand-over, or None without such a component."""
    from selflearn.context.component import ContextRerankResolver

    comp = getattr(assistant, "component", lambda _s: None)("resolution")
    if not isinstance(comp, ContextRerankResolver):
        return None
    changed: dict[str, object] = {"changed": comp.n_changed, "turns": comp.n_turns}
    comp.n_changed = comp.n_turns = 0
    comp.set_model(night.result.model, night.result.history)
    return changed


def run_context_night(
    workspace: str | Path, assistant: object, detector: PairScorer | None = None, domain: Domain | None = None
) -> dict[str, object]:
    """`context_night`, then the model handed to the assistant's context component; a summary for
    the day's report."""
    night = context_night(workspace, detector, domain)
    return {**night.summary(), "context_changed_today": hand_to_component(assistant, night)}
