"""Versioned rewrite tables on disk: publish atomically, switch CURRENT atomically, roll back.

Layout (under a workspace root)::

    artifacts/rewrites/
        CURRENT                    one line: the live version, e.g. "v0007"
        v0007/table.parquet        REWRITE_SCHEMA
        v0007/manifest.json        kind, version, created_at, parent, miner config, counts, ...

The table is one kind of the one versioned store (`util.versions.VersionedStore`): a version is
written under a temporary name and renamed into place complete, CURRENT is replaced by rename
after that, so a reader sees the old table or the new one, never a mix, and a publish that fails
part way leaves CURRENT and every published version as they were. What is particular to rewrites
lives here: rules disabled by hand stay disabled in every later publish of the lineage, and
`delete_user` scrubs a person's support out of every version (then republishes the live one).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteTable
from selflearn.util.versions import CURRENT_FILE, MANIFEST_FILE, StoreError
from selflearn.util.workspace import Workspace

__all__ = ["CURRENT_FILE", "MANIFEST_FILE", "TABLE_FILE", "RewriteStore", "StoreError"]

TABLE_FILE = "table.parquet"
_RESERVED = ("kind", "version", "created_at", "parent")
# what happened to one version (not inherited when its table is republished)
_EVENTS = ("action", "disabled", "dropped_disabled", "redactions")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _write_table(data: pa.Table, path: Path) -> None:
    pq.write_table(data.cast(REWRITE_SCHEMA), path)


class RewriteStore:
    """Published rewrite tables under ``root/artifacts/rewrites`` (every version kept)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.store = Workspace(root).store("rewrite")
        self.dir = self.store.dir

    # -- reading -----------------------------------------------------------------------------------
    @property
    def current_path(self) -> Path:
        """The CURRENT pointer file (the runtime stats it to notice a new version cheaply)."""
        return self.store.current_path

    def versions(self) -> list[str]:
        """Published versions, oldest first (temporary and half-pruned directories skipped)."""
        return self.store.versions()

    def current_version(self) -> str | None:
        """The live version; None when nothing is published or the kind is disabled."""
        return self.store.current_version()

    def manifest(self, version: str) -> dict[str, Any]:
        return self.store.manifest(version)

    def load(self, version: str) -> RewriteTable:
        """A published version as a RewriteTable (its manifest as meta)."""
        manifest = self.manifest(version)
        data = pq.read_table(self.store.path(version) / TABLE_FILE)
        return RewriteTable(data, version=version, meta=manifest)

    def current(self) -> RewriteTable | None:
        """The live table, or None if nothing was published yet (or the kind is disabled)."""
        version = self.current_version()
        return None if version is None else self.load(version)

    def disabled_rules(self) -> dict[str, str]:
        """Rules disabled by hand in the live lineage (rule id -> reason): pass them to the miner's
        `blocked_rule_ids`; `publish` also drops them."""
        version = self.store.pointed_version()
        return dict(self.manifest(version).get("disabled_rules", {})) if version else {}

    # -- writing -----------------------------------------------------------------------------------
    def publish(self, table: RewriteTable, manifest_extra: Mapping[str, Any] | None = None) -> str:
        """Write `table` as the next version and make it CURRENT. The manifest holds the table's meta
        (miner config, input, counts) and `manifest_extra`; rules disabled earlier in the live
        lineage are dropped (and listed). Returns the new version."""
        disabled = self.disabled_rules()
        dropped = sorted(set(disabled) & table.rule_ids)
        if dropped:
            table = table.without(dropped)
        manifest: dict[str, Any] = {k: v for k, v in table.meta.items() if k not in _RESERVED + _EVENTS}
        manifest.update({k: v for k, v in (manifest_extra or {}).items() if k not in _RESERVED})
        manifest["disabled_rules"] = {**disabled, **dict(manifest.get("disabled_rules", {}))}
        if dropped:
            manifest["dropped_disabled"] = dropped
        manifest.setdefault("counts", {})
        manifest["counts"] = {**dict(manifest["counts"]), "rules": len(table)}
        return self.store.publish(partial(_write_table_in, table.to_arrow()), manifest)

    def rollback(self, to: str | None = None) -> str:
        """Point CURRENT at `to` (default: the current version's parent). Returns that version."""
        return self.store.rollback(to)

    def disable(self, rule_ids: Iterable[str], reason: str) -> str:
        """Publish the current table without `rule_ids` (one bad rewrite can be pulled at once); the
        reason is kept in the manifest and the rules stay disabled in later publishes."""
        ids = sorted(set(rule_ids))
        current = self.current()
        if current is None:
            raise StoreError("rewrite-nothing-published", "nothing is published; nothing to disable")
        unknown = [i for i in ids if i not in current.rule_ids]
        if unknown:
            raise StoreError("rewrite-rule-unknown", f"not in {current.version}: {unknown}")
        disabled = {**dict(current.meta.get("disabled_rules", {})), **dict.fromkeys(ids, reason)}
        extra = {
            "disabled_rules": disabled,
            "disabled": {"rule_ids": ids, "reason": reason, "at": _now()},
            "action": "disable",
        }
        return self.publish(current.without(ids), extra)

    def delete_user(self, user_id: str, min_users: int | None = None) -> str | None:
        """Remove every trace of `user_id` from every version: their example sessions and their
        support; a rule left with fewer distinct users than `min_users` (default: the miner's
        ``min_users`` recorded in each version's manifest, else 1) is dropped.
        Old versions are rewritten in place (a rollback must not bring the data back), then the
        scrubbed current table is published as a new version so running readers reload it.
        Returns that version, or None when the live table did not change."""
        changed_current = False
        current = self.current_version()
        for version in self.versions():
            manifest = self.manifest(version)
            k = min_users if min_users is not None else int(manifest.get("miner", {}).get("min_users", 1))
            data = pq.read_table(self.store.path(version) / TABLE_FILE)
            scrubbed, n_scrubbed, n_dropped = _scrub_user(data, user_id, k)
            if n_scrubbed == 0:
                continue
            counts = {**dict(manifest.get("counts", {})), "rules": scrubbed.num_rows}
            # the manifest records that a deletion happened, never whose
            self.store.rewrite(
                version,
                {TABLE_FILE: partial(_write_table, scrubbed)},
                note={"rules": n_scrubbed, "dropped": n_dropped},
                updates={"counts": counts},
            )
            changed_current |= version == current
        if not changed_current or current is None:
            return None
        return self.publish(self.load(current), {"action": "delete_user"})


