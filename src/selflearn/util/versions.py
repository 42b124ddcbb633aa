"""One versioned store for every kind of published artifact: write whole, switch atomically,
roll back, disable, prune, and scrub a person out of every kept version.

Every learner publishes something the runtime reads while the next night writes a newer one:
rewrite tables, online indexes and rankers, context models, detectors, label and NLU models. They
all need the same guarantees, so they share this store (each kind keeps its own file layout inside
a version directory, written by a callback):

* **Whole or nothing.** A version is written into a hidden temporary directory, every file is
  fsynced, and the directory is renamed to the next free name (``v0001``, ``v0002``, ...), which
  fails if another writer claimed it. Then ``CURRENT`` is replaced by rename. A reader sees the old
  version or the new one; a crash leaves at most a hidden temporary directory.
* **Provenance.** The manifest holds the caller's fields plus ``kind``, ``version``,
  ``created_at`` and ``parent`` (the version that was live when it was published).
* **Undo.** `rollback` points ``CURRENT`` at the parent (or any kept version); `disable` makes the
  kind serve nothing (``DISABLED`` holds the reason) until `enable`.
* **Pruning that never shows a half version.** Old versions beyond `keep` are first renamed to a
  hidden name (atomic), then deleted; listing skips hidden names, and `clean` (run by every
  writer) removes what an interrupted publish or prune left behind.
* **Deletion.** `rewrite` replaces one kept version's files in place (atomic per file) and records
  in its manifest that a redaction happened, never whose: a rollback must not bring a deleted
  person back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from selflearn.util.atomic import atomic_write_text, fsync_dir

__all__ = ["CURRENT_FILE", "DISABLED_FILE", "MANIFEST_FILE", "StoreError", "VersionedStore"]

VERSION_RE = re.compile(r"^v(\d{4,})$")
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "CURRENT"
DISABLED_FILE = "DISABLED"
_RESERVED = ("kind", "version", "created_at", "parent")


class StoreError(Exception):
    """A store operation could not be done; `code` is a machine code (``<kind>-<what>``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        fsync_dir(path)
    fsync_dir(root)


class VersionedStore:
    """Versions of one artifact kind under `directory`; `required` names the files a version must
    hold to count as published (besides its manifest)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        kind: str,
        keep: int | None = None,
        required: tuple[str, ...] = (),
    ) -> None:
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be >= 1 (or None for every version), got {keep}")
        self.dir = Path(directory)
        self.kind = kind
        self.keep = keep
        self.required = required

    # -- reading -----------------------------------------------------------------------------------
    @property
    def current_path(self) -> Path:
        """The pointer file (a reader stats it to notice a new version cheaply)."""
        return self.dir / CURRENT_FILE

    def versions(self) -> list[str]:
        """Published versions, oldest first (hidden temporary and pruned directories skipped)."""
        if not self.dir.is_dir():
            return []
        found = []
        for p in self.dir.iterdir():
            m = VERSION_RE.match(p.name)
            if m and p.is_dir() and all((p / f).exists() for f in (MANIFEST_FILE, *self.required)):
                found.append((int(m.group(1)), p.name))
        return [name for _, name in sorted(found)]

    def current_version(self) -> str | None:
        """The live version; None when nothing is published or the kind is disabled."""
        if self.disabled() is not None:
            return None
        return self.pointed_version()

    def pointed_version(self) -> str | None:
        """What CURRENT names, disabled or not."""
        try:
            text = self.current_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or None

    def disabled(self) -> dict[str, Any] | None:
        """{reason, at} while the kind is disabled, else None."""
        try:
            return dict(json.loads((self.dir / DISABLED_FILE).read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    def path(self, version: str) -> Path:
        """A version's directory (validated name; it may not exist)."""
        if not VERSION_RE.match(version):
            raise StoreError(f"{self.kind}-version-invalid", f"not a version name: {version!r}")
        return self.dir / version

    def manifest(self, version: str) -> dict[str, Any]:
        try:
            return dict(json.loads((self.path(version) / MANIFEST_FILE).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise StoreError(
                f"{self.kind}-version-unknown", f"no published {self.kind} version {version!r}"
            ) from None

    # -- writing -----------------------------------------------------------------------------------
    def publish(self, write: Callable[[Path], None], manifest: Mapping[str, Any] | None = None) -> str:
        """Write a version with `write(tmp_dir)` and make it CURRENT; returns its name. A failure
        anywhere leaves CURRENT and every published version as they were."""
        self.clean()
        self.dir.mkdir(parents=True, exist_ok=True)
        parent = self.pointed_version()
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.dir))
        try:
            write(tmp)
            missing = [f for f in self.required if not (tmp / f).exists()]
            if missing:
                raise StoreError(f"{self.kind}-incomplete", f"a {self.kind} version needs {missing}")
            base = {k: v for k, v in (manifest or {}).items() if k not in _RESERVED}
            for _ in range(100):
                version = self._next_version()
                full = {**base, "kind": self.kind, "version": version, "created_at": _now(), "parent": parent}
                text = json.dumps(full, indent=2, sort_keys=True, default=str) + "\n"
                (tmp / MANIFEST_FILE).write_text(text, encoding="utf-8")
                _fsync_tree(tmp)
                try:
                    os.rename(tmp, self.dir / version)  # fails if another writer took the name
                except OSError:
                    if (self.dir / version).exists():
                        continue
                    raise
                fsync_dir(self.dir)
                break
            else:
                raise StoreError(f"{self.kind}-version-race", "could not claim a new version name")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            self._switch(version)
        except BaseException:
            self._discard(version)  # nothing points at it yet
            raise
        self.prune()
        return version

    def rollback(self, to: str | None = None) -> str:
        """Point CURRENT at `to` (default: the live version's parent); returns it."""
        current = self.pointed_version()
        if to is None:
            if current is None:
                raise StoreError(f"{self.kind}-nothing-published", f"no {self.kind} is published")
            to = self.manifest(current).get("parent")
            if not to:
                raise StoreError(f"{self.kind}-no-parent", f"{current} has no previous version")
        if to not in self.versions():
            raise StoreError(f"{self.kind}-version-unknown", f"no published {self.kind} version {to!r}")
        self._switch(to)
        return to

    def disable(self, reason: str) -> None:
        """Serve nothing of this kind (readers see no current version) until `enable`."""
        if not reason.strip():
            raise ValueError("disabling needs a reason")
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.dir / DISABLED_FILE, json.dumps({"reason": reason, "at": _now()}) + "\n")
        self._touch()

    def enable(self) -> bool:
        """Serve the pointed version again; False if the kind was not disabled."""
        try:
            (self.dir / DISABLED_FILE).unlink()
        except FileNotFoundError:
            return False
        fsync_dir(self.dir)
        self._touch()
        return True

    def rewrite(
        self,
        version: str,
        files: Mapping[str, Callable[[Path], object]],
        note: Mapping[str, Any],
        updates: Mapping[str, Any] | None = None,
    ) -> None:
        """Replace files of a kept version in place (each `files[name](tmp_path)` writes the new
        content, renamed over the old one), set the manifest fields in `updates` (never the
        reserved ones), then record `note` under the manifest's ``redactions``: that a deletion
        happened (counts, time), never whose."""
        from selflearn.util.atomic import atomic_path

        vdir = self.path(version)
        manifest = self.manifest(version)
        for name, write in files.items():
            with atomic_path(vdir / name) as tmp:
                write(tmp)
        manifest.update({k: v for k, v in (updates or {}).items() if k not in _RESERVED})
        manifest["redactions"] = [*manifest.get("redactions", []), {"at": _now(), **dict(note)}]
        atomic_write_text(
            vdir / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
        )

    def discard(self, version: str) -> None:
        """Delete a kept version for good (never the pointed one): what forgetting a person does
        to a version that cannot be scrubbed, such as a model fitted on their data."""
        if version == self.pointed_version():
            raise StoreError(f"{self.kind}-version-live", f"{version} is live: publish or roll back first")
        if version not in self.versions():
            raise StoreError(f"{self.kind}-version-unknown", f"no published {self.kind} version {version!r}")
        self._discard(version)

    def touch_current(self) -> None:
        """Rewrite CURRENT unchanged, so readers that watch it reload (after `rewrite`)."""
        self._touch()

    def prune(self) -> list[str]:
        """Drop versions older than the newest `keep`, never the pointed one or its parent (what
        `rollback` goes back to); returns them."""
        if self.keep is None:
            return []
        pointed = self.pointed_version()
        kept = {pointed}
        if pointed is not None and pointed in self.versions():
            kept.add(self.manifest(pointed).get("parent"))
        old = [v for v in self.versions()[: -self.keep] if v not in kept]
        for v in old:
            self._discard(v)
        return old

    def clean(self, min_age_s: float = 3600.0) -> list[str]:
        """Remove what interrupted writers left: hidden temporary directories older than
        `min_age_s` (a live writer's are younger) and pruned versions not yet deleted."""
        if not self.dir.is_dir():
            return []
        gone = []
        now = time.time()
        for p in self.dir.iterdir():
            trash = p.name.startswith(".trash-")
            stale_tmp = p.name.startswith(".tmp-") and now - p.stat().st_mtime > min_age_s
            if p.is_dir() and (trash or stale_tmp):
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p.name)
        return gone

    # -- internals ---------------------------------------------------------------------------------
    def _next_version(self) -> str:
        numbers = [int(m.group(1)) for p in self.dir.iterdir() if (m := VERSION_RE.match(p.name))]
        return f"v{max(numbers, default=0) + 1:04d}"

    def _switch(self, version: str) -> None:
        atomic_write_text(self.current_path, version + "\n")

    def _touch(self) -> None:
        pointed = self.pointed_version()
        if pointed is not None:
            self._switch(pointed)

    def _discard(self, version: str) -> None:
        """Hide a version by rename (atomic: it is listed whole or not at all), then delete it."""
        src = self.dir / version
        if not src.exists():
            return
        trash = self.dir / f".trash-{version}-{os.getpid()}-{time.monotonic_ns()}"
        os.rename(src, trash)
        fsync_dir(self.dir)
        shutil.rmtree(trash, ignore_errors=True)
