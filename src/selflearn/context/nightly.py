"""The nightly context job: from all logs so far, rebuild the per-user histories and retrain the
context reranker; both are published together as one version (model in ``model/``,
``history.json``; `context.store`).

Reads logs only: defects and corrections come from the log's own feedback signals.
"""

from __future__ import annotations

from pathlib import Path

from selflearn.context.history import HistoryStore
from selflearn.context.reranker import ContextReranker
from selflearn.context.store import HISTORY_FILE, MODEL_DIR, ContextModel, load_context, publish_context
from selflearn.context.training import build_training_set
from selflearn.contracts.domain import Domain
from selflearn.feedback.rephrase_baseline import PairScorer
from selflearn.lexicon.io import workspace_domain
from selflearn.logs.records import Turn

__all__ = ["HISTORY_FILE", "MODEL_DIR", "ContextModel", "fit_context", "load_context", "run_context_night"]


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


def run_context_night(
    workspace: str | Path, assistant: object, detector: PairScorer | None = None, domain: Domain | None = None
) -> dict[str, object]:
    """The loop's nightly step: retrain from all logs under WORKSPACE/logs, publish a version to
    WORKSPACE/artifacts/context (`context.store`), and hand the new model and histories to the assistant's
    context component (if it has one). The domain is the workspace's `domain.json` unless given.
    Returns a summary for the day's report."""
    from selflearn.context.component import ContextRerankResolver
    from selflearn.logs.io import read_turns

    workspace = Path(workspace)
    turns = list(read_turns(workspace / "logs"))
    result = fit_context(turns, detector, domain=domain or workspace_domain(workspace))
    version = publish_context(workspace, result, {"turns": len(turns)})
    comp = getattr(assistant, "component", lambda _s: None)("resolution")
    changed = None
    if isinstance(comp, ContextRerankResolver):
        changed = {"changed": comp.n_changed, "turns": comp.n_turns}
        comp.n_changed = comp.n_turns = 0
        comp.set_model(result.model, result.history)
    return {
        "context_labelled_turns": result.labelled_turns,
        "context_rows": result.rows,
        "context_trained": result.model is not None,
        "context_changed_today": changed,
        "context_version": version,
    }
