from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from selflearn.fpi.gbm import GbmFpi
from selflearn.fpi.report import GROUPS, load_model, write_report
from selflearn.fpi.train import labelled_workspace

from .conftest import fake_encoder


@pytest.fixture(scope="module")
def gbm(sim_workspace: Path) -> GbmFpi:
    feats, labels = labelled_workspace(sim_workspace, encoder=fake_encoder)
    return GbmFpi(n_estimators=30, n_jobs=1, text_components=4).fit(feats, labels)


def test_report_writes_plots_html_and_top_requests(sim_workspace: Path, gbm: GbmFpi, tmp_path: Path) -> None:
    rep = write_report(sim_workspace, gbm, out=tmp_path / "fpi", top_n=3, encoder=fake_encoder)
    pred = pq.read_table(tmp_path / "fpi" / "predictions.parquet")
    assert pred.num_rows == rep.turns > 0
    assert sum(rep.by_stage.values()) == rep.turns
    assert set(pred["stage"].to_pylist()) <= set(gbm.classes_)
    for g in GROUPS:
        png = tmp_path / "fpi" / f"by_{g}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert sum(sum(v.values()) for v in rep.by_group[g].values()) == rep.turns
    html = (tmp_path / "fpi" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(GROUPS)
    assert rep.failures == sum(n for s, n in rep.by_stage.items() if s not in ("correct", "unsupported"))
    for stage, items in rep.top_requests.items():
        assert 0 < len(items) <= 3
        assert items == sorted(items, key=lambda it: -it["count"])
        assert stage in html


def test_load_model_round_trips_and_rejects_an_empty_folder(gbm: GbmFpi, tmp_path: Path) -> None:
    gbm.save(tmp_path / "m")
    assert isinstance(load_model(tmp_path / "m"), GbmFpi)
    with pytest.raises(FileNotFoundError, match="fpi train"):
        load_model(tmp_path / "empty")


def test_cli_train_then_report(sim_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import selflearn.fpi.features as features
    from selflearn.cli import app

    monkeypatch.setattr(features, "_default_encoder", fake_encoder)
    # a small forest: this test is about the command's plumbing, not the model's quality
    monkeypatch.setattr(
        "selflearn.fpi.train.make_model", lambda kind: GbmFpi(n_estimators=20, n_jobs=1, text_components=4)
    )
    runner = CliRunner()
    res = runner.invoke(app, ["fpi", "train", str(sim_workspace), "--out", str(tmp_path / "model")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "model" / "manifest.json").exists()
    out = tmp_path / "rep"
    res = runner.invoke(
        app, ["fpi", "report", str(sim_workspace), "--model", str(tmp_path / "model"), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert (out / "report.html").exists() and (out / "summary.json").exists()
    res = runner.invoke(app, ["fpi", "report", str(tmp_path), "--model", str(tmp_path / "model")])
    assert res.exit_code == 2 and "no logs" in " ".join(res.output.split())  # Rich may wrap the line


def test_cli_publishes_to_a_workspace_and_report_reads_the_live_model(
    sim_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import selflearn.fpi.features as features
    from selflearn.cli import app
    from selflearn.util.workspace import Workspace

    monkeypatch.setattr(features, "_default_encoder", fake_encoder)
    monkeypatch.setattr(
        "selflearn.fpi.train.make_model", lambda kind: GbmFpi(n_estimators=20, n_jobs=1, text_components=4)
    )
    deploy = tmp_path / "deploy"
    shutil.copytree(sim_workspace / "logs", deploy / "logs")
    runner = CliRunner()
    res = runner.invoke(app, ["fpi", "train", str(sim_workspace)])
    assert res.exit_code == 2 and "exactly one of --out" in res.output
    res = runner.invoke(app, ["fpi", "train", str(sim_workspace), "--publish", str(deploy)])
    assert res.exit_code == 0, res.output
    store = Workspace(deploy).store("fpi")
    assert store.current_version() == "v0001"
    assert store.manifest("v0001")["trained_on"] == [str(sim_workspace)]
    res = runner.invoke(app, ["fpi", "report", str(deploy), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rep" / "report.html").exists()
