"""Commands that make, bring in and inspect traffic: `simulate`, `stats`, `ingest` and `recognize`.
They write or read a workspace's logs and never learn from them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from selflearn.cli.common import _progress, _sessions_flag, console
from selflearn.eval.stats import Stats, workspace_stats


def register(app: typer.Typer) -> None:
    """Add `simulate`, `stats`, `ingest` and `recognize` to the CLI."""
    app.command()(simulate)
    app.command()(stats)
    app.command()(ingest)
    app.command()(recognize)


def print_stats(stats: Stats, by_intent: int = 15) -> None:
    t = Table(title="Log statistics", show_header=False)
    rows: list[tuple[str, str]] = [
        ("turns", f"{stats.turns:,}"),
        ("sessions", f"{stats.sessions:,}"),
        ("users", f"{stats.users:,}"),
        ("days", str(stats.days)),
        ("barge-in rate", f"{stats.barge_in_rate:.1%}"),
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
        for r in stats.by_intent[:by_intent]:  # rows mix counts (int) and rates (float)
            it.add_row(
                str(r["intent"]),
                *[f"{r[c]:,}" if isinstance(r[c], int) else f"{(r[c] or 0.0):.1%}" for c in cols],
            )
        console.print(it)
    if stats.failed_stages:
        fs = Table(title="Failed turns by first failing stage (truth)")
        fs.add_column("stage")
        fs.add_column("turns", justify="right")
        for stage, n in stats.failed_stages.items():
            fs.add_row(stage, f"{n:,}")
        console.print(fs)


def simulate(
    users: Annotated[int, typer.Option(help="Number of simulated people.")] = 100,
    days: Annotated[int, typer.Option(help="Days of traffic.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed for everything random.")] = 0,
    out: Annotated[Path, typer.Option(help="Workspace directory to write logs/ and truth/ into.")] = Path(
        "workspace/sim"
    ),
    asr_error_rate: Annotated[float | None, typer.Option(help="Noisy-channel ASR error rate.")] = None,
    sessions: Annotated[
        str,
        typer.Option(help="Simulated sessions: realistic (related requests chained quickly) or classic."),
    ] = "realistic",
) -> None:
    """Simulate a population against the reference assistant; write logs and the truth table."""
    from selflearn.compose import build_assistant, default_config, load_or_train_nlu
    from selflearn.simulate.run import simulate_to_workspace
    from selflearn.simulate.traffic import SimConfig, Simulator

    out.mkdir(parents=True, exist_ok=True)
    from selflearn.home.domain import simulated_domain
    from selflearn.lexicon.io import save_domain

    save_domain(simulated_domain(), out)  # the simulated home is this workspace's deployment
    with console.status("training the NLU on the built-in grammar"):
        nlu = load_or_train_nlu(out, seed=seed)
    assistant = build_assistant(default_config(seed=seed, nlu=nlu, asr_error_rate=asr_error_rate))
    with console.status("building the population"):
        sim = Simulator(SimConfig(users=users, seed=seed, realistic_sessions=_sessions_flag(sessions)))
    with _progress() as prog:
        task = prog.add_task("simulating", total=users * days)
        summary = simulate_to_workspace(
            sim, assistant, days, out, progress=lambda d, n: prog.advance(task, n)
        )
    console.print(
        f"simulated {summary.turns:,} turns in {summary.seconds:.1f} s "
        f"({summary.turns_per_second:,.0f} turns/s); wrote {out}/logs and {out}/truth"
    )
    print_stats(workspace_stats(out))


def stats(
    workspace: Annotated[
        Path, typer.Argument(help="A workspace (with logs/ and maybe truth/) or a log dir.")
    ],
) -> None:
    """Turns, sessions, defect rate, barge-in and rephrase rates, by intent and by day."""
    if not workspace.exists():
        console.print(f"[red]no such directory: {workspace}[/red]")
        raise typer.Exit(2)
    print_stats(workspace_stats(workspace))


def ingest(
    path: Annotated[Path, typer.Argument(help="A JSONL or Parquet file of turns (the log contract).")],
    workspace: Annotated[Path, typer.Option(help="Workspace to ingest into.")] = Path("workspace/ingest"),
    day: Annotated[int | None, typer.Option(help="Day partition (default: the next new day).")] = None,
) -> None:
    """Validate a log file into a workspace: good turns go to logs/, bad records to quarantine/
    with the file, line and field that broke the contract. Nothing is dropped silently."""
    from selflearn.logs.quarantine import ingest as ingest_file

    if not path.exists():
        console.print(f"[red]no such file: {path}[/red]")
        raise typer.Exit(2)
    try:
        report = ingest_file(path, workspace, day=day)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(str(report))
    for err in report.errors[:20]:
        console.print(f"  [yellow]{err}[/yellow]")
    if report.quarantine_path is not None:
        console.print(f"rejected records and their reasons: {report.quarantine_path}")


def recognize(
    slurp: Annotated[Path, typer.Option(help="SLURP-format file whose recordings to recognise.")],
    train: Annotated[Path, typer.Option(help="SLURP-format training file: the language model's text.")],
    out: Annotated[Path, typer.Option(help="Recognition-results JSONL to write.")],
    lm_text: Annotated[Path | None, typer.Option(help="Extra unlabeled LM text, one request a line.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N recordings.")] = None,
    processes: Annotated[int, typer.Option(help="Decoder processes.")] = 2,
) -> None:
    """Make a recognition-results file for a SLURP-format file: espeak-ng speaks each recording's
    request in a voice of its own, pocketsphinx decodes it with a language model built from the
    training file (never from the requests being recognised). Cached; replay it with
    `selflearn bench --asr replay --recognitions OUT`."""
    from selflearn.corpora.slurp import read_slurp
    from selflearn.simulate.recognize_slurp import make_recognitions

    for path in (slurp, train, lm_text):
        if path is not None and not path.exists():
            console.print(f"[red]no such file: {path}[/red]")
            raise typer.Exit(2)
    sentences = [r.sentence for r in read_slurp(train).records]
    if lm_text is not None:
        sentences += [line.strip() for line in lm_text.read_text().splitlines() if line.strip()]
    summary = make_recognitions(slurp, out, sentences, limit=limit, processes=processes)
    console.print(
        f"recognised {summary.recordings:,} recordings of {summary.requests:,} requests: "
        f"WER {summary.wer:.1%}, "
        f"exact {summary.sentence_accuracy:.1%}, {summary.decoded:,} decoded now, {summary.wall_s:.0f} s; "
        f"wrote {out}"
    )
    if summary.lm_overlap > 0:
        console.print(
            f"[yellow]{summary.lm_overlap:.1%} of the requests occur verbatim in the LM text[/yellow]"
        )
