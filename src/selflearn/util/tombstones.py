"""Tombstones: the durable record that a person was deleted, which every reader honours.

Deleting a person's data once is not enough: an old export re-ingested, a collector's late batch
or a nightly job reading a stale copy would bring them back. So `selflearn forget` first writes a
tombstone to ``<workspace>/privacy/tombstones.jsonl`` (appended and fsynced), then scrubs; every
ingestion, collector and nightly step drops the tombstoned people's records as it reads.

The file does not hold the deleted ids themselves (that would keep a list of exactly the people
who asked to be forgotten): it holds a keyed hash (HMAC-SHA256) of each id, under a random key kept
beside it (``privacy/key``, mode 0600). Checking an id costs one hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from selflearn.util.atomic import fsync_dir
from selflearn.util.workspace import Workspace

__all__ = ["Tombstones"]


class Tombstones:
    """The deleted people of a workspace (as keyed hashes)."""

    def __init__(self, workspace: Path) -> None:
        self.directory = Workspace(workspace).privacy
        self.path = self.directory / "tombstones.jsonl"
        self._key_path = self.directory / "key"
        self._lock = threading.Lock()
        self._key: bytes | None = None
        self._hashes: set[str] = set()
        self._loaded_size = -1

    def _ensure_key(self, create: bool) -> bytes | None:
        if self._key is None:
            if self._key_path.exists():
                self._key = bytes.fromhex(self._key_path.read_text().strip())
            elif create:
                self._create_key()
                self._key = bytes.fromhex(self._key_path.read_text().strip())
        return self._key

    def _create_key(self) -> None:
        """Write the key whole under a temporary name, then link it into place: a crash leaves no
        partial key, and of two processes racing here one key wins and both use it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".key.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, self._key_path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        fsync_dir(self.directory)

    def _digest(self, user_id: str) -> str:
        key = self._ensure_key(create=True)
        assert key is not None
        return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def _refresh(self) -> None:
        """Re-read the file when it grew (another process may have forgotten someone)."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if size == self._loaded_size:
            return
        hashes = set()
        if size:
            for i, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    hashes.add(str(json.loads(line)["user"]))
                except (ValueError, KeyError) as exc:
                    raise ValueError(f"{self.path}:{i}: unreadable tombstone ({exc})") from exc
        self._hashes, self._loaded_size = hashes, size

    def add(self, user_id: str) -> bool:
        """Record that `user_id` was deleted (durably, before any scrubbing); False if already."""
        if not user_id:
            raise ValueError("a tombstone needs a user id")
        with self._lock:
            self._refresh()
            digest = self._digest(user_id)
            if digest in self._hashes:
                return False
            self.directory.mkdir(parents=True, exist_ok=True)
            line = json.dumps({"user": digest, "at": datetime.now(UTC).isoformat(timespec="seconds")})
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            fsync_dir(self.directory)
            self._hashes.add(digest)
            self._loaded_size = self.path.stat().st_size
            return True

    def __len__(self) -> int:
        with self._lock:
            self._refresh()
            return len(self._hashes)

    def __contains__(self, user_id: object) -> bool:
        if not isinstance(user_id, str):
            return False
        with self._lock:
            self._refresh()
            if not self._hashes:
                return False
            return self._digest(user_id) in self._hashes

    def deleted(self, user_ids: Iterable[str]) -> set[str]:
        """Which of `user_ids` are tombstoned."""
        with self._lock:
            self._refresh()
            if not self._hashes:
                return set()
            return {u for u in set(user_ids) if u and self._digest(u) in self._hashes}

    def filter_table(self, table: pa.Table, column: str = "user_id") -> tuple[pa.Table, int]:
        """`table` without the rows of tombstoned people, and how many rows went."""
        if column not in table.column_names or table.num_rows == 0:
            return table, 0
        gone = self.deleted(str(u) for u in pc.unique(table.column(column)).to_pylist() if u is not None)
        if not gone:
            return table, 0
        keep = pc.invert(pc.is_in(table.column(column), value_set=pa.array(sorted(gone), pa.string())))
        keep = pc.fill_null(keep, True)
        out = table.filter(keep)
        return out, table.num_rows - out.num_rows
