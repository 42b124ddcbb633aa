"""`selflearn artifacts`: the same commands for every published kind.

Every kind the nightly graph or a training command publishes (rewrite tables, online indexes and
rankers, context models, the NLU, the labeller, the failure-point model, the rephrase detectors)
lives in one versioned store (`util.workspace`), so an operator lists, inspects, rolls back,
disables and re-enables any of them with one set of commands instead of one per learner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from selflearn.cli.common import console
from selflearn.util.versions import StoreError
from selflearn.util.workspace import ARTIFACT_KINDS, Workspace, WorkspaceError

__all__ = ["artifacts_app"]

artifacts_app = typer.Typer(
    help="Every published artifact kind, one set of commands: list, versions, show, rollback, "
    "disable, enable."
)

_KIND_HELP = "Artifact kind: " + ", ".join(ARTIFACT_KINDS) + "."


def _store(workspace: Path, kind: str) -> Any:
    try:
        return Workspace(workspace).store(kind)
    except WorkspaceError as exc:
        raise typer.BadParameter(str(exc), param_hint="KIND") from None


def _fail(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]")
    raise typer.Exit(2)


@artifacts_app.command("list")
def list_kinds(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every kind with its live version, how many versions are kept, and whether it is disabled."""
    ws = Workspace(workspace)
    rows: list[dict[str, Any]] = []
    for name, kind in ARTIFACT_KINDS.items():
        store = ws.store(name)
        versions = store.versions()
        legacy = kind.legacy is not None and (ws.root / kind.legacy / "manifest.json").exists()
        disabled = store.disabled()
        if disabled is not None:
            state = f"disabled: {disabled.get('reason', '')}"
        elif versions:
            state = "live"
        elif legacy:
            state = f"unversioned ({kind.legacy})"
        else:
            state = "-"
        rows.append(
            {"kind": name, "live": store.pointed_version(), "kept": len(versions), "state": state,
             "what": kind.description}
        )  # fmt: skip
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("kind", "live", "kept", "state", "what")
    for r in rows:
        table.add_row(r["kind"], r["live"] or "-", str(r["kept"]), r["state"], r["what"])
    console.print(table)


@artifacts_app.command("versions")
def versions(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    kind: Annotated[str, typer.Argument(help=_KIND_HELP)],
) -> None:
    """A kind's kept versions, oldest first: when, what made it, its parent; * marks the live one."""
    store = _store(workspace, kind)
    live = store.current_version()
    kept = store.versions()
    if not kept:
        console.print(f"no {kind} version is published under {workspace}")
        return
    table = Table("", "version", "published (UTC)", "parent", "provenance")
    for v in kept:
        m = store.manifest(v)
        extra = {k: m[k] for k in sorted(m) if k not in ("kind", "version", "created_at", "parent")}
        summary = ", ".join(f"{k}={_short(extra[k])}" for k in list(extra)[:4])
        created = str(m.get("created_at", ""))[:19].replace("T", " ")
        table.add_row("*" if v == live else "", v, created, str(m.get("parent") or "-"), summary)
    console.print(table)


def _short(value: Any, width: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


@artifacts_app.command("show")
def show(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    kind: Annotated[str, typer.Argument(help=_KIND_HELP)],
    version: Annotated[str | None, typer.Option(help="Version (default: the live one).")] = None,
) -> None:
    """Print a version's manifest (its provenance) as JSON."""
    store = _store(workspace, kind)
    v = version or store.pointed_version()
    if v is None:
        _fail(StoreError(f"{kind}-nothing-published", f"no {kind} version is published under {workspace}"))
        return
    try:
        manifest = store.manifest(v)
    except StoreError as exc:
        _fail(exc)
        return
    console.print_json(json.dumps(manifest, default=str))


@artifacts_app.command("rollback")
def rollback(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    kind: Annotated[str, typer.Argument(help=_KIND_HELP)],
    to: Annotated[
        str | None, typer.Option(help="Version to go back to (default: the live one's parent).")
    ] = None,
) -> None:
    """Point a kind's live version back to its parent (or a given kept version)."""
    try:
        v = _store(workspace, kind).rollback(to)
    except StoreError as exc:
        _fail(exc)
        return
    console.print(f"{kind} rolled back; live version is now {v}")


@artifacts_app.command("disable")
def disable(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    kind: Annotated[str, typer.Argument(help=_KIND_HELP)],
    reason: Annotated[str, typer.Option(help="Why (kept beside the store).")],
) -> None:
    """Serve nothing of a kind until it is enabled again (the versions are kept)."""
    try:
        _store(workspace, kind).disable(reason)
    except ValueError as exc:
        _fail(exc)
    console.print(f"{kind} disabled: {reason}")


@artifacts_app.command("enable")
def enable(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    kind: Annotated[str, typer.Argument(help=_KIND_HELP)],
) -> None:
    """Serve a disabled kind's pointed version again."""
    if _store(workspace, kind).enable():
        console.print(f"{kind} enabled")
    else:
        console.print(f"{kind} was not disabled")
