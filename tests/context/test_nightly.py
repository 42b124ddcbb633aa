from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.context.history import HistoryStore
from selflearn.context.nightly import fit_context, load_context, run_context_night
from selflearn.context.store import context_store, current_context
from selflearn.home.domain import simulated_domain
from selflearn.lexicon.io import save_domain
from selflearn.logs.io import write_jsonl

from .conftest import T0

SIM_DOMAIN = simulated_domain()


def _episodes(turn_factory: Any, n_users: int = 6, days: int = 3) -> list[Any]:
    """Per user and day: an oven-on 'what's the temperature' corrected to the oven, and a plain
    oven-off 'what's the temperature' that was right."""
    turns = []
    i = 0
    q: list[tuple[str, float, dict[str, str]]] = [("temperature_query", 0.9, {})]
    plain: tuple[str, dict[str, str]] = ("temperature_query", {})
    for d in range(days):
        for u in range(n_users):
            at = T0 + timedelta(days=d, minutes=5 * u)
            user, sid = f"u{u}", f"s{d}-{u}"
            turns.append(turn_factory(
                i, "what's the temperature", q, action=plain,
                barge_in=True, oven_on=True, user=user, session=sid, at=at,
            ))  # fmt: skip
            turns.append(turn_factory(
                i + 1, "how hot is the oven", [("temperature_query", 0.95, {"device": "oven"})],
                action=("temperature_query", {"device": "oven.kitchen"}), oven_on=True, user=user,
                session=sid, at=at + timedelta(seconds=4),
            ))  # fmt: skip
            turns.append(turn_factory(
                i + 2, "what's the temperature", q, action=plain,
                user=user, session=f"{sid}b", at=at + timedelta(hours=2),
            ))  # fmt: skip
            i += 3
    return turns


def test_fit_context_learns_the_oven(turn_factory: Any, tmp_path: Path) -> None:
    result = fit_context(_episodes(turn_factory), min_rows=10, domain=SIM_DOMAIN)
    assert result.model is not None and result.labelled_turns > 0
    assert len(result.history) == 6
    back = load_context(result.save(tmp_path / "ctx"))
    assert back.model is not None and len(back.history) == 6
    too_little = fit_context(_episodes(turn_factory, n_users=1, days=1), min_rows=1000, domain=SIM_DOMAIN)
    assert too_little.model is None and isinstance(too_little.history, HistoryStore)


def test_cli_train_and_forget(turn_factory: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write_jsonl(ws / "logs" / "day=0001" / "part-0.jsonl", _episodes(turn_factory))
    runner = CliRunner()
    r = runner.invoke(app, ["context", "train", "--workspace", str(ws)])
    assert r.exit_code == 2 and "no domain.json" in r.output  # the deployment's intents are needed
    save_domain(SIM_DOMAIN, ws)
    r = runner.invoke(app, ["context", "train", "--workspace", str(ws)])
    assert r.exit_code == 0, r.output
    assert "version v0001" in r.output
    runner.invoke(app, ["context", "train", "--workspace", str(ws)])
    store = context_store(ws)
    v1, v2 = store.versions()
    assert store.current_version() == v2 and store.manifest(v2)["parent"] == v1
    ctx = store.path(v2)
    assert (ctx / "history.json").exists() and (ctx / "model" / "manifest.json").exists()
    r = runner.invoke(app, ["context", "forget", "u1", "--workspace", str(ws)])
    assert r.exit_code == 0 and "forgot u1 in 2 context version(s)" in r.output
    for v in (v1, v2):  # a rollback must not bring them back
        assert HistoryStore.load(store.path(v) / "history.json").get("u1").n == 0
    r = runner.invoke(app, ["context", "rollback", "--workspace", str(ws)])
    assert "now v0001" in r.output and current_context(ws) is not None
    runner.invoke(app, ["context", "disable", "--reason", "worse in the kitchen", "--workspace", str(ws)])
    assert current_context(ws) is None
    r = runner.invoke(app, ["context", "versions", "--workspace", str(ws)])
    assert "disabled: worse in the kitchen" in r.output and "* v0001" not in r.output
    runner.invoke(app, ["context", "enable", "--workspace", str(ws)])
    assert current_context(ws) is not None
    r = runner.invoke(app, ["context", "train", "--workspace", str(tmp_path / "none")])
    assert r.exit_code == 2


def test_run_context_night_without_a_context_component(turn_factory: Any, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "logs" / "day=0001" / "part-0.jsonl", _episodes(turn_factory))
    save_domain(SIM_DOMAIN, tmp_path)  # the domain comes from the workspace
    summary = run_context_night(tmp_path, object())
    assert summary["context_trained"] is True and summary["context_changed_today"] is None
    assert summary["context_version"] == "v0001" and current_context(tmp_path) is not None
