"""Served turns go to the workspace's log, so the nightly job learns from real traffic too.

`/v1/interpret` runs a whole assistant turn; without this the turn would vanish and the
self-learning loop would only ever see simulated or ingested logs. Turns are buffered in memory
and appended to ``<workspace>/logs/day=NNNN/`` as new Parquet parts by `LogWriter` (atomic: a
reader never sees a partial part) when the buffer reaches `flush_turns`, when the oldest buffered
turn is `flush_s` old, and on shutdown. Buffering keeps the per-request cost to a dict insert.

Before a turn is buffered it is appended to a write-ahead journal (`util.journal`), and the
service answers only once the journal is on disk: a crash loses no acknowledged turn, and the
next start replays what the crash left unwritten (exactly once).

Feedback usually arrives seconds after its turn (a barge-in, the answer to "did I get that
right?"), while the turn is still buffered: it is attached to the turn itself, which is where the
flat job view (`barge_in`, `explicit_feedback`) and the defect miners look. Feedback on a turn that
was already flushed cannot be attached (parts are never rewritten) and stays in
``serve/feedback.jsonl`` only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

from selflearn.logs.io import LogWriter, turn_ids_in
from selflearn.logs.records import Feedback, FeedbackKind, Turn
from selflearn.util.journal import JournalRecord, TurnJournal
from selflearn.util.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = ["TurnLog"]


class TurnLog:
    """A thread-safe buffer of served turns, flushed to one day partition of a workspace."""

    def __init__(
        self,
        workspace: Path,
        day: int | None = None,
        flush_turns: int = 500,
        flush_s: float = 60.0,
        journal: bool = True,
    ) -> None:
        if flush_turns < 1:
            raise ValueError(f"flush_turns must be >= 1, got {flush_turns}")
        if flush_s < 0:
            raise ValueError(f"flush_s must be >= 0, got {flush_s}")
        self.writer = LogWriter(workspace)
        # Crash recovery comes first: replayed turns go to the day they were served on.
        self.journal = TurnJournal(Workspace(workspace).journal) if journal else None
        self.recovered = self._recover() if self.journal is not None else 0
        # A new day by default: served traffic never mixes into a simulated or ingested day.
        self.day = self.writer.next_day() if day is None else day
        self.writer.day_dir(self.day)  # validates the day number now, not at the first flush
        self.flush_turns = flush_turns
        self.flush_s = flush_s
        self.written = 0
        self.parts: list[Path] = []
        self._buf: OrderedDict[str, Turn] = OrderedDict()
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one writer at a time keeps parts in turn order

    def __len__(self) -> int:
        return len(self._buf)

    def add(self, turn: Turn) -> int:
        """Journal and buffer a finished turn; returns the journal ticket to wait on (`durable`)
        before acknowledging it, 0 without a journal (flushing is the caller's call: see `due`
        and `flush`)."""
        with self._lock:
            if turn.turn_id in self._buf:
                raise ValueError(f"turn {turn.turn_id!r} is already buffered")
            ticket = 0
            if self.journal is not None:
                record = JournalRecord("turn", turn.turn_id, day=self.day, turn=turn.model_dump(mode="json"))
                ticket = self.journal.append(record)
            self._buf[turn.turn_id] = turn
            if self._oldest is None:
                self._oldest = time.monotonic()
            return ticket

    async def durable(self, ticket: int) -> None:
        """Return once the journal record `ticket` is on disk (at once without a journal)."""
        if self.journal is not None and ticket:
            await self.journal.durable(ticket)

    def wait(self, ticket: int) -> None:
        """`durable` for threads."""
        if self.journal is not None and ticket:
            self.journal.wait(ticket)

    def attach(
        self,
        turn_id: str,
        *,
        explicit: str | None = None,
        barge_in: bool = False,
        barge_in_offset_ms: int | None = None,
    ) -> bool:
        """Merge feedback into a buffered turn; False when the turn is not (or no longer) buffered.

        Repeated feedback accumulates: a barge-in stays recorded, a later explicit answer wins.
        """
        with self._lock:
            t = self._buf.get(turn_id)
            if t is None:
                return False
            old = t.feedback
            fb = Feedback(
                barge_in=old.barge_in or barge_in,
                barge_in_offset_ms=barge_in_offset_ms if barge_in else old.barge_in_offset_ms,
                explicit=FeedbackKind(explicit) if explicit is not None else old.explicit,
                teaching=old.teaching,
            )
            self._buf[turn_id] = t.model_copy(update={"feedback": fb})
            if self.journal is not None:
                record = JournalRecord(
                    "feedback",
                    turn_id,
                    feedback={
                        "explicit": explicit,
                        "barge_in": barge_in,
                        "barge_in_offset_ms": barge_in_offset_ms,
                    },
                )
                self.journal.append(record)  # durable with the next fsync; the audit trail has it too
            return True

    def due(self) -> bool:
        """Whether the size or age threshold says to flush now."""
        with self._lock:
            if not self._buf:
                return False
            age = time.monotonic() - (self._oldest or 0.0)
            return len(self._buf) >= self.flush_turns or age >= self.flush_s

    def flush(self) -> list[Path]:
        """Append every buffered turn to the day partition as new part file(s); returns them.

        The buffer is swapped out under the lock, so requests keep being served during the write;
        if the write fails the turns go back to the front of the buffer and the error propagates.
        """
        with self._flush_lock:
            with self._lock:
                turns = list(self._buf.values())
                self._buf = OrderedDict()
                self._oldest = None
                closed = self.journal.rotate() if self.journal is not None and turns else []
            if not turns:
                return []
            try:
                turns.sort(key=lambda t: (t.timestamp, t.turn_id))
                paths = self.writer.write_day(self.day, turns)
            except BaseException:
                with self._lock:
                    back = OrderedDict((t.turn_id, t) for t in turns)
                    back.update(self._buf)
                    self._buf = back
                    self._oldest = time.monotonic()
                raise
            self.written += len(turns)
            self.parts.extend(paths)
            if self.journal is not None:
                self.journal.release(closed)  # the parts are durable (atomic writes fsync)
            return paths

    def forget(self, user_id: str) -> int:
        """Drop a person's buffered turns, and their records from every journal segment (the
        open one is rotated first, so no segment is left naming them); returns the turns dropped."""
        with self._flush_lock, self._lock:
            theirs = [tid for tid, t in self._buf.items() if t.user_id == user_id]
            for tid in theirs:
                del self._buf[tid]
            if not self._buf:
                self._oldest = None
            if self.journal is not None:
                self.journal.rotate()
                current = self.journal.segments()[-1:]
                for seg in self.journal.segments():
                    if seg not in current:
                        self.journal.scrub(seg, user_id)
        return len(theirs)

    def close(self) -> None:
        """Flush what is buffered and stop the journal (a clean shutdown leaves no segment)."""
        self.flush()
        if self.journal is not None:
            self.journal.close()
            with self._lock:
                if not self._buf:
                    self.journal.release(self.journal.segments())

    def _recover(self) -> int:
        """Write the turns a crash left in the journal to their days, once; returns how many."""
        assert self.journal is not None
        current = self.journal.segments()[-1:]
        old = [p for p in self.journal.segments() if p not in current]
        if not old:
            return 0
        turns: OrderedDict[str, tuple[int, Turn]] = OrderedDict()
        for rec in TurnJournal.read(old):
            if rec.kind == "turn" and rec.turn is not None and rec.day is not None:
                turns[rec.turn_id] = (rec.day, Turn.model_validate(rec.turn))
            elif rec.kind == "feedback" and rec.turn_id in turns:
                day, t = turns[rec.turn_id]
                fb, old_fb = rec.feedback, t.feedback
                explicit = fb.get("explicit")
                barge = bool(fb.get("barge_in"))
                new_fb = Feedback(
                    barge_in=old_fb.barge_in or barge,
                    barge_in_offset_ms=fb.get("barge_in_offset_ms") if barge else old_fb.barge_in_offset_ms,
                    explicit=FeedbackKind(explicit) if explicit is not None else old_fb.explicit,
                    teaching=old_fb.teaching,
                )
                turns[rec.turn_id] = (day, t.model_copy(update={"feedback": new_fb}))
        by_day: dict[int, list[Turn]] = {}
        for day, t in turns.values():
            by_day.setdefault(day, []).append(t)
        written = 0
        for day, day_turns in sorted(by_day.items()):
            stored = turn_ids_in(self.writer.day_dir(day))
            missing = [t for t in day_turns if t.turn_id not in stored]
            if missing:
                missing.sort(key=lambda t: (t.timestamp, t.turn_id))
                self.writer.write_day(day, missing)
                written += len(missing)
        log.warning(
            "turn journal: replayed %d turns a crash left unwritten (%d already in the log)",
            written,
            len(turns) - written,
        )
        self.journal.release(old)
        return written
