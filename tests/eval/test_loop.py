from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selflearn.eval.loop import LoopConfig, run_loop


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
    assert (tmp_path / "artifacts" / "models" / "rephrase" / "manifest.json").exists()


def test_loop_refuses_a_workspace_with_earlier_logs(tmp_path: Path) -> None:
    day = tmp_path / "logs" / "day=0001"
    day.mkdir(parents=True)
    (day / "part-00000.parquet").write_bytes(b"not really parquet")
    with pytest.raises(ValueError, match="earlier run"):
        run_loop(LoopConfig(users=5, days=1), tmp_path)
