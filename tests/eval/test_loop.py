from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selflearn.eval.loop import LoopConfig, run_loop
from selflearn.util.workspace import Workspace


@pytest.mark.slow
def test_closed_loop_end_to_end(tmp_path: Path, small_nlu: Any) -> None:
    # Reuse the session NLU: the loop loads a saved model from the workspace if there is one.
    small_nlu.save(tmp_path / "artifacts" / "models" / "nlu")
    report = run_loop(
        LoopConfig(users=40, days=2, seed=1, calibration_users=30, calibration_days=1, min_users=2), tmp_path
    )
    assert [d["day"] for d in report["days"]] == [1, 2]
    assert report["days"][0]["rewrites_published"] == 0  # nothing is known before the first night
    assert all(0.0 <= d["defect_rate"] <= 1.0 for d in report["days"])
    assert json.loads((tmp_path / "report.json").read_text())["summary"] == json.loads(
        json.dumps(report["summary"])
    )
    # The learner wrote a published rewrite table version each night; the logs carry no truth.
    assert (tmp_path / "artifacts" / "rewrites" / "CURRENT").exists()
    assert (tmp_path / "truth").is_dir() and (tmp_path / "logs").is_dir()
    assert Workspace(tmp_path).model_dir("rephrase") == tmp_path / "artifacts/rephrase/v0001/model"
    # the NLU saved the old way (artifacts/models/nlu) was read, not retrained and republished
    assert Workspace(tmp_path).store("nlu").versions() == []
    # The control arm ran on the same traffic, apart from the learning arm's logs.
    assert (tmp_path / "control" / "logs").is_dir() and (tmp_path / "control" / "truth").is_dir()
    day1 = report["days"][0]
    # Nothing is learned before night 1, so on day 1 both arms see and do exactly the same.
    assert day1["control_defect_rate"] == day1["defect_rate"]
    assert day1["control_request_turns"] == day1["request_turns"]
    assert day1["control_first_attempt_defect_rate"] == day1["first_attempt_defect_rate"]
    for fig in ("vs_control", "first_attempt", "goal_success"):
        entry = report["summary"][fig]
        assert entry["days"] == [1, 2] and entry["seeds"] == [1]
        lo, hi = entry["ci95"]
        assert lo <= entry["relative_reduction"] <= hi
    assert report["summary"]["vs_control"]["defect_rate_control"] == pytest.approx(
        (report["days"][0]["control_defect_rate"] + report["days"][1]["control_defect_rate"]) / 2, abs=0.05
    )


def test_loop_refuses_a_workspace_with_earlier_logs(tmp_path: Path) -> None:
    day = tmp_path / "logs" / "day=0001"
    day.mkdir(parents=True)
    (day / "part-00000.parquet").write_bytes(b"not really parquet")
    with pytest.raises(ValueError, match="earlier run"):
        run_loop(LoopConfig(users=5, days=1), tmp_path)


def test_control_arm_needs_paired_streams(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="paired_streams"):
        run_loop(LoopConfig(users=5, days=1, paired_streams=False), tmp_path)


@pytest.mark.slow
def test_seeds_in_parallel_give_the_same_report(tmp_path: Path) -> None:
    base = {"users": 12, "days": 2, "calibration_users": 12, "calibration_days": 1, "seeds": [0, 1]}
    serial = run_loop(LoopConfig(**base), tmp_path / "serial")  # type: ignore[arg-type]
    seen: list[int] = []
    parallel = run_loop(
        LoopConfig(**base, processes=2),  # type: ignore[arg-type]
        tmp_path / "parallel",
        on_day=lambda m, info: seen.append(info["seed"]),
    )
    for r in (serial, parallel):
        r["summary"].pop("seconds", None)
        for p in r["summary"]["per_seed"]:
            p.pop("seconds", None)
        for d in r["days"]:
            d.pop("simulate_s", None)
            d.pop("nightly_s", None)
        r["config"].pop("seed_dirs", None)
    assert parallel["summary"] == serial["summary"]
    assert parallel["days"] == serial["days"]
    assert seen == [0, 0, 1, 1]  # every day of every seed reported, in seed order
