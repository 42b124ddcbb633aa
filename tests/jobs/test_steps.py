from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selflearn.jobs.engine import EmbeddedEngine
from selflearn.jobs.steps import sessionize
from selflearn.logs.flat import FLAT_SCHEMA, flatten_turns
from selflearn.logs.records import DeviceInfo, Turn

T0 = datetime(2026, 1, 5, 8, tzinfo=UTC)


def _turn(i: int, user: str, minutes: float, device: str = "d1") -> Turn:
    return Turn(
        turn_id=f"{user}-{i}",
        session_id="given",
        user_id=user,
        timestamp=T0 + timedelta(minutes=minutes),
        device=DeviceInfo(device_id=device, type="speaker"),
    )


def test_sessionize_splits_on_silence_and_device() -> None:
    turns = [
        _turn(0, "a", 0),
        _turn(1, "a", 1),
        _turn(2, "a", 30),
        _turn(3, "a", 31, device="d2"),
        _turn(4, "b", 0),
    ]
    out = sessionize(flatten_turns(turns), gap_s=600)
    sid = dict(zip(out["turn_id"].to_pylist(), out["session_id"].to_pylist(), strict=True))
    assert sid["a-0"] == sid["a-1"]
    assert len({sid["a-1"], sid["a-2"], sid["a-3"], sid["b-4"]}) == 4


def test_map_groups_is_partition_invariant() -> None:
    turns = [_turn(i, f"u{i % 7}", i * 3.0) for i in range(60)]
    flat = flatten_turns(turns)
    whole = sessionize(flat, gap_s=600).sort_by("turn_id")
    for buckets in (1, 3, 16):
        got = EmbeddedEngine(buckets=buckets).map_groups(flat, "user_id", sessionize, FLAT_SCHEMA)
        assert got.sort_by("turn_id").equals(whole)
