"""The runtime precomputed rewriter: between ASR and NLU, replace a request the published table
knows by its rewrite. Lookup is a normalize + dict probe; a newly published version is picked up by
stat-ing the CURRENT pointer at most once per `check_interval_s` (or on an explicit `reload()`)."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from selflearn.assistant.component import TurnState, register
from selflearn.logs.records import RewriteStage
from selflearn.rewrite.store import RewriteStore
from selflearn.rewrite.table import RewriteTable
from selflearn.text.normalize import normalize_request

log = logging.getLogger(__name__)


@register("rewrite.precomputed.v1")
class PrecomputedRewriter:
    """Component ``rewrite``: fills ``turn.rewrite`` from a precomputed RewriteTable.

    Give either `root` (a workspace whose store is followed as new versions are published) or a
    fixed `table`. Reads ``turn.asr``; writes ``turn.rewrite`` (never overrides one already set).
    Rules scoring below `min_score` are ignored.
    """

    name = "rewrite"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        table: RewriteTable | None = None,
        check_interval_s: float = 5.0,
        min_score: float = 0.0,
    ) -> None:
        if (root is None) == (table is None):
            raise ValueError("give exactly one of root (a workspace) or table")
        self.store = RewriteStore(root) if root is not None else None
        self.check_interval_s = check_interval_s
        self.min_score = min_score
        self._table: RewriteTable = table if table is not None else RewriteTable.empty()
        self._signature: tuple[int, int, int] | None = None
        self._next_check = 0.0
        if self.store is not None:
            self.reload()

    @property
    def table(self) -> RewriteTable:
        return self._table

    @property
    def version(self) -> str | None:
        return self._table.version

    def reload(self) -> bool:
        """Load the store's CURRENT version if it differs from the loaded one. True if it changed."""
        if self.store is None:
            return False
        self._next_check = time.monotonic() + self.check_interval_s
        try:
            st = os.stat(self.store.current_path)
            signature = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            signature = None
        if signature is not None and signature == self._signature:
            return False
        version = self.store.current_version()
        if version == self._table.version:
            self._signature = signature
            return False
        table = self.store.load(version) if version is not None else RewriteTable.empty()
        self._table, self._signature = table, signature
        log.info("rewrite table %s loaded (%d rules)", version, len(table))
        return True

    def _maybe_reload(self) -> None:
        if self.store is None or time.monotonic() < self._next_check:
            return
        try:
            self.reload()
        except Exception:  # a broken publish must not take the assistant down: keep the old table
            log.exception("rewrite table reload failed; keeping %s", self._table.version)

    def __call__(self, state: TurnState) -> TurnState:
        self._maybe_reload()
        turn = state.turn
        if turn.rewrite is not None:
            return state
        text = turn.asr.text
        if not text:
            return state
        rule = self._table.lookup(normalize_request(text))
        if rule is None or rule.probability < self.min_score:
            return state
        turn.rewrite = RewriteStage(
            original=text,
            rewritten=rule.target,
            rule_id=rule.rule_id,
            source="precomputed",
            score=min(1.0, max(0.0, rule.probability)),
            table_version=self._table.version,
        )
        return state

    def config(self) -> dict[str, Any]:
        """The settings `create("rewrite.precomputed.v1", **settings)` rebuilds this from; a table
        handed in directly is a collaborator."""
        return {
            "component": getattr(self, "created_as", "rewrite.precomputed.v1"),
            "root": str(self.store.root) if self.store else None,
            "check_interval_s": self.check_interval_s,
            "min_score": self.min_score,
        }
