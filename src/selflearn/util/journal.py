"""A write-ahead journal of served turns, so a turn the service acknowledged survives a crash.

The turn log (`serve.turnlog`) buffers turns in memory and writes them to the workspace's log as
Parquet parts in batches, which is what keeps a request's cost low; until a batch is written, a
``kill -9`` (or an out-of-memory kill, a power cut) would lose every turn the service had already
answered with a turn id. So each turn, and each piece of feedback attached to a buffered turn, is
first appended to a journal segment (``<workspace>/serve/journal/segment-NNNNNNNN.jsonl``) and
fsynced before the request is answered.

Fsync costs milliseconds, so it is batched (group commit): one committer thread fsyncs whatever
was appended since its last fsync, and every request waiting on a record it covered is released
at once. Under load many requests share one fsync; a lone request waits for about one.

The turn log rotates the journal when it swaps its buffer out for a write: the closed segments
hold exactly the turns of that batch (and earlier batches whose write failed), and are deleted
only after the Parquet part is durable. On start, segments left by a crash are replayed: their
turns are written to the day they were served on, except those a part already holds (the crash
came between the part's write and the segments' deletion), so every acknowledged turn is in the
log exactly once.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selflearn.util.atomic import atomic_write_text, fsync_dir

__all__ = ["JournalRecord", "TurnJournal"]

_PREFIX = "segment-"


@dataclass
class JournalRecord:
    """One line of a segment: a served turn (`kind` "turn", with its day and the turn as JSON)
    or feedback attached to a buffered turn (`kind` "feedback")."""

    kind: str
    turn_id: str
    day: int | None = None
    turn: dict[str, Any] | None = None
    feedback: dict[str, Any] = field(default_factory=dict)


class TurnJournal:
    """Append-only segments with group-committed fsync. Thread-safe; `wait` and `durable` block
    (or await) until a ticket's record is on disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsyncs = 0  # how many fsyncs the committer made (batching: << records)
        self.records = 0
        self._lock = threading.Lock()
        self._synced_cond = threading.Condition(self._lock)
        self._appended = 0  # ticket of the last record written to the OS
        self._synced = 0  # ticket of the last record known to be on disk
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False
        self._error: BaseException | None = None
        existing = self.segments()
        self._seq = (self._number(existing[-1]) + 1) if existing else 1
        self._fh = self._open_segment()
        self._committer = threading.Thread(target=self._commit_loop, name="journal-fsync", daemon=True)
        self._committer.start()

    # -- segments ---------------------------------------------------------------------------------
    @staticmethod
    def _number(path: Path) -> int:
        return int(path.stem[len(_PREFIX) :])

    def segments(self) -> list[Path]:
        """Every segment on disk, oldest first (the open one included)."""
        return self.segments_in(self.directory)

    @classmethod
    def segments_in(cls, directory: Path) -> list[Path]:
        """The segments of a journal folder, oldest first (its service need not be running)."""
        return sorted(Path(directory).glob(f"{_PREFIX}*.jsonl"), key=cls._number)

    def _open_segment(self) -> Any:
        path = self.directory / f"{_PREFIX}{self._seq:08d}.jsonl"
        fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open until rotated
        fsync_dir(self.directory)  # the new segment's name survives a power cut too
        return fh

    def rotate(self) -> list[Path]:
        """Close the open segment and start a new one; returns every closed segment not yet
        released (what the caller's write is about to make redundant). Call it in the same
        critical section that swaps the caller's buffer, so the split between segments is the
        split between batches."""
        with self._lock:
            self._sync_locked()  # a closed segment is complete on disk
            self._fh.close()
            self._seq += 1
            self._fh = self._open_segment()
            current = self._fh.name
        return [p for p in self.segments() if str(p) != current]

    def release(self, segments: list[Path]) -> None:
        """Delete closed segments whose records are now durable elsewhere."""
        for p in segments:
            p.unlink(missing_ok=True)
        if segments:
            fsync_dir(self.directory)

    # -- appending --------------------------------------------------------------------------------
    def append(self, record: JournalRecord) -> int:
        """Write one record (to the OS, not yet to disk); returns its ticket for `wait`/`durable`."""
        line = json.dumps(
            {
                "kind": record.kind,
                "turn_id": record.turn_id,
                "day": record.day,
                "turn": record.turn,
                "feedback": record.feedback,
            },
            ensure_ascii=False,
        )
        with self._lock:
            if self._closed:
                raise RuntimeError("the journal is closed")
            self._fh.write(line + "\n")
            self._fh.flush()
            self._appended += 1
            self.records += 1
            ticket = self._appended
            self._synced_cond.notify_all()  # wake the committer
        return ticket

    def wait(self, ticket: int, timeout: float | None = 30.0) -> None:
        """Block until record `ticket` is on disk (raises if the committer failed)."""
        with self._lock:
            if not self._synced_cond.wait_for(
                lambda: self._synced >= ticket or self._error is not None or self._closed, timeout
            ):
                raise TimeoutError(f"journal record {ticket} not durable after {timeout} s")
            if self._synced < ticket:
                raise RuntimeError("the journal could not be made durable") from self._error

    async def durable(self, ticket: int) -> None:
        """Await record `ticket` on disk without holding a thread per waiting request."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._error is not None:
                raise RuntimeError("the journal could not be made durable") from self._error
            if self._synced >= ticket:
                return
            self._waiters.append((ticket, loop, fut))
        await fut

    # -- committing -------------------------------------------------------------------------------
    def _sync_locked(self) -> None:
        """Fsync everything appended so far (caller holds the lock)."""
        if self._synced < self._appended:
            target = self._appended
            os.fsync(self._fh.fileno())
            self.fsyncs += 1
            self._synced = target
            self._release_waiters_locked()

    def _release_waiters_locked(self) -> None:
        keep = []
        for ticket, loop, fut in self._waiters:
            if ticket <= self._synced or self._error is not None:
                err = self._error
                loop.call_soon_threadsafe(_settle, fut, err)
            else:
                keep.append((ticket, loop, fut))
        self._waiters = keep
        self._synced_cond.notify_all()

    def _commit_loop(self) -> None:
        while True:
            with self._lock:
                self._synced_cond.wait_for(lambda: self._appended > self._synced or self._closed)
                if self._closed and self._appended <= self._synced:
                    return
                target, fd = self._appended, self._fh.fileno()
            # fsync outside the lock: requests keep appending (their records ride the next fsync)
            try:
                os.fsync(fd)
            except OSError as exc:  # a closed (rotated) fd: rotate synced it already
                with self._lock:
                    if self._synced < target and not self._closed:
                        self._error = exc
                        self._release_waiters_locked()
                        return
                continue
            with self._lock:
                self.fsyncs += 1
                self._synced = max(self._synced, target)
                self._release_waiters_locked()

    def close(self) -> None:
        """Sync what is appended and stop the committer (the segments stay for `rotate`/replay)."""
        with self._lock:
            if self._closed:
                return
            self._sync_locked()
            self._closed = True
            self._fh.close()
            self._synced_cond.notify_all()
        self._committer.join(timeout=5)

    @staticmethod
    def scrub(segment: Path, user_id: str) -> int:
        """Rewrite a closed segment without a person's turns and the feedback on them; returns
        the records removed. The rewrite is atomic (a crash leaves the old or the new segment)."""
        lines = segment.read_text(encoding="utf-8").split("\n")
        kept, theirs, gone = [], set(), 0
        for line in lines[:-1]:
            try:
                raw = json.loads(line)
            except ValueError:
                kept.append(line)
                continue
            turn = raw.get("turn") or {}
            if raw.get("kind") == "turn" and turn.get("user_id") == user_id:
                theirs.add(raw.get("turn_id"))
                gone += 1
            elif raw.get("kind") == "feedback" and raw.get("turn_id") in theirs:
                gone += 1
            else:
                kept.append(line)
        if gone:
            atomic_write_text(segment, "".join(k + "\n" for k in kept))
        return gone

    # -- replay -----------------------------------------------------------------------------------
    @staticmethod
    def read(segments: list[Path]) -> Iterator[JournalRecord]:
        """The records of `segments` in order. A torn last line (the crash came mid-write, so
        that request was never acknowledged) is skipped; any other unreadable line is an error
        naming the segment and line, since skipping it would lose an acknowledged turn."""
        for path in segments:
            lines = path.read_text(encoding="utf-8").split("\n")
            complete, torn = lines[:-1], lines[-1]
            for i, line in enumerate(complete, 1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                    yield JournalRecord(
                        kind=raw["kind"],
                        turn_id=raw["turn_id"],
                        day=raw.get("day"),
                        turn=raw.get("turn"),
                        feedback=raw.get("feedback") or {},
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path}:{i}: unreadable journal record ({exc})") from exc
            del torn  # no newline after it: never acknowledged


def _settle(fut: asyncio.Future[None], err: BaseException | None) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(RuntimeError(f"the journal could not be made durable: {err}"))