def _write_table_in(data: pa.Table, directory: Path) -> None:
    _write_table(data, directory / TABLE_FILE)


def _scrub_user(data: pa.Table, user_id: str, min_users: int) -> tuple[pa.Table, int, int]:
    """(table without the user, rules touched, rules dropped)."""
    rows = data.to_pylist()
    out = []
    touched = dropped = 0
    for row in rows:
        users = row.get("users") or []
        mine = [u for u in users if u["user_id"] == user_id]
        ex_s = row.get("example_session_ids") or []
        ex_u = row.get("example_user_ids") or []
        in_examples = user_id in ex_u
        if not mine and not in_examples:
            out.append(row)
            continue
        touched += 1
        rest = [u for u in users if u["user_id"] != user_id]
        if len(rest) < min_users:
            dropped += 1
            continue
        keep = [i for i, u in enumerate(ex_u) if u != user_id]
        row = {
            **row,
            "users": rest,
            "distinct_users": len(rest),
            "support": max(0, int(row.get("support") or 0) - sum(int(u["chains"]) for u in mine)),
            "example_session_ids": [ex_s[i] for i in keep if i < len(ex_s)],
            "example_user_ids": [ex_u[i] for i in keep],
        }
        out.append(row)
    table = pa.Table.from_pylist(out, schema=REWRITE_SCHEMA) if out else REWRITE_SCHEMA.empty_table()
    return table, touched, dropped


__all__ = ["CURRENT_FILE", "MANIFEST_FILE", "TABLE_FILE", "RewriteStore", "StoreError"]
