"""The workspace object: one layout, one store per artifact kind, saved learners under model/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.util.versions import MANIFEST_FILE
from selflearn.util.workspace import ARTIFACT_KINDS, MODEL_SUBDIR, Workspace, WorkspaceError


def _save_learner(tag: str):  # type: ignore[no-untyped-def]
    """A stand-in `save(dir)`: writes a learner manifest the way `util.manifest` does."""

    def save(directory: Path) -> Path:
        directory.mkdir(parents=True)
        (directory / "manifest.json").write_text(json.dumps({"kind": "Toy", "tag": tag}))
        return directory

    return save


def test_the_layout_is_named_once(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert ws.logs == tmp_path / "logs" and ws.domain_file == tmp_path / "domain.json"
    assert ws.feedback_file == tmp_path / "serve" / "feedback.jsonl"
    assert ws.tokens_file == tmp_path / "serve" / "tokens.json"
    assert ws.preferences_db == tmp_path / "artifacts" / "preferences.sqlite"
    assert Workspace.of(ws) is ws and Workspace.of(str(tmp_path)) == ws
    assert not any(tmp_path.iterdir())  # building it creates nothing


def test_every_kind_has_one_store_and_unknown_kinds_are_named(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    dirs = {ws.store(k).dir for k in ARTIFACT_KINDS}
    assert len(dirs) == len(ARTIFACT_KINDS)  # no two kinds share a directory
    with pytest.raises(WorkspaceError, match=r"no artifact kind 'weights'.*rewrite"):
        ws.store("weights")
    with pytest.raises(WorkspaceError, match="not a saved learner"):
        ws.model_dir("rewrite")


def test_a_published_model_sits_beside_the_stores_manifest(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert ws.model_dir("labels") is None
    v1 = ws.publish_model("labels", _save_learner("a"), {"trained_on": "logs", "turns": 10})
    v2 = ws.publish_model("labels", _save_learner("b"))
    live = ws.model_dir("labels")
    assert (v1, v2) == ("v0001", "v0002") and live == ws.store("labels").path(v2) / MODEL_SUBDIR
    assert json.loads((live / "manifest.json").read_text())["tag"] == "b"  # the learner's own
    store_manifest = json.loads((live.parent / MANIFEST_FILE).read_text())
    assert store_manifest["kind"] == "labels" and store_manifest["parent"] == v1
    # the same undo as every other kind
    ws.store("labels").rollback()
    assert json.loads((ws.model_dir("labels") / "manifest.json").read_text())["tag"] == "a"  # type: ignore[operator]
    ws.store("labels").disable("bad labels on Tuesday")
    assert ws.model_dir("labels") is None
    ws.store("labels").enable()
    assert ws.model_dir("labels") == ws.store("labels").path(v1) / MODEL_SUBDIR


def test_models_saved_the_old_way_are_read_until_a_version_is_published(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    legacy = tmp_path / "artifacts" / "models" / "nlu"
    _save_learner("old")(legacy)
    assert ws.model_dir("nlu") == legacy and ws.artifact_kinds() == ["nlu"]
    ws.publish_model("nlu", _save_learner("new"))
    assert ws.model_dir("nlu") == ws.store("nlu").path("v0001") / MODEL_SUBDIR
    # disabling hides the old layout too: a disabled kind serves nothing
    ws.store("nlu").disable("testing")
    assert ws.model_dir("nlu") is None


def test_the_artifacts_commands_work_the_same_for_every_kind(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.publish_model("fpi", _save_learner("a"), {"trained_on": "three labelled workspaces"})
    ws.publish_model("fpi", _save_learner("b"))
    runner = CliRunner()
    res = runner.invoke(app, ["artifacts", "list", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "fpi" in res.output and "v0002" in res.output
    res = runner.invoke(app, ["artifacts", "versions", str(tmp_path), "fpi"])
    assert res.exit_code == 0 and "v0001" in res.output and "three labelled" in res.output
    res = runner.invoke(app, ["artifacts", "rollback", str(tmp_path), "fpi"])
    assert res.exit_code == 0 and ws.store("fpi").current_version() == "v0001"
    res = runner.invoke(app, ["artifacts", "disable", str(tmp_path), "fpi", "--reason", "wrong stage names"])
    assert res.exit_code == 0 and ws.model_dir("fpi") is None
    res = runner.invoke(app, ["artifacts", "list", str(tmp_path), "--json"])
    states = {r["kind"]: r["state"] for r in json.loads(res.output)}
    assert states["fpi"] == "disabled: wrong stage names" and states["rewrite"] == "-"
    res = runner.invoke(app, ["artifacts", "enable", str(tmp_path), "fpi"])
    assert res.exit_code == 0 and ws.store("fpi").current_version() == "v0001"
    res = runner.invoke(app, ["artifacts", "show", str(tmp_path), "fpi", "--version", "v0001"])
    assert res.exit_code == 0 and json.loads(res.output)["trained_on"] == "three labelled workspaces"
    res = runner.invoke(app, ["artifacts", "show", str(tmp_path), "context"])
    assert res.exit_code == 2 and "no context version is published" in res.output
    res = runner.invoke(app, ["artifacts", "rollback", str(tmp_path), "weights"])
    assert res.exit_code == 2 and "no artifact kind 'weights'" in res.output
