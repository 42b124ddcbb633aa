"""Served turns go to the workspace's log, so the nightly job learns from real traffic too.

`/v1/interpret` runs a whole assistant turn; without this the turn would vanish and the
self-learning loop would only ever see simulated or ingested logs. Turns are buffered in memory
and appended to ``<workspace>/logs/day=NNNN/`` as new Parquet parts by `LogWriter` (atomic: a
reader never sees a partial part) when the buffer reaches `flush_turns`, when the oldest buffered
turn is `flush_s` old, and on shutdown. Buffering keeps the per-request cost to a dict insert.

Feedback usually arrives seconds after its turn (a barge-in, the answer to "did I get that
right?"), while the turn is still buffered: it is attached to the turn itself, which is where the
flat job view (`barge_in`, `explicit_feedback`) and the defect miners look. Feedback on a turn that
was already flushed cannot be attached (parts are never rewritten) and stays in
``serve/feedback.jsonl`` only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from pathlib import Path

from selflearn.logs.io import LogWriter
from selflearn.logs.records import Feedback, FeedbackKind, Turn

__all__ = ["TurnLog"]


class TurnLog:
    """A thread-safe buffer of served turns, flushed to one day partition of a workspace."""

    def __init__(
        self,
        workspace: Path,
        day: int | None = None,
        flush_turns: int = 500,
        flush_s: float = 60.0,
    ) -> None:
        if flush_turns < 1:
            raise ValueError(f"flush_turns must be >= 1, got {flush_turns}")
        if flush_s < 0:
            raise ValueError(f"flush_s must be >= 0, got {flush_s}")
        self.writer = LogWriter(workspace)
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

    def add(self, turn: Turn) -> None:
        """Buffer a finished turn (flushing is the caller's call: see `due` and `flush`)."""
        with self._lock:
            if turn.turn_id in self._buf:
                raise ValueError(f"turn {turn.turn_id!r} is already buffered")
            self._buf[turn.turn_id] = turn
            if self._oldest is None:
                self._oldest = time.monotonic()

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
            return paths
