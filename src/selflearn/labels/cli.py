"""`selflearn label DIR --out labels.parquet`: label a log automatically, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from selflearn.util.workspace import Workspace

__all__ = ["register"]

console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _detector(workspace: Path, name: str) -> Any:
    from selflearn.feedback.rephrase.registry import workspace_detector

    try:
        det, which = workspace_detector(workspace, name)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--detector") from exc
    console.print(f"rephrase detector: {which}")
    return det


def label(
    directory: Annotated[Path, typer.Argument(help="a workspace (with logs/) or a log file or folder")],
    out: Annotated[Path, typer.Option(help="labels table to write (Parquet)")] = Path("labels.parquet"),
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="saved labeller directory (default: the workspace's live `labels` artifact; a fitted "
            "one is published there as the next version)",
        ),
    ] = None,
    refit: Annotated[
        bool, typer.Option(help="fit a new labeller on DIR's logs even if one is saved")
    ] = False,
    epochs: Annotated[int, typer.Option(help="training epochs when fitting")] = 3,
    threads: Annotated[
        int | None, typer.Option(help="torch threads (default SELFLEARN_TORCH_THREADS or 2)")
    ] = None,
    detector: Annotated[
        str,
        typer.Option(
            help="rephrase detector: auto (the trained one the workspace holds, span before lexical, "
            "else the hand-set heuristic), heuristic, span, lexical or rule"
        ),
    ] = "auto",
) -> None:
    """Label every request turn: defect, goal segment, goal success, intent and slots, each with a
    confidence, and whether the turn clears the automatic-labelling threshold. The labeller is
    trained on the logs' own feedback signals (no annotation) when no saved one is given."""
    import pyarrow.parquet as pq

    from selflearn.labels.labeller import Labeller
    from selflearn.logs.io import read_turns
    from selflearn.text.encoder import set_torch_threads
    from selflearn.util.atomic import atomic_path

    set_torch_threads(threads)
    logs = directory / "logs" if (directory / "logs").is_dir() else directory
    if not logs.exists():
        console.print(f"[red]no such log file or folder: {logs}[/red]")
        raise typer.Exit(2)
    turns = list(read_turns(logs))
    if not turns:
        console.print(f"[red]no turns in {logs}[/red]")
        raise typer.Exit(2)
    workspace = directory if (directory / "logs").is_dir() else directory.parent
    ws = Workspace(workspace)
    model_path = model_dir or ws.model_dir("labels")
    with _progress() as prog:
        if model_path is not None and (model_path / "manifest.json").exists() and not refit:
            lab = Labeller.load(model_path, detector=_detector(workspace, detector))
            console.print(f"loaded the labeller from {model_path}")
        else:
            tasks: dict[str, Any] = {}

            def on_fit(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = prog.add_task(f"{phase} ({len(turns):,} turns)", total=total)
                prog.update(tasks[phase], completed=done, total=total)

            lab = Labeller(train={"epochs": epochs}).fit(
                turns, progress=on_fit, detector=_detector(workspace, detector)
            )
            if model_dir is not None:
                lab.save(model_dir)
                console.print(f"saved the labeller to {model_dir}")
            else:
                version = ws.publish_model("labels", lab.save, {"trained_on": str(logs), "turns": len(turns)})
                console.print(f"published the labeller as labels {version} in {ws.root}")
        task = prog.add_task("labelling", total=len(turns))

        def on_label(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        table = lab.predict(turns, progress=on_label)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    auto = sum(table.column("auto").to_pylist())
    defects = sum(table.column("defect").to_pylist())
    console.print(
        f"labelled {table.num_rows:,} request turns: {defects:,} defects, "
        f"{auto:,} ({auto / max(table.num_rows, 1):.0%}) confident enough to use without review; wrote {out}"
    )


def register(app: typer.Typer) -> None:
    """Add `label` to the main CLI."""
    app.command("label")(label)
