"""The defect head scored against human ratings, and `selflearn label --rated`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.labels.labeller import Labeller
from selflearn.labels.rated import score_rated
from selflearn.logs.io import LogWriter

DATA = Path(__file__).parents[1] / "logs" / "adapters" / "data" / "rated_dialogues.tsv"


def test_score_rated_reports_auroc_and_best_f1(tiny_labeller: Labeller, tmp_path: Path) -> None:
    rated = tmp_path / "rated.tsv"
    rated.write_text(DATA.read_text() + "USER\tbroken\tx\t7\n")
    errors: list[Any] = []
    score = score_rated(tiny_labeller, rated, errors)
    assert score.labelled_turns == 5 and score.dialogues == 2
    assert score.defect_share == 2 / 5
    assert score.auroc is not None and 0.0 <= score.auroc <= 1.0
    assert 0.0 < score.best_f1 <= 1.0 and score.best_f1 >= score.f1_at_decision
    assert score.skipped_lines == 1 and errors[0].field == "ratings"


def test_label_command_scores_rated_dialogues_and_quarantines_bad_lines(
    tiny_labeller: Labeller, sim_log: dict[str, Any], tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    LogWriter(ws).write_day(1, sorted(sim_log["turns"], key=lambda t: (t.timestamp, t.turn_id)))
    tiny_labeller.save(tmp_path / "model")
    rated = tmp_path / "rated.tsv"
    rated.write_text(DATA.read_text() + "USER\tbroken\tx\t7\n")
    res = CliRunner().invoke(
        app,
        ["label", str(ws), "--out", str(tmp_path / "l.parquet"), "--model", str(tmp_path / "model"),
         "--threads", "1", "--rated", str(rated)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())  # Rich wraps long lines at the terminal's width
    assert "defect head AUROC" in said and "best F1" in said
    assert "1 bad line(s) quarantined" in said
    assert any((ws / "quarantine").glob("*.jsonl"))
