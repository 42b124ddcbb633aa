from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from selflearn.cli import app


def test_simulate_then_stats(tmp_path: Path, small_nlu: Any) -> None:
    small_nlu.save(tmp_path / "artifacts" / "models" / "nlu")
    runner = CliRunner()
    res = runner.invoke(
        app, ["simulate", "--users", "15", "--days", "1", "--seed", "2", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "turns/s" in res.output
    assert list((tmp_path / "logs").glob("day=0001/*.parquet"))
    assert list((tmp_path / "truth").glob("day=0001/*.parquet"))
    res = runner.invoke(app, ["stats", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "defect rate" in res.output


def test_stats_on_missing_dir_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["stats", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "no such directory" in res.output
