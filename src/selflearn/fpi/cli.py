"""`selflearn fpi train` and `selflearn fpi report`: failure point isolation from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from selflearn.util.workspace import Workspace

__all__ = ["register"]

console = Console()
fpi_app = typer.Typer(help="Failure point isolation: which stage failed first, learned from logs.")


def _spinner() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console)


@fpi_app.command("train")
def train(
    workspaces: Annotated[list[Path], typer.Argument(help="labelled workspaces (logs/ + truth/)")],
    out: Annotated[Path | None, typer.Option(help="directory to save the model in")] = None,
    publish: Annotated[
        Path | None,
        typer.Option(
            help="workspace to publish the model to, as its next `fpi` version (what the "
            "nightly graph's fpi step and `fpi report` read)"
        ),
    ] = None,
    kind: Annotated[str, typer.Option("--model", help="gbm (LightGBM fusion) or mixer (neural)")] = "gbm",
) -> None:
    """Train an FPI model on the logs of labelled workspaces (labels: each workspace's truth/
    failed_stage, read as plain data; inputs: logs only); save it (--out) or publish it to a
    deployment's workspace (--publish)."""
    from selflearn.fpi.train import MODEL_KINDS, concat_features, labelled_workspace, make_model

    if (out is None) == (publish is None):
        console.print("[red]give exactly one of --out DIR or --publish WORKSPACE[/red]")
        raise typer.Exit(2)
    if kind not in MODEL_KINDS:
        console.print(f"[red]--model must be one of {', '.join(MODEL_KINDS)}, got {kind!r}[/red]")
        raise typer.Exit(2)
    for ws in workspaces:
        if not (ws / "logs").exists():
            console.print(f"[red]{ws} has no logs/ folder[/red]")
            raise typer.Exit(2)
    with _spinner() as prog:
        task = prog.add_task("reading logs and encoding texts", total=None)
        parts = []
        for ws in workspaces:
            prog.update(task, description=f"reading {ws}")
            parts.append(labelled_workspace(ws))
        feats, labels = concat_features(parts)
        prog.update(task, description=f"fitting {kind} on {len(labels):,} turns")
        model = make_model(kind).fit(feats, labels)
        if out is not None:
            model.save(out)
            where = f"saved {out}"
        else:
            assert publish is not None
            provenance = {"trained_on": [str(w) for w in workspaces], "turns": len(labels), "model": kind}
            version = Workspace(publish).publish_model("fpi", model.save, provenance)
            where = f"published as fpi {version} in {publish}"
    console.print(f"trained {kind} on {len(labels):,} turns ({', '.join(model.classes_)}); {where}")


@fpi_app.command("report")
def report(
    workspace: Annotated[Path, typer.Argument(help="workspace whose logs/ to analyse")],
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model", help="saved FPI model directory (default: the workspace's live `fpi` artifact)"
        ),
    ] = None,
    train_from: Annotated[
        list[Path] | None,
        typer.Option("--train-from", help="labelled workspace(s) to train a model from if none is saved"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default WORKSPACE/fpi)")] = None,
    top: Annotated[int, typer.Option(help="top failing requests listed per stage")] = 10,
) -> None:
    """Failure points of a workspace's logs by intent, device, room and day (PNG plots + one HTML
    page) and the top failing requests per stage."""
    from selflearn.fpi.report import load_model, write_report
    from selflearn.fpi.train import train_model

    if not (workspace / "logs").exists():
        console.print(f"[red]{workspace} has no logs/ folder[/red]")
        raise typer.Exit(2)
    ws = Workspace(workspace)
    mdir = model_dir or ws.model_dir("fpi")
    with _spinner() as prog:
        task = prog.add_task("loading the model", total=None)
        if mdir is not None and (mdir / "manifest.json").exists():
            model = load_model(mdir)
        elif train_from:
            prog.update(task, description=f"no FPI model: training one from {len(train_from)} workspace(s)")
            model = train_model(train_from)
            if model_dir is not None:
                model.save(model_dir)
            else:
                ws.publish_model("fpi", model.save, {"trained_on": [str(w) for w in train_from]})
        else:
            where = mdir or ws.store("fpi").dir
            console.print(
                f"[red]no FPI model in {where}: give --model, or --train-from LABELLED_WORKSPACE[/red]"
            )
            raise typer.Exit(2)
        prog.update(task, description="predicting failure points and plotting")
        rep = write_report(workspace, model, out=out, top_n=top)
    table = Table(title=f"failure points in {workspace} ({rep.turns:,} turns)")
    table.add_column("stage")
    table.add_column("turns", justify="right")
    table.add_column("top request")
    for stage, n in sorted(rep.by_stage.items(), key=lambda kv: -kv[1]):
        first = rep.top_requests.get(stage, [{}])[0].get("request", "")
        table.add_row(stage, f"{n:,}", str(first))
    console.print(table)
    console.print(f"wrote {Path(rep.files[0]).parent}/report.html and plots")


def register(app: typer.Typer) -> None:
    """Add the `fpi` command group to the main CLI."""
    app.add_typer(fpi_app, name="fpi")
