"""`selflearn prefs show|history|forget`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from selflearn.cli import app
from selflearn.teach.store import PreferenceKind, PreferenceStore


def test_show_forget_and_delete_everything(tmp_path: Path) -> None:
    db = tmp_path / "prefs.sqlite"
    store = PreferenceStore(db)
    store.set("u1", PreferenceKind.FAVORITE_TEAM, "boston_celtics", display="the Boston Celtics")
    store.set("u1", PreferenceKind.ALIAS, "light.bedroom", key="moonlight")
    store.close()
    runner = CliRunner()
    shown = runner.invoke(app, ["prefs", "show", "u1", "--db", str(db)])
    assert shown.exit_code == 0 and "moonlight" in shown.output and "favorite" in shown.output
    one = runner.invoke(
        app, ["prefs", "forget", "u1", "--kind", "alias", "--key", "moonlight", "--db", str(db)]
    )
    assert one.exit_code == 0 and PreferenceStore(db).get("u1", PreferenceKind.ALIAS, "moonlight") is None
    bad = runner.invoke(app, ["prefs", "forget", "u1", "--kind", "colour", "--db", str(db)])
    assert bad.exit_code == 2
    everything = runner.invoke(app, ["prefs", "forget", "u1", "--db", str(db)])
    assert everything.exit_code == 0 and PreferenceStore(db).preferences("u1") == []
    missing = runner.invoke(app, ["prefs", "show", "u1", "--db", str(tmp_path / "nope.sqlite")])
    assert missing.exit_code == 2
