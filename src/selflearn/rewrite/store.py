"""Versioned rewrite tables on disk: publish atomically, switch CURRENT atomically, roll back.

Layout (under a workspace root)::

    artifacts/rewrites/
        CURRENT                    one line: the live version, e.g. "v0007"
        v0007/table.parquet        REWRITE_SCHEMA
        v0007/manifest.json        version, created_at, parent, miner config, counts, input, ...

A version directory is written under a temporary name and renamed into place complete; CURRENT is
replaced by rename after that. A reader therefore sees the old table or the new one, never a mix,
and a publish that fails part way leaves CURRENT and every published version as they were.
Versions are immutable, except that `delete_user` scrubs a deleted user out of all of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteTable
from selflearn.util.atomic import atomic_path, atomic_write_text, fsync_dir

_VERSION = re.compile(r"^v(\d{4,})$")
TABLE_FILE = "table.parquet"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
_RESERVED = ("version", "created_at", "parent")
# what happened to one version (not inherited when its table is republished)
_EVENTS = ("action", "disabled", "dropped_disabled", "redactions")


class StoreError(Exception):
    """A store operation could not be done; `code` is a machine code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> str:
    return datetime.now(UTC).isoformat()


class RewriteStore:
    """Published rewrite tables under ``root/artifacts/rewrites``; single writer assumed."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.dir = self.root / "artifacts" / "rewrites"

    # -- reading -----------------------------------------------------------------------------------
    @property
    def current_path(self) -> Path:
        """The CURRENT pointer file (the runtime stats it to notice a new version cheaply)."""
        return self.dir / CURRENT_FILE

    def versions(self) -> list[str]:
        """Published versions, oldest first (directories with a manifest; temp dirs are skipped)."""
        if not self.dir.is_dir():
            return []
        found = []
        for p in self.dir.iterdir():
            m = _VERSION.match(p.name)
            if m and p.is_dir() and (p / MANIFEST_FILE).is_file() and (p / TABLE_FILE).is_file():
                found.append((int(m.group(1)), p.name))
        return [name for _, name in sorted(found)]

    def current_version(self) -> str | None:
        try:
            text = self.current_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def manifest(self, version: str) -> dict[str, Any]:
        path = self._vdir(version) / MANIFEST_FILE
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise StoreError("rewrite-version-unknown", f"no published rewrite version {version!r}") from None

    def load(self, version: str) -> RewriteTable:
        """A published version as a RewriteTable (its manifest as meta)."""
        manifest = self.manifest(version)
        data = pq.read_table(self._vdir(version) / TABLE_FILE)
        return RewriteTable(data, version=version, meta=manifest)

    def current(self) -> RewriteTable | None:
        """The live table, or None if nothing was published yet."""
        version = self.current_version()
        return None if version is None else self.load(version)

    def disabled_rules(self) -> dict[str, str]:
        """Rules disabled by hand in the live lineage (rule id -> reason): pass them to the miner's
        `blocked_rule_ids`; `publish` also drops them."""
        version = self.current_version()
        return dict(self.manifest(version).get("disabled_rules", {})) if version else {}

    # -- writing -----------------------------------------------------------------------------------
    def publish(self, table: RewriteTable, manifest_extra: Mapping[str, Any] | None = None) -> str:
        """Write `table` as the next version and make it CURRENT. The manifest holds the table's meta
        (miner config, input, counts) and `manifest_extra`; rules disabled earlier in the live
        lineage are dropped (and listed). Returns the new version."""
        parent = self.current_version()
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
        version = self._write_version(table.to_arrow(), manifest, parent)
        try:
            self._switch(version)
        except BaseException:
            # nothing points at the new version yet: remove it so a failed publish leaves no trace
            shutil.rmtree(self._vdir(version), ignore_errors=True)
            raise
        return version

    def rollback(self, to: str | None = None) -> str:
        """Point CURRENT at `to` (default: the current version's parent). Returns that version."""
        current = self.current_version()
        if to is None:
            if current is None:
                raise StoreError("rewrite-nothing-published", "nothing is published; cannot roll back")
            to = self.manifest(current).get("parent")
            if not to:
                raise StoreError("rewrite-no-parent", f"{current} has no previous version to roll back to")
        if to not in self.versions():
            raise StoreError("rewrite-version-unknown", f"no published rewrite version {to!r}")
        self._switch(to)
        return to

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
            vdir = self._vdir(version)
            manifest = self.manifest(version)
            k = min_users if min_users is not None else int(manifest.get("miner", {}).get("min_users", 1))
            data = pq.read_table(vdir / TABLE_FILE)
            scrubbed, n_scrubbed, n_dropped = _scrub_user(data, user_id, k)
            if n_scrubbed == 0:
                continue
            with atomic_path(vdir / TABLE_FILE) as tmp:
                pq.write_table(scrubbed, tmp)
            # the manifest records that a deletion happened, never whose
            redactions = [
                *manifest.get("redactions", []),
                {"at": _now(), "rules": n_scrubbed, "dropped": n_dropped},
            ]
            manifest["redactions"] = redactions
            counts = dict(manifest.get("counts", {}))
            counts["rules"] = scrubbed.num_rows
            manifest["counts"] = counts
            atomic_write_text(vdir / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            changed_current |= version == current
        if not changed_current or current is None:
            return None
        return self.publish(self.load(current), {"action": "delete_user"})

    # -- internals ---------------------------------------------------------------------------------
    def _vdir(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise StoreError("rewrite-version-invalid", f"not a version name: {version!r}")
        return self.dir / version

    def _next_version(self) -> str:
        numbers = [int(m.group(1)) for p in self.dir.iterdir() if (m := _VERSION.match(p.name))]
        return f"v{max(numbers, default=0) + 1:04d}"

    def _write_version(self, data: pa.Table, manifest: dict[str, Any], parent: str | None) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.dir))
        try:
            pq.write_table(data.cast(REWRITE_SCHEMA), tmp / TABLE_FILE)
            for _ in range(100):
                version = self._next_version()
                full = {**manifest, "version": version, "created_at": _now(), "parent": parent}
                (tmp / MANIFEST_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
                for name in (TABLE_FILE, MANIFEST_FILE):
                    with open(tmp / name, "rb") as fh:
                        os.fsync(fh.fileno())
                try:
                    os.rename(tmp, self.dir / version)  # fails if another writer took the name
                except OSError:
                    if (self.dir / version).exists():
                        continue
                    raise
                fsync_dir(self.dir)
                return version
            raise StoreError("rewrite-version-race", "could not claim a new version name")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _switch(self, version: str) -> None:
        atomic_write_text(self.current_path, version + "\n")


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
