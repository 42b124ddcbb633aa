"""Published context models: versions of (reranker, per-user histories) in the shared store.

Each nightly context job publishes a new version under ``WORKSPACE/artifacts/context``
(`util.versions`: whole or nothing, provenance, rollback, disable), so a reranker that turns out
worse can be rolled back like a rewrite table, and a deleted person is scrubbed from the
histories of every kept version.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from selflearn.context.history import HistoryStore
from selflearn.context.nightly import HISTORY_FILE, ContextModel, load_context
from selflearn.util.versions import VersionedStore

__all__ = ["context_store", "current_context", "forget_context", "publish_context"]

KEEP = 3


def context_store(workspace: str | Path) -> VersionedStore:
    return VersionedStore(
        Path(workspace) / "artifacts" / "context", "context", keep=KEEP, required=(HISTORY_FILE,)
    )


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
