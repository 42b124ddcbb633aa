"""`selflearn context ...`: train the context reranker from a workspace's logs, and forget a user's
history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from selflearn.cli.common import _load_detector, console
from selflearn.util.workspace import Workspace

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    ctx = typer.Typer(help="Context-aware interpretation: train from logs, forget a user.")
    app.add_typer(ctx, name="context")

    @ctx.command("train")
    def train(
        workspace: Annotated[
            Path, typer.Option(help="Workspace holding logs/ (parquet or jsonl days).")
        ] = Path("workspace"),
        out: Annotated[
            Path | None,
            typer.Option(
                help="Save to this folder instead of publishing a version in WORKSPACE/artifacts/context."
            ),
        ] = None,
        detector: Annotated[
            str,
            typer.Option(
                help="Rephrase detector that tells which turns failed: auto (the trained one the "
                "workspace holds, span before lexical, else the hand-set heuristic), heuristic, span, "
                "lexical or rule."
            ),
        ] = "auto",
    ) -> None:
        """Rebuild per-user histories and retrain the context reranker from all logs: the nightly
        graph's `context` step (its summary goes under WORKSPACE/nightly), or, with --out, the
        same fit saved to a folder instead of published."""
        from selflearn.lexicon.io import DOMAIN_FILE, workspace_domain

        ws = Workspace(workspace)
        if not ws.logs.exists():
            console.print(f"[red]no logs under {ws.logs}[/red]")
            raise typer.Exit(2)
        domain = workspace_domain(workspace)
        if domain is None:
            console.print(
                f"[red]no {DOMAIN_FILE} in {workspace}: the reranker needs the deployment's intents "
                "(write one with `selflearn domain export`)[/red]"
            )
            raise typer.Exit(2)
        det = _load_detector(workspace, detector)
        if out is not None:
            from selflearn.context.nightly import fit_context
            from selflearn.logs.io import read_turns

            with console.status("reading logs and training"):
                result = fit_context(list(read_turns(ws.logs)), det, domain=domain)
            where = str(result.save(out))
        else:
            from selflearn.jobs.nightly import NightlyConfig, run_nightly

            with console.status("the nightly graph's context step"):
                res = run_nightly(workspace, NightlyConfig(context=True), detector=det, only="context")
            result = res.context.result
            where = f"version {res.context.version} (nightly summary {res.summary})"
        trained = "a reranker" if result.model is not None else "no reranker (too few labelled turns)"
        console.print(
            f"{result.labelled_turns:,} labelled turns, {result.rows:,} candidate rows, "
            f"{len(result.history):,} user histories: published {trained} as {where}"
        )

    @ctx.command("forget")
    def forget(
        user: Annotated[str, typer.Argument(help="User id.")],
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace"),
    ) -> None:
        """Delete everything the context histories hold about USER, in every kept version, at once."""
        from selflearn.context.store import forget_context

        n = forget_context(workspace, user)
        console.print(f"forgot {user} in {n} context version(s)" if n else f"nothing known about {user}")

    @ctx.command("versions")
    def versions(workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace")) -> None:
        """Published context models, the live one marked."""
        from selflearn.context.store import context_store

        store = context_store(workspace)
        live, off = store.current_version(), store.disabled()
        for v in store.versions():
            m = store.manifest(v)
            mark = "*" if v == live else " "
            console.print(
                f"{mark} {v}  {m['created_at'][:19]}  trained={m.get('trained')}  "
                f"labelled turns {m.get('labelled_turns', 0):,}  parent {m.get('parent') or '-'}"
            )
        if off:
            console.print(f"[yellow]disabled: {off['reason']} ({off['at'][:19]})[/yellow]")

    @ctx.command("rollback")
    def rollback(
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace"),
        to: Annotated[str | None, typer.Option(help="Version (default: the live one's parent).")] = None,
    ) -> None:
        """Serve an earlier context model."""
        from selflearn.context.store import context_store
        from selflearn.util.versions import StoreError

        try:
            console.print(f"context model now {context_store(workspace).rollback(to)}")
        except StoreError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None

    @ctx.command("disable")
    def disable(
        reason: Annotated[str, typer.Option(help="Why (kept with the store).")],
        workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace"),
    ) -> None:
        """Stop serving any context model (resolution falls back to the context-free one)."""
        from selflearn.context.store import context_store

        context_store(workspace).disable(reason)
        console.print("context models disabled; `selflearn context enable` serves the live one again")

    @ctx.command("enable")
    def enable(workspace: Annotated[Path, typer.Option(help="Workspace.")] = Path("workspace")) -> None:
        """Serve the live context model again after `disable`."""
        from selflearn.context.store import context_store

        on = context_store(workspace).enable()
        console.print("context models enabled" if on else "context models were not disabled")
