"""Forget a person everywhere in a workspace, with one call, and say what was removed.

A person's traces are spread over many stores: the interaction logs (and the control arm's and the
simulator's truth tables), late feedback, the service's journal and unflushed buffer, quarantined
records, preferences, context histories, labels, and every kept version of the rewrite table and
the online model. `forget_user` first writes a tombstone (`util.tombstones`: durable, so that
readers drop the person even from data that arrives later), then scrubs each store, rewriting every
file atomically (a reader sees the old file or the new one), and reports the records removed per
store. Running it again is harmless; `find_traces` lists whatever still names the person.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selflearn.util.atomic import atomic_path, atomic_write_text
from selflearn.util.journal import TurnJournal
from selflearn.util.tombstones import Tombstones
from selflearn.util.workspace import ARTIFACT_KINDS, Workspace

__all__ = ["ForgetReport", "find_traces", "forget_user"]

#: Store-managed artifact folders: scrubbed through their stores, which also recompute support.
_STORE_DIRS = (ARTIFACT_KINDS["rewrite"].directory, ARTIFACT_KINDS["online"].directory)


class _Buffer(Protocol):
    def forget(self, user_id: str) -> int: ...


@dataclass
class ForgetReport:
    user: str
    tombstone_new: bool
    removed: dict[str, int] = field(default_factory=dict)  # store -> records removed
    files_rewritten: list[str] = field(default_factory=list)
    rewrite_table_version: str | None = None
    online_versions_scrubbed: int = 0
    nlu_retrained: str | None = None  # the understanding model version retrained without the person

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def _add(self, store: str, n: int, path: Path | None = None, root: Path | None = None) -> None:
        if n:
            self.removed[store] = self.removed.get(store, 0) + n
            if path is not None:
                self.files_rewritten.append(str(path.relative_to(root)) if root else str(path))


def _skipped(rel: Path) -> bool:
    s = rel.as_posix()
    return any(s == d or s.startswith(d + "/") for d in _STORE_DIRS) or any(
        p.startswith(".") for p in rel.parts
    )


def _files(ws: Path, pattern: str) -> Iterator[Path]:
    for p in sorted(ws.rglob(pattern)):
        if p.is_file() and not _skipped(p.relative_to(ws)):
            yield p


def _scrub_parquet(path: Path, user_id: str) -> int:
    pf = pq.ParquetFile(path)
    if "user_id" not in pf.schema_arrow.names:
        return 0
    ids = pq.read_table(path, columns=["user_id"]).column("user_id")
    if not pc.any(pc.equal(ids, user_id)).as_py():
        return 0
    table = pq.read_table(path)
    keep = pc.fill_null(pc.not_equal(table.column("user_id"), user_id), True)
    out = table.filter(keep)
    with atomic_path(path) as tmp:
        pq.write_table(out, tmp, compression="zstd")
    return table.num_rows - out.num_rows


def _scrub_lines(path: Path, drop: Callable[[Any], bool]) -> int:
    """Rewrite a JSONL file without the records `drop` picks (unreadable lines are kept)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept, gone = [], 0
    for line in lines:
        try:
            obj = json.loads(line) if line.strip() else None
        except ValueError:
            obj = None
        if obj is not None and drop(obj):
            gone += 1
        else:
            kept.append(line)
    if gone:
        atomic_write_text(path, "".join(kept))
    return gone


def _names(obj: Any, user_id: str) -> bool:
    """Does a raw record (possibly malformed) name the person as its user?"""
    if isinstance(obj, dict):
        if obj.get("user_id") == user_id or obj.get("user") == user_id:
            return True
        return any(_names(v, user_id) for k, v in obj.items() if k in ("raw", "turn"))
    if isinstance(obj, str):
        return json.dumps(user_id) in obj or f"'{user_id}'" in obj
    return False


