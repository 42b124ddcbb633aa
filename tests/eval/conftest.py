"""Shared builders of the eval tests."""

from __future__ import annotations

import pyarrow as pa

from selflearn.simulate.truth import TruthRow, truth_table


def _row(user: str, day: int, goal: str, attempt: int, success: bool, request: bool = True) -> TruthRow:
    return TruthRow(
        turn_id=f"{user}-{day}-{goal}-{attempt}",
        session_id=f"{user}-{day}",
        user_id=user,
        household_id="h",
        day=day,
        goal_id=goal if request else None,
        goal_intent="lights_on" if request else None,
        goal_args=None,
        spoken_text="turn on the lights",
        directed=request,
        is_request=request,
        attempt=attempt,
        strategy="first" if attempt == 1 else "repeat",
        success=success,
        failed_stage="correct" if success else "asr",
        wer=0.0,
        rewrite_fired=False,
        success_without_rewrite=None,
    )


def arm_truth(fail_first: dict[str, int], users: int = 20, days: int = 2, goals: int = 5) -> pa.Table:
    """Every person has `goals` goals a day; for person index i < fail_first[day] each goal's first
    attempt fails and a retry succeeds, else the first attempt succeeds."""
    rows = []
    for d in range(1, days + 1):
        for i in range(users):
            for g in range(goals):
                gid = f"u{i}-d{d}-g{g}"
                if i < fail_first.get(str(d), 0):
                    rows.append(_row(f"u{i}", d, gid, 1, False))
                    rows.append(_row(f"u{i}", d, gid, 2, True))
                else:
                    rows.append(_row(f"u{i}", d, gid, 1, True))
            rows.append(_row(f"u{i}", d, "", 1, False, request=False))  # a false wake: not counted
    return truth_table(rows)
