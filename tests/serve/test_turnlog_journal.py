"""The turn log's journal: acknowledged turns survive a crash, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from selflearn.logs.io import read_flat
from selflearn.logs.records import DeviceInfo, DeviceType, Turn
from selflearn.serve.turnlog import TurnLog

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def _turn(i: int, user: str = "u1") -> Turn:
    return Turn(
        turn_id=f"t-{i:04d}",
        session_id=f"s-{user}",
        user_id=user,
        turn_index=i,
        timestamp=T0 + timedelta(seconds=i),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
    )


def test_turns_left_by_a_crash_are_replayed_once_with_their_feedback(tmp_path: Path) -> None:
    log = TurnLog(tmp_path, day=3)
    for i in range(5):
        log.wait(log.add(_turn(i)))
    assert log.attach("t-0001", explicit="negative", barge_in=True, barge_in_offset_ms=300)
    log.flush()  # t-0000..t-0004 written
    for i in range(5, 9):
        log.wait(log.add(_turn(i)))
    assert log.attach("t-0006", barge_in=True)
    # crash: no flush, no close; the next start replays the journal
    restarted = TurnLog(tmp_path)
    assert restarted.recovered == 4
    flat = read_flat(tmp_path / "logs").to_pylist()
    ids = [r["turn_id"] for r in flat]
    assert sorted(ids) == [f"t-{i:04d}" for i in range(9)]  # each exactly once
    by_id = {r["turn_id"]: r for r in flat}
    assert by_id["t-0001"]["explicit_feedback"] == "negative" and by_id["t-0001"]["barge_in"]
    assert by_id["t-0006"]["barge_in"] is True and by_id["t-0007"]["barge_in"] is False
    assert restarted.day == 4  # served traffic after the restart goes to a new day
    restarted.close()
    assert TurnLog(tmp_path).recovered == 0
    assert not list((tmp_path / "serve" / "journal").glob("segment-*.jsonl"))[1:]


def test_a_crash_between_the_part_and_the_release_writes_nothing_twice(tmp_path: Path) -> None:
    log = TurnLog(tmp_path, day=2)
    for i in range(3):
        log.wait(log.add(_turn(i)))
    # the part is written but the process dies before the closed segment is deleted
    log.writer.write_day(2, [_turn(0), _turn(1)])
    restarted = TurnLog(tmp_path)
    assert restarted.recovered == 1
    ids = sorted(r["turn_id"] for r in read_flat(tmp_path / "logs").to_pylist())
    assert ids == ["t-0000", "t-0001", "t-0002"]


SERVER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from selflearn.logs.records import DeviceInfo, DeviceType, Turn
    from selflearn.serve.turnlog import TurnLog

    log = TurnLog(Path(sys.argv[1]), flush_turns=40, flush_s=3600)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    i = 0
    while True:
        t = Turn(turn_id=f"k-{i:06d}", session_id="s", user_id="u", turn_index=i,
                 timestamp=t0 + timedelta(seconds=i), device=DeviceInfo(device_id="d", type="speaker"))
        ticket = log.add(t)
        if log.due():
            log.flush()
        log.wait(ticket)
        print(t.turn_id, flush=True)  # the acknowledgement
        i += 1
    """
)


@pytest.mark.parametrize("after", [0.3, 0.7])
def test_kill_9_loses_no_acknowledged_turn(tmp_path: Path, after: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    acked: list[str] = []
    start = time.monotonic()
    while time.monotonic() - start < 60:
        line = proc.stdout.readline()
        if line:
            acked.append(line.strip())
        if len(acked) >= 5 and time.monotonic() - start > after + 2.0:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    acked += [ln.strip() for ln in proc.stdout.read().splitlines() if ln.strip()]
    assert len(acked) >= 5
    TurnLog(tmp_path).close()
    stored = [r["turn_id"] for r in read_flat(tmp_path / "logs").to_pylist()]
    assert len(stored) == len(set(stored))  # exactly once
    assert set(acked) <= set(stored)
