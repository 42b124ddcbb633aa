"""The `selflearn` command line: simulate traffic, inspect logs, run the self-learning demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from selflearn.eval.stats import Stats, workspace_stats

app = typer.Typer(
    add_completion=False, no_args_is_help=True,
    help="selflearn: a conversational assistant that learns from its own users.",
)
console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False,
    )


def print_stats(stats: Stats, by_intent: int = 15) -> None:
    t = Table(title="Log statistics", show_header=False)
    rows: list[tuple[str, str]] = [
        ("turns", f"{stats.turns:,}"), ("sessions", f"{stats.sessions:,}"), ("users", f"{stats.users:,}"),
        ("days", str(stats.days)), ("barge-in rate", f"{stats.barge_in_rate:.1%}"),
        ("explicit negative rate", f"{stats.explicit_negative_rate:.1%}"),
        ("turns with a stage error", f"{stats.error_rate:.1%}"),
    ]
    if stats.has_truth:
        rows += [
            ("request turns", f"{stats.request_turns:,}"),
            ("defect rate (truth)", f"{stats.defect_rate:.1%}"),
            ("rephrase rate (truth)", f"{stats.rephrase_rate:.1%}"),
            ("false wakes", f"{stats.false_wakes:,}"),
            ("mean WER", f"{stats.mean_wer:.1%}"),
        ]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
    if stats.by_day:
        d = Table(title="By day")
        d.add_column("day", justify="right")
        d.add_column("request turns", justify="right")
        d.add_column("defect rate", justify="right")
        for r in stats.by_day:
            d.add_row(str(r["day"]), f"{r['turns']:,}", f"{r['defect_rate']:.1%}")
        console.print(d)
    if stats.by_intent:
        it = Table(title=f"By intent (top {by_intent})")
        cols = [c for c in stats.by_intent[0] if c != "intent"]
        it.add_column("intent")
        for c in cols:
            it.add_column(c.replace("_", " "), justify="right")
        for r in stats.by_intent[:by_intent]:
            it.add_row(str(r["intent"]), *[
                f"{r[c]:,}" if isinstance(r[c], int) else f"{(r[c] or 0.0):.1%}" for c in cols
            ])
        console.print(it)
    if stats.failed_stages:
        fs = Table(title="Failed turns by first failing stage (truth)")
        fs.add_column("stage")
        fs.add_column("turns", justify="right")
        for k, v in stats.failed_stages.items():
            fs.add_row(k, f"{v:,}")
        console.print(fs)


@app.command()
def simulate(
    users: Annotated[int, typer.Option(help="Number of simulated people.")] = 100,
    days: Annotated[int, typer.Option(help="Days of traffic.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed for everything random.")] = 0,
    out: Annotated[Path, typer.Option(help="Workspace directory to write logs/ and truth/ into.")] = Path(
        "workspace/sim"
    ),
    asr_error_rate: Annotated[float | None, typer.Option(help="Noisy-channel ASR error rate.")] = None,
) -> None:
    """Simulate a population against the reference assistant; write logs and the truth table."""
    from selflearn.assistant.factory import build_assistant, default_config, load_or_train_nlu
    from selflearn.simulate.run import simulate_to_workspace
    from selflearn.simulate.traffic import SimConfig, Simulator

    out.mkdir(parents=True, exist_ok=True)
    with console.status("training the NLU on the built-in grammar"):
        nlu = load_or_train_nlu(out / "artifacts" / "models" / "nlu", seed=seed)
    assistant = build_assistant(default_config(seed=seed, nlu=nlu, asr_error_rate=asr_error_rate))
    with console.status("building the population"):
        sim = Simulator(SimConfig(users=users, seed=seed))
    with _progress() as prog:
        task = prog.add_task("simulating", total=users * days)
        summary = simulate_to_workspace(sim, assistant, days, out, progress=lambda d, n: prog.advance(task, n))
    console.print(
        f"simulated {summary.turns:,} turns in {summary.seconds:.1f} s "
        f"({summary.turns_per_second:,.0f} turns/s); wrote {out}/logs and {out}/truth"
    )
    print_stats(workspace_stats(out))


@app.command()
def stats(
    workspace: Annotated[Path, typer.Argument(help="A workspace (with logs/ and maybe truth/) or a log dir.")],
) -> None:
    """Turns, sessions, defect rate, barge-in and rephrase rates, by intent and by day."""
    if not workspace.exists():
        console.print(f"[red]no such directory: {workspace}[/red]")
        raise typer.Exit(2)
    print_stats(workspace_stats(workspace))


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="Number of simulated people.")] = 200,
    days: Annotated[int, typer.Option(help="Days of traffic.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Workspace directory.")] = Path("workspace/demo"),
) -> None:
    """The main job on the embedded default: simulate a small population and show what happened."""
    simulate(users=users, days=days, seed=seed, out=out, asr_error_rate=None)


if __name__ == "__main__":
    app()
