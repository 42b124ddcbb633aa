from __future__ import annotations

import json
from pathlib import Path

from selflearn.eval.report import day_metrics, summarize, write_report
from selflearn.simulate.truth import TruthRow, truth_table


def _row(i: int, success: bool, fired: bool = False, without: bool | None = None) -> TruthRow:
    return TruthRow(
        turn_id=f"t{i}",
        session_id="s",
        user_id="u",
        household_id="h",
        day=1,
        goal_id=f"g{i}",
        goal_intent="lights_on",
        goal_args="{}",
        spoken_text="x",
        directed=True,
        is_request=True,
        attempt=1,
        strategy="first",
        success=success,
        failed_stage="correct" if success else "asr",
        wer=0.0,
        rewrite_fired=fired,
        success_without_rewrite=without,
    )


def test_wins_and_losses_counted_against_counterfactual() -> None:
    rows = [
        _row(0, True, fired=True, without=False),  # win
        _row(1, True, fired=True, without=False),  # win
        _row(2, False, fired=True, without=True),  # loss
        _row(3, True, fired=True, without=True),  # neutral
        _row(4, False),
    ]
    m = day_metrics(1, truth_table(rows), turns=5, rewrites_published=7)
    assert (m.wins, m.losses, m.neutral_fired, m.rewrites_fired) == (2, 1, 1, 4)
    assert m.defect_rate == 2 / 5
    assert m.rewrites_published == 7


def test_summary_and_report_shape(tmp_path: Path) -> None:
    d1 = day_metrics(1, truth_table([_row(0, False), _row(1, True)]), 2, 0)
    d2 = day_metrics(2, truth_table([_row(2, True, True, False), _row(3, True)]), 2, 1)
    s = summarize([d1, d2])
    assert s["relative_reduction"] == 1.0 and s["win_loss_ratio"] == 1.0
    report = write_report(tmp_path, [d1, d2], {"users": 2})
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk == json.loads(json.dumps(report))
    for key in ("day", "turns", "defect_rate", "rewrites_published", "rewrites_fired", "wins", "losses"):
        assert key in on_disk["days"][0]
    assert {"relative_reduction", "win_loss_ratio"} <= set(on_disk["summary"])
    assert (tmp_path / "defect_rate.png").read_bytes()[:4] == b"\x89PNG"