def forget_user(
    workspace: Path,
    user_id: str,
    *,
    buffer: _Buffer | None = None,
    prefs_db: Path | None = None,
) -> ForgetReport:
    """Delete `user_id` from every store of `workspace` (and from a running service's unflushed
    `buffer`, which also scrubs its journal); `prefs_db` defaults to the workspace's."""
    from selflearn.context.store import forget_context
    from selflearn.labels.nlu_night import forget_nlu
    from selflearn.rewrite.online import OnlineStore
    from selflearn.rewrite.store import RewriteStore
    from selflearn.teach.store import PreferenceStore

    ws = Path(workspace)
    if not user_id:
        raise ValueError("forget needs a user id")
    report = ForgetReport(user=user_id, tombstone_new=Tombstones(ws).add(user_id))
    if buffer is not None:
        report._add("service buffer", buffer.forget(user_id))
    journal = Workspace(ws).journal
    if buffer is None and journal.is_dir():
        segments = TurnJournal.segments_in(journal)
        report._add("service journal", sum(TurnJournal.scrub(seg, user_id) for seg in segments))
    # before the row-by-row scrub: the understanding model is retrained without the person, and
    # the versions that learned from them are discarded
    nlu = forget_nlu(ws, user_id)
    report._add("understanding model versions", int(nlu["versions"]))
    report.nlu_retrained = nlu["retrained"]
    for path in _files(ws, "*.parquet"):
        kind = "logs" if "logs" in path.relative_to(ws).parts else path.relative_to(ws).parts[0]
        report._add(kind, _scrub_parquet(path, user_id), path, ws)
    for path in _files(ws, "*.jsonl"):
        rel = path.relative_to(ws)
        if rel.parts[0] in ("privacy",) or rel.parts[:2] == ("serve", "journal"):
            continue
        if rel.parts[0] == "quarantine":
            report._add("quarantine", _scrub_lines(path, lambda o: _names(o, user_id)), path, ws)
        elif rel.as_posix() == "serve/feedback.jsonl":
            report._add("late feedback", _scrub_lines(path, lambda o: o.get("user") == user_id), path, ws)
        else:
            report._add("logs", _scrub_lines(path, lambda o: o.get("user_id") == user_id), path, ws)
    report._add("context history", forget_context(ws, user_id))
    prefs = prefs_db or Workspace(ws).preferences_db
    if Path(prefs).exists():
        report._add("preferences", PreferenceStore(prefs).delete_user(user_id))
    report.rewrite_table_version = RewriteStore(ws).delete_user(user_id)
    report.online_versions_scrubbed = OnlineStore(ws).delete_user(user_id)
    return report


def _count(values: pa.Array, user_id: str) -> int:
    """How often `user_id` appears in a column of ids, of lists of ids, or of (lists of) records
    holding a `user_id` field."""
    if len(values) == 0:
        return 0
    kind = values.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return int(pc.sum(pc.fill_null(pc.equal(values, user_id), False).cast(pa.int64())).as_py() or 0)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _count(pc.list_flatten(values), user_id)
    if pa.types.is_struct(kind) and kind.get_field_index("user_id") >= 0:
        return _count(pc.struct_field(values, "user_id"), user_id)
    return 0


def find_traces(workspace: Path, user_id: str, prefs_db: Path | None = None) -> list[str]:
    """Every place in `workspace` that still names `user_id` (empty after `forget_user`): rows of
    any Parquet file with a user column or a supporters list, JSON lines and other text files that
    hold the id as a JSON string, and preference rows."""
    ws = Path(workspace)
    found: list[str] = []
    needle = json.dumps(user_id)
    for path in sorted(ws.rglob("*.parquet")):
        if any(p.startswith(".") for p in path.relative_to(ws).parts):
            continue
        schema = pq.read_schema(path)
        cols = [c for c in ("user_id", "users") if c in schema.names]
        if not cols:
            continue
        t = pq.read_table(path, columns=cols)
        n = sum(_count(t.column(c).combine_chunks(), user_id) for c in cols)
        if n:
            found.append(f"{path.relative_to(ws)}: {n} rows")
    for path in sorted(ws.rglob("*")):
        rel = path.relative_to(ws)
        if (
            not path.is_file()
            or path.suffix in (".parquet", ".sqlite", ".pt", ".txt")
            or rel.parts[0] == "privacy"
        ):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if needle in text:
            found.append(f"{rel}: named")
    prefs = prefs_db or Workspace(ws).preferences_db
    if Path(prefs).exists():
        con = sqlite3.connect(str(prefs))
        try:
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                cols = [r[1] for r in con.execute(f"PRAGMA table_info('{name}')").fetchall()]
                if "user_id" in cols:
                    (n,) = con.execute(
                        f"SELECT COUNT(*) FROM '{name}' WHERE user_id = ?", (user_id,)
                    ).fetchone()
                    if n:
                        found.append(f"{Path(prefs).name}:{name}: {n} rows")
        finally:
            con.close()
    return found
