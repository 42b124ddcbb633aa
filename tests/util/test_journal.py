"""The write-ahead journal: group-committed fsync, rotation, scrubbing and replay."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from selflearn.util.journal import JournalRecord, TurnJournal


def test_group_commit_makes_every_record_durable_with_fewer_fsyncs(tmp_path: Path) -> None:
    j = TurnJournal(tmp_path / "j")
    tickets: list[int] = []
    lock = threading.Lock()

    def writer(k: int) -> None:
        for i in range(50):
            t = j.append(JournalRecord("turn", f"t{k}-{i}", day=1, turn={"x": i}))
            j.wait(t)
            with lock:
                tickets.append(t)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(tickets) == list(range(1, 401))
    assert 1 <= j.fsyncs < 400  # concurrent requests shared fsyncs
    j.close()
    records = list(TurnJournal.read(j.segments()))
    assert len(records) == 400 and len({r.turn_id for r in records}) == 400


def test_durable_awaits_the_fsync(tmp_path: Path) -> None:
    j = TurnJournal(tmp_path / "j")

    async def main() -> None:
        tickets = [j.append(JournalRecord("turn", f"t{i}", day=1)) for i in range(20)]
        await asyncio.gather(*(j.durable(t) for t in tickets))

    asyncio.run(main())
    assert j.records == 20 and j.fsyncs >= 1
    j.close()


def test_rotate_hands_back_closed_segments_and_release_deletes_them(tmp_path: Path) -> None:
    j = TurnJournal(tmp_path / "j")
    j.append(JournalRecord("turn", "a", day=1))
    closed = j.rotate()
    assert len(closed) == 1 and [r.turn_id for r in TurnJournal.read(closed)] == ["a"]
    j.append(JournalRecord("turn", "b", day=1))
    assert len(j.rotate()) == 2  # the unreleased one comes back too
    j.release(closed)
    assert len(j.segments()) == 2
    j.close()


def test_a_torn_last_line_is_skipped_but_a_corrupt_record_is_an_error(tmp_path: Path) -> None:
    seg = tmp_path / "segment-00000001.jsonl"
    seg.write_text('{"kind": "turn", "turn_id": "a", "day": 1}\n{"kind": "tu')
    assert [r.turn_id for r in TurnJournal.read([seg])] == ["a"]
    seg.write_text('{"kind": "turn", "turn_id": "a", "day": 1}\nnot json\n{"kind": "turn", "turn_id": "b"}\n')
    with pytest.raises(ValueError, match=r"segment-00000001.jsonl:2"):
        list(TurnJournal.read([seg]))


def test_scrub_removes_a_persons_turns_and_their_feedback(tmp_path: Path) -> None:
    j = TurnJournal(tmp_path / "j")
    j.append(JournalRecord("turn", "a1", day=1, turn={"user_id": "alice"}))
    j.append(JournalRecord("turn", "b1", day=1, turn={"user_id": "bob"}))
    j.append(JournalRecord("feedback", "a1", feedback={"barge_in": True}))
    closed = j.rotate()
    assert TurnJournal.scrub(closed[0], "alice") == 2
    assert [r.turn_id for r in TurnJournal.read(closed)] == ["b1"]
    j.close()
