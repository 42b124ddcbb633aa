"""`selflearn context ...`: train the context reranker from a workspace's logs, and forget a user's
history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

__all__ = ["register"]

console = Console()


def register(app: typer.Typer) -> None:
    ctx = typer.Typer(help="Context-aware interpretation: train from logs, forget a user.")
    app.add_typer(ctx, name="context")

    @ctx.command("train")
    def train(
        workspace: Annotated[
            Path, typer.Option(help="Workspace holding logs/ (parquet or jsonl days).")
        ] = Path("workspace"),
        out: Annotated[
            Path | None, typer.Option(help="Where to publish (default WORKSPACE/artifacts/context).")
        ] = None,
    ) -> None:
        """Rebuild per-user histories and retrain the context reranker from all logs."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from selflearn.context.nightly import fit_context
        from selflearn.logs.io import read_turns

        logs = workspace / "logs"
        if not logs.exists():
            console.print(f"[red]no logs under {logs}[/red]")
            raise typer.Exit(2)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as p:
            task = p.add_task("reading logs", total=None)
            turns = list(read_turns(logs))
            p.update(task, description=f"training on {len(turns):,} turns")
            result = fit_context(turns)
        dest = result.save(out or workspace / "artifacts" / "context")
        trained = "a reranker" if result.model is not None else "no reranker (too few labelled turns)"
        console.print(
            f"{result.labelled_turns:,} labelled turns, {result.rows:,} candidate rows, "
            f"{len(result.history):,} user histories: published {trained} to {dest}"
        )

    @ctx.command("forget")
    def forget(
        user: Annotated[str, typer.Argument(help="User id.")],
        path: Annotated[Path, typer.Option(help="The context directory.")] = Path(
            "workspace/artifacts/context"
        ),
    ) -> None:
        """Delete everything the context histories hold about USER, at once."""
        from selflearn.context.history import HistoryStore
        from selflearn.context.nightly import HISTORY_FILE

        file = path / HISTORY_FILE
        if not file.exists():
            console.print(f"[red]no history at {file}[/red]")
            raise typer.Exit(2)
        store = HistoryStore.load(file)
        gone = store.delete_user(user)
        store.save(file)
        console.print(f"forgot {user}" if gone else f"nothing known about {user}")
