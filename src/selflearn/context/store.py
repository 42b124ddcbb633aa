"""Published context models: versions of (reranker, per-user histories) in the shared store.

Each nightly context job publishes a new version under ``WORKSPACE/artifacts/context``
(`util.versions`: whole or nothing, provenance, rollback, disable), so a reranker that turns out
worse can be rolled back like a rewrite table, and a deleted person is scrubbed from the
histories of every kept version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selflearn.context.history import HistoryStore
from selflearn.context.reranker import ContextReranker
from selflearn.util.versions import VersionedStore
from selflearn.util.workspace import Workspace

__all__ = [
    "HISTORY_FILE",
    "MODEL_DIR",
    "ContextModel",
    "context_store",
    "current_context",
    "forget_context",
    "load_context",
    "publish_context",
]

MODEL_DIR = "model"
HISTORY_FILE = "history.json"


@dataclass
class ContextModel:
    """A trained reranker (None when the logs held too little to train one) and the histories."""

    model: ContextReranker | None
    history: HistoryStore
    labelled_turns: int
    rows: int

    def save(self, out: str | Path) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.save(out / MODEL_DIR)
        self.history.save(out / HISTORY_FILE)
        return out

    def component_params(self) -> dict[str, object]:
        """Parameters for `default_config(context=...)` using these objects."""
        return {"model": self.model, "history": self.history}


def load_context(path: str | Path) -> ContextModel:
    path = Path(path)
    model = ContextReranker.load(path / MODEL_DIR) if (path / MODEL_DIR / "manifest.json").exists() else None
    history = HistoryStore.load(path / HISTORY_FILE) if (path / HISTORY_FILE).exists() else HistoryStore()
    return ContextModel(model, history, 0, 0)


KEEP = 3


def context_store(workspace: str | Path) -> VersionedStore:
    return Workspace(workspace).store("context", keep=KEEP)


def publish_context(
    workspace: str | Path, result: ContextModel, extra: Mapping[str, Any] | None = None
) -> str:
    """Publish a trained context model as the next version; returns it."""
    manifest = {
        "labelled_turns": result.labelled_turns,
        "rows": result.rows,
        "trained": result.model is not None,
        "users": len(result.history),
        **dict(extra or {}),
    }

    def write(directory: Path) -> None:
        result.save(directory)

    return context_store(workspace).publish(write, manifest)


def current_context(workspace: str | Path) -> ContextModel | None:
    """The live context model, or None (nothing published, or disabled)."""
    store = context_store(workspace)
    version = store.current_version()
    return None if version is None else load_context(store.path(version))


def forget_context(workspace: str | Path, user_id: str) -> int:
    """Remove a person's history from every kept version (and from a history file a workspace
    made before versions, at the folder's top); returns the files that held them."""
    store = context_store(workspace)
    scrubbed = 0
    for version in store.versions():
        path = store.path(version) / HISTORY_FILE
        history = HistoryStore.load(path)
        if history.delete_user(user_id):
            store.rewrite(version, {HISTORY_FILE: history.save}, {"histories": 1})
            scrubbed += 1
    legacy = store.dir / HISTORY_FILE
    if legacy.exists():
        history = HistoryStore.load(legacy)
        if history.delete_user(user_id):
            history.save(legacy)
            scrubbed += 1
    if scrubbed:
        store.touch_current()
    return scrubbed
