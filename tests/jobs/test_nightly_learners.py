"""The nightly graph's learner steps beyond the miner: labels and failure points, each published
as a versioned artifact, listed in the summary with its digest, and runnable alone (`only`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.fpi.conftest import fake_encoder
from tests.labels.conftest import tiny_params
from typer.testing import CliRunner

from selflearn.jobs.nightly import NightlyConfig, run_nightly
from selflearn.util.workspace import Workspace


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, small_assistant: Any) -> Path:
    """12 people x 2 days of simulated traffic, with the simulator's truth beside the logs (the
    FPI model's training labels; the nightly graph never reads them)."""
    from selflearn.simulate.run import write_day
    from selflearn.simulate.traffic import SimConfig, Simulator

    ws = tmp_path_factory.mktemp("nightly-learners")
    sim = Simulator(SimConfig(users=12, seed=5, background_per_day=3.0))
    for day in (1, 2):
        write_day(ws, sim.run_day(day, small_assistant))
    return ws


def _fresh(logged: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(logged / "logs", ws / "logs")
    return ws


def test_the_labels_step_publishes_a_labeller_and_its_labels(logged: Path, tmp_path: Path) -> None:
    ws = _fresh(logged, tmp_path)
    cfg = NightlyConfig(labels=tiny_params())
    res = run_nightly(ws, cfg, only="labels")
    summary = json.loads(res.summary.read_text()) if res.summary else {}
    assert [s["name"] for s in summary["steps"]] == ["labels"]  # needs nothing upstream
    art = summary["steps"][0]["artifact"]
    assert art["kind"] == "labels" and art["version"] == "v0001" and len(art["digest"]) == 64
    store = Workspace(ws).store("labels")
    stored = pq.read_table(store.path("v0001") / "labels.parquet")
    # the stored labels name each turn's person, so forgetting them reaches this artifact too
    assert stored.column_names[0] == "user_id" and None not in stored.column("user_id").to_pylist()
    assert stored.num_rows == res.labels.labels.num_rows > 0
    assert store.manifest("v0001")["params"]["d_model"] == 32
    # refit False: the live labeller labels again, nothing new is published, same labels
    again = run_nightly(ws, NightlyConfig(labels={**tiny_params(), "refit": False}), only="labels")
    assert again.labels.version is None and store.versions() == ["v0001"]
    assert again.labels.digest == res.labels.digest
    # the same logs and parameters give the same labeller, so the same digest
    third = run_nightly(ws, cfg, only="labels")
    assert third.labels.version == "v0002" and third.labels.digest == res.labels.digest


def test_the_fpi_step_needs_a_published_model_and_publishes_failure_points(
    logged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import selflearn.fpi.features as features
    from selflearn.cli import app
    from selflearn.fpi.gbm import GbmFpi

    monkeypatch.setattr(features, "_default_encoder", fake_encoder)
    ws = _fresh(logged, tmp_path)
    with pytest.raises(FileNotFoundError, match="fpi train LABELLED_WS --publish"):
        run_nightly(ws, NightlyConfig(fpi=True), only="fpi")
    runner = CliRunner()
    res = runner.invoke(app, ["nightly", str(ws), "--fpi"])
    assert res.exit_code == 2 and "no published fpi model" in " ".join(res.output.split())
    monkeypatch.setattr(
        "selflearn.fpi.train.make_model", lambda kind: GbmFpi(n_estimators=20, n_jobs=1, text_components=4)
    )
    res = runner.invoke(app, ["fpi", "train", str(logged), "--publish", str(ws)])
    assert res.exit_code == 0, res.output
    night = run_nightly(ws, NightlyConfig(fpi=True), only="fpi")
    assert night.fpi.version == "v0001" and night.fpi.model_version == "v0001"
    table = pq.read_table(Workspace(ws).store("failure_points").path("v0001") / "failure_points.parquet")
    assert table.num_rows == night.fpi.table.num_rows > 0
    assert {"turn_id", "user_id", "stage", "probability"} <= set(table.column_names)
    # the whole night with the fpi step: it comes last and is in the summary with its digest
    full = run_nightly(ws, NightlyConfig(fpi=True, min_users=1))
    steps = json.loads(full.summary.read_text())["steps"] if full.summary else []
    assert steps[-1]["name"] == "fpi" and steps[-1]["artifact"]["digest"] == night.fpi.digest


def test_forgetting_a_person_reaches_the_labels_and_failure_points(
    logged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import selflearn.fpi.features as features
    from selflearn.fpi.gbm import GbmFpi
    from selflearn.fpi.train import train_model
    from selflearn.privacy.forget import find_traces, forget_user

    monkeypatch.setattr(features, "_default_encoder", fake_encoder)
    monkeypatch.setattr(
        "selflearn.fpi.train.make_model", lambda kind: GbmFpi(n_estimators=20, n_jobs=1, text_components=4)
    )
    ws = _fresh(logged, tmp_path)
    Workspace(ws).publish_model("fpi", train_model([logged]).save)
    res = run_nightly(ws, NightlyConfig(labels=tiny_params(), fpi=True, publish=True), only="labels")
    run_nightly(ws, NightlyConfig(fpi=True), only="fpi")
    person = res.labels.labels.column("turn_id").to_pylist()[0]
    user = next(u for u, t in _owners(ws).items() if person in t)
    forget_user(ws, user)
    assert find_traces(ws, user) == []


def _owners(ws: Path) -> dict[str, set[str]]:
    from selflearn.logs.io import read_flat

    flat = read_flat(ws / "logs")
    out: dict[str, set[str]] = {}
    for u, t in zip(flat.column("user_id").to_pylist(), flat.column("turn_id").to_pylist(), strict=True):
        out.setdefault(u, set()).add(t)
    return out


def test_the_nlu_step_gates_publishes_with_provenance_and_forgets(
    logged: Path, tmp_path: Path, small_nlu: Any
) -> None:
    from selflearn.compose import default_nlu_examples
    from selflearn.labels.nlu_night import EXAMPLES_FILE, base_examples_table, publish_nlu
    from selflearn.privacy.forget import find_traces, forget_user

    ws = _fresh(logged, tmp_path)
    with pytest.raises(FileNotFoundError, match="published with its training examples"):
        run_nightly(ws, NightlyConfig(nlu={}), only="nlu")
    publish_nlu(ws, small_nlu, base_examples_table(default_nlu_examples(seed=0, n_per_intent=60)))
    # one supporter is enough here (a 12-person log), and any gain publishes
    res = run_nightly(
        ws,
        NightlyConfig(nlu={"holdout": 0.3, "min_gain": -10_000, "min_win_ratio": 0}, min_users=1),
        only="nlu",
    )
    night = res.nlu
    summary = json.loads(res.summary.read_text()) if res.summary else {}
    assert [s["name"] for s in summary["steps"]] == ["read", "sessionize", "detect", "late_feedback", "nlu"]
    assert summary["steps"][-1]["artifact"]["kind"] == "nlu"
    assert set(night.gate) == {"live", "candidate", "change"} and night.learned > 0, night.reason
    store = Workspace(ws).store("nlu")
    assert night.version == store.current_version() == "v0002"
    examples = pq.read_table(store.path("v0002") / EXAMPLES_FILE)
    learned = examples.filter(pa_equal(examples, "source", "rephrase"))
    assert learned.num_rows == night.supporting_turns and None not in learned.column("user_id").to_pylist()
    assert store.manifest("v0002")["parent"] == "v0001" and store.manifest("v0002")["min_people"] == 1
    # forgetting a supporter: the model is retrained without them, the versions they taught are gone
    person = learned.column("user_id").to_pylist()[0]
    report = forget_user(ws, person)
    assert report.nlu_retrained == "v0003" and store.versions() == ["v0001", "v0003"]
    left = pq.read_table(store.path("v0003") / EXAMPLES_FILE)
    assert person not in left.column("user_id").to_pylist()
    assert find_traces(ws, person) == []


def pa_equal(table: Any, column: str, value: str) -> Any:
    import pyarrow.compute as pc

    return pc.equal(table[column], value)
