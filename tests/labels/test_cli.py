"""`selflearn label DIR --out labels.parquet` on a workspace, with a saved labeller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.labels.labeller import LABELS_SCHEMA, Labeller
from selflearn.logs.io import LogWriter


def test_label_command_writes_the_table(
    tiny_labeller: Labeller, sim_log: dict[str, Any], tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    LogWriter(ws).write_day(1, sorted(sim_log["turns"], key=lambda t: (t.timestamp, t.turn_id)))
    tiny_labeller.save(tmp_path / "model")
    out = tmp_path / "out" / "labels.parquet"
    res = CliRunner().invoke(
        app, ["label", str(ws), "--out", str(out), "--model", str(tmp_path / "model"), "--threads", "1"]
    )
    assert res.exit_code == 0, res.output
    table = pq.read_table(out)
    assert table.schema.names == LABELS_SCHEMA.names
    assert table.num_rows == sum(t.wake.detected for t in sim_log["turns"])
    assert "labelled" in res.output


def test_label_command_rejects_a_missing_folder(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["label", str(tmp_path / "nope"), "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2
    assert "no such log" in res.output
