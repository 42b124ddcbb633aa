"""`selflearn prefs ...`: inspect and delete what users taught the assistant (operators, and users'
data requests). The store is a SQLite file or any SQLAlchemy URL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from selflearn.teach.store import PreferenceKind, PreferenceStore

__all__ = ["register"]

console = Console()
DEFAULT_DB = Path("workspace") / "artifacts" / "preferences.sqlite"
_Db = Annotated[str, typer.Option("--db", help="Preference store: a SQLite path or a SQLAlchemy URL.")]


def _open(db: str) -> PreferenceStore:
    if "://" not in db and not Path(db).exists():
        console.print(f"[red]no preference store at {db}[/red]")
        raise typer.Exit(2)
    return PreferenceStore(db)


def register(app: typer.Typer) -> None:
    prefs = typer.Typer(help="Per-user preferences taught to the assistant: show, history, forget.")
    app.add_typer(prefs, name="prefs")

    @prefs.command("show")
    def show(user: Annotated[str, typer.Argument(help="User id.")], db: _Db = str(DEFAULT_DB)) -> None:
        """What the assistant knows about USER."""
        store = _open(db)
        table = Table(title=f"preferences of {user}")
        for col in ("kind", "key", "value", "said as", "source", "updated"):
            table.add_column(col, overflow="fold")
        for p in store.preferences(user):
            table.add_row(
                p.kind.value, p.key, p.value, p.display, p.source, p.updated_at.isoformat(timespec="seconds")
            )
        console.print(table)

    @prefs.command("history")
    def history(user: Annotated[str, typer.Argument(help="User id.")], db: _Db = str(DEFAULT_DB)) -> None:
        """Every change to USER's preferences (forgotten values are not kept)."""
        for c in _open(db).history(user):
            console.print(
                f"{c.at.isoformat(timespec='seconds')} {c.action:8s} {c.kind.value} {c.key} "
                f"{c.old_value or ''} -> {c.new_value or ''} ({c.source})"
            )

    @prefs.command("forget")
    def forget(
        user: Annotated[str, typer.Argument(help="User id.")],
        kind: Annotated[str | None, typer.Option(help="Only this kind (e.g. favorite_team, alias).")] = None,
        key: Annotated[str, typer.Option(help="The alias name, for kind alias.")] = "",
        db: _Db = str(DEFAULT_DB),
    ) -> None:
        """Delete one preference of USER, or everything about USER (immediate and complete)."""
        store = _open(db)
        if kind is None:
            n = store.delete_user(user)
            console.print(f"deleted everything about {user} ({n} preferences and their history)")
            return
        try:
            done = store.forget(user, PreferenceKind(kind), key)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        console.print(f"forgot {kind} {key} of {user}" if done else f"{user} had no {kind} {key}")
