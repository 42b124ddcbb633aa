"""`selflearn forget USER`: delete a person everywhere in a workspace, and say what went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `forget` command to the CLI."""

    @app.command()
    def forget(
        user: Annotated[str, typer.Argument(help="User id to delete.")],
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace/demo"),
        prefs_db: Annotated[
            Path | None,
            typer.Option(help="Preferences database (default: WORKSPACE/artifacts/preferences.sqlite)."),
        ] = None,
    ) -> None:
        """Delete USER from the logs, late feedback, the service journal, quarantine, preferences,
        context history and every kept rewrite and online version, after recording a tombstone
        that every reader honours. Stop a running service first, or use its DELETE /v1/users/ID
        (which also clears its unflushed buffer)."""
        from rich.console import Console
        from rich.table import Table

        from selflearn.privacy.forget import find_traces, forget_user

        if not workspace.is_dir():
            raise typer.BadParameter(f"no workspace at {workspace}", param_hint="--workspace")
        report = forget_user(workspace, user, prefs_db=prefs_db)
        console = Console()
        table = Table("store", "records removed", title=f"forgot {user}")
        for store, n in sorted(report.removed.items()):
            table.add_row(store, f"{n:,}")
        table.add_row("rewrite table", report.rewrite_table_version or "unchanged")
        table.add_row("online versions scrubbed", str(report.online_versions_scrubbed))
        console.print(table)
        left = find_traces(workspace, user, prefs_db)
        if left:
            for where in left:
                console.print(f"[red]still named: {where}[/red]")
            raise typer.Exit(1)
        console.print(f"no trace of {user} is left; the tombstone keeps them out of later data")
