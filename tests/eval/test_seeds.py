"""Several seeds pooled into one report (`eval.seeds`), with a fake per-seed loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selflearn.eval.report import DayMetrics, write_report
from selflearn.eval.seeds import SeedRun, pool_days, run_seeds, seed_dir

from .conftest import arm_truth as _arm


def _days(rate: float) -> list[DayMetrics]:
    return [
        DayMetrics(
            day=d,
            turns=100,
            request_turns=90,
            defect_rate=rate / d,
            rewrites_published=0,
            rewrites_fired=0,
            wins=0,
            losses=0,
            extra={"control_defect_rate": rate},
        )
        for d in (1, 2)
    ]


def _fake_run(seed: int, where: Path) -> SeedRun:
    days = _days(0.2 + 0.01 * seed)
    learning, control = _arm({"2": 4 + seed}), _arm({"2": 10})
    run = SeedRun(seed, days, learning, control, {})
    run.report = write_report(where, days, {"seed": seed})
    return run


def test_one_seed_writes_into_out_itself(tmp_path: Path) -> None:
    report = run_seeds([3], _fake_run, tmp_path, {"users": 20})
    assert report["config"]["seed"] == 3
    assert (tmp_path / "report.json").exists() and not seed_dir(tmp_path, 3).exists()


def test_several_seeds_pool_into_one_report(tmp_path: Path) -> None:
    report = run_seeds([0, 1, 2], _fake_run, tmp_path, {"users": 20})
    assert report["summary"]["vs_control"]["seeds"] == [0, 1, 2]
    for s in (0, 1, 2):
        assert (seed_dir(tmp_path, s) / "report.json").exists()
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["config"]["seeds"] == [0, 1, 2] and saved["config"]["users"] == 20
    summary = saved["summary"]
    assert [p["seed"] for p in summary["per_seed"]] == [0, 1, 2]
    # Per-seed summaries do not repeat the pooled per-seed detail.
    assert all("per_seed" not in p.get("vs_control", {}) for p in summary["per_seed"])
    first = summary["first_attempt"]
    assert first["seeds"] == [0, 1, 2]
    assert first["relative_reduction"] == pytest.approx(0.5)
    assert first["ci95_seeds"] is not None
    # Pooled days: rates are means over seeds, counts are sums.
    assert saved["days"][0]["defect_rate"] == pytest.approx(0.21)
    assert saved["days"][0]["turns"] == 300
    assert saved["days"][0]["control_defect_rate"] == pytest.approx(0.21)


def test_seeds_must_be_distinct_and_present(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="distinct"):
        run_seeds([1, 1], _fake_run, tmp_path, {})
    with pytest.raises(ValueError, match="at least one seed"):
        run_seeds([], _fake_run, tmp_path, {})


def test_pool_days_uses_the_shortest_run() -> None:
    short = SeedRun(0, _days(0.2)[:1], _arm({}), None, {})
    long = SeedRun(1, _days(0.4), _arm({}), None, {})
    pooled = pool_days([short, long])
    assert [d.day for d in pooled] == [1]
    assert pooled[0].defect_rate == pytest.approx(0.3)
