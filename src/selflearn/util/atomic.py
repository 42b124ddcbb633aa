"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one.

Logs, quarantine files and published artifacts are read by jobs that may run while a writer is
busy or after it crashed. Every write therefore goes to a temporary file in the destination's own
directory (so the final rename never crosses a filesystem), is flushed and fsynced, and only then
renamed over the destination with `os.replace`. The directory is fsynced too, so the rename itself
survives a power cut.

Temporary files are named `.<name>.<random>.tmp`: readers that list directories skip dot-files.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "CommitOnExit",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_dir",
    "new_temp_path",
    "publish_temp",
]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Flush a directory entry table (POSIX), so a rename into it is durable.

    Best effort: a no-op on platforms or filesystems that cannot fsync a directory (the rename
    itself is still atomic there, only its durability across a power cut is not guaranteed).
    """
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_temp_path(final: str | os.PathLike[str]) -> Path:
    """Create an empty, uniquely named hidden temp file next to `final` (mode 0o666 minus umask).

    For writers that choose their final name only at commit time (see `publish_temp`); everyone
    else should use `atomic_path`. The caller owns the file and must publish or remove it.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        tmp = final.with_name(f".{final.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file next to {final}")  # pragma: no cover


def publish_temp(tmp: str | os.PathLike[str], final: str | os.PathLike[str], *, overwrite: bool) -> None:
    """fsync a finished temp file and rename it to `final` (durably: the directory is fsynced too).

    With `overwrite=False` an existing `final` raises `FileExistsError` and `tmp` is left in place,
    so the caller can retry under another name.
    """
    tmp, final = Path(tmp), Path(final)
    _fsync_file(tmp)
    _commit(tmp, final, overwrite)
    fsync_dir(final.parent)


def _commit(tmp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, final)
        return
    # No-clobber commit: link() fails if `final` exists, which a check-then-rename would race.
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError:  # filesystem without hard links: best effort
        if final.exists():
            raise FileExistsError(final) from None
        os.replace(tmp, final)
        return
    tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty hidden directory next to `path`; on a clean exit it replaces `path` whole.

    For artifacts made of several files (a saved model): a reader sees the old directory or the new
    one, never half of either. An existing `path` is moved aside, the new one renamed in, and the
    old removed. If the body raises, the temporary directory is removed and `path` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on a clean exit fsync it and rename it to `path`.

    Whatever the body writes to the yielded path (by any library, e.g. a Parquet writer) appears at
    `path` all at once. If the body raises, the temporary file is removed and `path` is untouched.
    With `overwrite=False` an existing `path` raises `FileExistsError` instead of being replaced
    (used to claim a part number without clobbering a concurrent writer's part).
    The parent directory is created if missing.
    """
    final = Path(path)
    tmp = new_temp_path(final)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"the temporary file {tmp} vanished before commit")
        publish_temp(tmp, final, overwrite=overwrite)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> None:
    """Write `data` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8", overwrite: bool = True
) -> None:
    """Write `text` to `path` atomically (see `atomic_path`)."""
    atomic_write_bytes(path, text.encode(encoding), overwrite=overwrite)


class CommitOnExit:
    """A writer used as a context manager: `commit()` when the block ends normally, `abort()` when
    it raises, so a failed write never publishes a partial result."""

    def commit(self) -> object:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
