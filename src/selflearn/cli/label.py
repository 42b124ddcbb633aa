"""`selflearn label DIR --out labels.parquet`: label a log automatically, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from selflearn.cli.common import _load_detector, _progress, console
from selflearn.util.workspace import Workspace

__all__ = ["register"]


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
    rated: Annotated[
        Path | None,
        typer.Option(
            help="human-rated dialogues (tab-separated USER/SYSTEM lines with 1-5 ratings): also score "
            "the labeller's defect head against the annotators' majority (AUROC, best F1); bad lines "
            "are skipped and, for a workspace, quarantined"
        ),
    ] = None,
) -> None:
    """Label every request turn: defect, goal segment, goal success, intent and slots, each with a
    confidence, and whether the turn clears the automatic-labelling threshold. The labeller is
    trained on the logs' own feedback signals (no annotation) when no saved one is given."""
    import pyarrow.parquet as pq

    from selflearn.text.encoder import set_torch_threads
    from selflearn.util.atomic import atomic_path

    set_torch_threads(threads)
    if rated is not None and not rated.is_file():
        console.print(f"[red]no such rated-dialogue file: {rated}[/red]")
        raise typer.Exit(2)
    if model_dir is None and Workspace(directory).has_logs():
        lab, table = _label_workspace(directory, refit=refit, epochs=epochs, detector=detector)
    else:
        lab, table = _label_logs(directory, model_dir, refit=refit, epochs=epochs, detector=detector)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    auto = sum(table.column("auto").to_pylist())
    defects = sum(table.column("defect").to_pylist())
    console.print(
        f"labelled {table.num_rows:,} request turns: {defects:,} defects, "
        f"{auto:,} ({auto / max(table.num_rows, 1):.0%}) confident enough to use without review; wrote {out}"
    )
    if rated is not None:
        _score_rated(lab, rated, directory)


def _score_rated(lab: Any, rated: Path, directory: Path) -> None:
    """Score the defect head on human-rated dialogues; quarantine their bad lines in a workspace."""
    from selflearn.labels.rated import score_rated
    from selflearn.logs.adapters.rated_tsv import RatedTsvError

    errors: list[RatedTsvError] = []
    try:
        score = score_rated(lab, rated, errors)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if errors:
        for err in errors[:5]:
            console.print(f"  [yellow]skipped {err}[/yellow]")
        if Workspace(directory).has_logs():
            from selflearn.logs.quarantine import QuarantineWriter
            from selflearn.logs.validate import RecordError

            with QuarantineWriter(directory, str(rated)) as q:
                for err in errors:
                    q.add(err.line, [RecordError(str(rated), err.line, err.field, str(err))], str(err))
            console.print(f"{len(errors)} bad line(s) quarantined: {q.path}")
    auroc = "n/a (one class)" if score.auroc is None else f"{score.auroc:.3f}"
    console.print(
        f"human-rated {rated}: {score.labelled_turns:,} rated turns in {score.dialogues:,} dialogues, "
        f"{score.defect_share:.0%} rated low; defect head AUROC {auroc}, best F1 {score.best_f1:.3f} "
        f"(at {score.best_threshold:.2f}), F1 at its own decision {score.f1_at_decision:.3f}"
    )


def _label_workspace(directory: Path, *, refit: bool, epochs: int, detector: str) -> Any:
    """A workspace's turns labelled through the nightly graph's `labels` step (its summary is
    written under WORKSPACE/nightly like any night's): a new labeller is fitted and published
    when asked (--refit) or when none is live, else the live one labels."""
    from selflearn.jobs.nightly import NightlyConfig, run_nightly

    det = _load_detector(directory, detector)
    cfg = NightlyConfig(labels={"train": {"epochs": epochs}, "refit": refit})
    with console.status("the nightly graph's labels step"):
        res = run_nightly(directory, cfg, detector=det, only="labels")
    night = res.labels
    assert night is not None
    if night.version is not None:
        console.print(f"fitted and published the labeller as labels {night.version} in {directory}")
    else:
        console.print(f"labelled with the live labeller ({Workspace(directory).model_dir('labels')})")
    console.print(f"nightly summary: {res.summary}")
    return night.labeller, night.labels


def _label_logs(directory: Path, model_dir: Path | None, *, refit: bool, epochs: int, detector: str) -> Any:
    """A log file or folder (or a workspace with an explicit --model) labelled in process; a
    labeller fitted here is kept only in --model."""
    from selflearn.labels.labeller import Labeller
    from selflearn.logs.io import read_turns

    logs = directory / "logs" if (directory / "logs").is_dir() else directory
    if not logs.exists():
        console.print(f"[red]no such log file or folder: {logs}[/red]")
        raise typer.Exit(2)
    turns = list(read_turns(logs))
    if not turns:
        console.print(f"[red]no turns in {logs}[/red]")
        raise typer.Exit(2)
    workspace = directory if (directory / "logs").is_dir() else directory.parent
    model_path = model_dir
    with _progress() as prog:
        if model_path is not None and (model_path / "manifest.json").exists() and not refit:
            lab = Labeller.load(model_path, detector=_load_detector(workspace, detector))
            console.print(f"loaded the labeller from {model_path}")
        else:
            tasks: dict[str, Any] = {}

            def on_fit(phase: str, done: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = prog.add_task(f"{phase} ({len(turns):,} turns)", total=total)
                prog.update(tasks[phase], completed=done, total=total)

            lab = Labeller(train={"epochs": epochs}).fit(
                turns, progress=on_fit, detector=_load_detector(workspace, detector)
            )
            if model_dir is not None:
                lab.save(model_dir)
                console.print(f"saved the labeller to {model_dir}")
            else:
                console.print("the labeller was not kept (give --model DIR, or label a workspace)")
        task = prog.add_task("labelling", total=len(turns))

        def on_label(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        return lab, lab.predict(turns, progress=on_label)


def register(app: typer.Typer) -> None:
    """Add `label` to the main CLI."""
    app.command("label")(label)
