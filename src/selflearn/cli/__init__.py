"""The `selflearn` command line: simulate traffic, inspect logs, run the self-learning demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from selflearn.eval.stats import Stats, workspace_stats
from selflearn.util.workspace import Workspace

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="selflearn: a conversational assistant that learns from its own users.",
)
console = Console()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"selflearn {version('selflearn')}")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            typer.echo("selflearn (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """selflearn: a conversational assistant that learns from its own users."""


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


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


@app.command()
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


@app.command()
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


@app.command()
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


_SEEDS_CONTEXT = {"allow_extra_args": True}
LEARNERS = ("markov", "online", "nlu")
_LEARNERS_HELP = (
    "Learners that run each night, comma-separated: markov (precomputed rewrites), online (online "
    "rewrite layers; --online picks which, default global+personal), nlu (the understanding step). "
    "Default: markov, and online when --online is not off."
)


def _bench_learners(options: dict[str, Any]) -> dict[str, Any]:
    """`_learner_options` as `BenchConfig` fields (the bench passes the nlu step as a night option)."""
    nightly = dict(options.get("nightly") or {})
    if options.get("nlu") is not None:
        nightly["nlu"] = options["nlu"]
    return {"online": options["online"], "nightly": nightly}


def _learner_options(learners: str | None, online: str) -> dict[str, Any]:
    """`LoopConfig` fields for a `--learners` list (None: markov, plus online per --online)."""
    if learners is None:
        return {"online": online}
    chosen = [x.strip() for x in learners.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in LEARNERS]
    if unknown or not chosen:
        raise typer.BadParameter(
            f"unknown learner(s) {unknown}; choose from {', '.join(LEARNERS)}", param_hint="--learners"
        )
    layers = "off" if "online" not in chosen else (online if online != "off" else "global+personal")
    return {
        "online": layers,
        "nlu": {} if "nlu" in chosen else None,
        "nightly": {} if "markov" in chosen else {"markov": False},
    }


_MIN_USERS_HELP = "Distinct principals a rewrite needs (households, else users)."
_SEEDS_HELP = "Seeds to run and pool (mean with a 95% interval): --seeds 0 1 2 3 4, or 0,1,2 or 0-4."
_PARALLEL_HELP = "With several --seeds: how many seeds run at once, each in its own process (same results)."


def _parse_seeds(seeds: list[str] | None, extra: list[str], seed: int) -> list[int]:
    """`--seeds 0 1 2` (the values after the first arrive as extra arguments), `--seeds 0,1,2`,
    `--seeds 0-4` or repeated `--seeds`; without it, `--seed` alone."""
    if not seeds:
        if extra:
            raise typer.BadParameter(f"unexpected arguments: {' '.join(extra)}")
        return [seed]
    out: list[int] = []
    for tok in [*seeds, *extra]:
        for part in tok.replace(",", " ").split():
            try:
                if "-" in part[1:]:
                    lo, hi = part.split("-", 1)
                    out.extend(range(int(lo), int(hi) + 1))
                else:
                    out.append(int(part))
            except ValueError as exc:
                msg = f"--seeds takes integers, not {part!r}"
                raise typer.BadParameter(msg, param_hint="--seeds") from exc
    if len(set(out)) != len(out):
        raise typer.BadParameter(f"--seeds repeats a seed: {out}", param_hint="--seeds")
    return out


def _day_printer(table: Table, seeds: list[int]) -> Any:
    """`on_day` for demo and bench: a line per night and a row in `table`, both arms side by side."""

    def on_day(m: Any, info: dict[str, Any]) -> None:
        ctl = m.extra.get("control_defect_rate")
        table.add_row(
            *([str(info.get("seed", ""))] if len(seeds) > 1 else []),
            str(m.day),
            f"{m.request_turns:,}",
            f"{m.defect_rate:.1%}",
            f"{ctl:.1%}" if ctl is not None else "-",
            f"{m.extra.get('first_attempt_defect_rate', 0.0):.1%}",
            f"{m.extra.get('control_first_attempt_defect_rate', 0.0):.1%}" if ctl is not None else "-",
            f"{m.rewrites_published:,}",
            f"{m.rewrites_fired:,}",
            f"{m.wins:,}",
            f"{m.losses:,}",
        )
        seed_tag = f"seed {info['seed']} " if len(seeds) > 1 and "seed" in info else ""
        vs = f" (control arm {ctl:.1%})" if ctl is not None else ""
        console.print(
            f"{seed_tag}day {m.day}: defect rate {m.defect_rate:.1%}{vs}, {m.rewrites_fired} rewrites fired "
            f"({m.wins} wins / {m.losses} losses), {m.extra.get('rewrites_mined_tonight', 0)} "
            "rewrites mined tonight"
        )

    return on_day


def _arm_table(title: str, seeds: list[int]) -> Table:
    # Short headers so the table fits an 80-column terminal; the caption says what they mean.
    t = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="req: request turns; fail / 1st: failed request turns / failed first attempts, learning "
        "arm then control arm (ctl); live: rewrites published; fired, won, lost: the day's rewrites",
    )
    cols = ["day", "req", "fail", "ctl", "1st", "ctl", "live", "fired", "won", "lost"]
    for c in (["seed"] if len(seeds) > 1 else []) + cols:
        t.add_column(c, justify="right", no_wrap=True)
    return t


def print_ab_summary(summary: dict[str, Any]) -> None:
    """The A/B figures of a report's summary (learning arm against the control arm)."""
    names = {
        "vs_control": "defect rate",
        "first_attempt": "first attempts failed",
        "goal_success": "goals not achieved",
    }
    vs = summary.get("vs_control")
    if not isinstance(vs, dict):
        console.print("[yellow]no control arm: nothing to compare the learning arm with[/yellow]")
        return
    seeds = vs["seeds"]
    console.print(
        f"learning arm vs control arm (learning off, same traffic), days {vs['days'][0]}-{vs['days'][-1]}, "
        f"{'seed' if len(seeds) == 1 else 'mean over seeds'} {', '.join(map(str, seeds))}:"
    )
    for key, name in names.items():
        f = summary.get(key)
        if not isinstance(f, dict):
            continue
        lo, hi = f["ci95"]
        console.print(
            f"  {name}: {f['defect_rate_learning']:.1%} vs {f['defect_rate_control']:.1%}, "
            f"relative reduction [bold]{f['relative_reduction']:.1%}[/bold] (95% CI {lo:.1%} to {hi:.1%})"
        )
    console.print(f"  [dim]interval: {vs['interval']}[/dim]")


@app.command(context_settings=_SEEDS_CONTEXT)
def demo(
    ctx: typer.Context,
    users: Annotated[int, typer.Option(help="Number of simulated people.")] = 1000,
    days: Annotated[int, typer.Option(help="Days of traffic; rewrites are mined each night.")] = 7,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    seeds: Annotated[list[str] | None, typer.Option(help=_SEEDS_HELP)] = None,
    parallel: Annotated[int, typer.Option(min=1, help=_PARALLEL_HELP)] = 1,
    out: Annotated[Path, typer.Option(help="Workspace directory.")] = Path("workspace/demo"),
    engine: Annotated[str, typer.Option(help="Offline engine: embedded or spark.")] = "embedded",
    min_users: Annotated[int, typer.Option(help=_MIN_USERS_HELP)] = 3,
    fresh: Annotated[
        bool,
        typer.Option(
            help="Start over: clear logs, truth and rewrite tables of an earlier run (models are kept)."
        ),
    ] = True,
    detector: Annotated[
        str, typer.Option(help="Rephrase detector: lexical (baseline) or span (contextual MiniLM).")
    ] = "lexical",
    online: Annotated[
        str, typer.Option(help="Online rewrite layers: off, global, personal or global+personal.")
    ] = "off",
    sessions: Annotated[
        str,
        typer.Option(
            help="Simulated sessions: realistic (people chain related requests quickly, so time gaps "
            "do not tell a retry from a new request) or classic (retries seconds apart, new goals later)."
        ),
    ] = "realistic",
    control: Annotated[
        bool, typer.Option(help="Run a control arm with learning off on the same traffic beside it.")
    ] = True,
    learners: Annotated[str | None, typer.Option(help=_LEARNERS_HELP)] = None,
) -> None:
    """The closed loop: simulate a day, mine rewrites overnight from the logs, run the next day with
    them, and beside it a control arm with learning off on the same traffic; print both arms day by
    day and write report.json and defect_rate.png."""
    import shutil

    from selflearn.eval.loop import LoopConfig, run_loop

    seed_list = _parse_seeds(seeds, list(ctx.args), seed)
    if fresh:
        roots = [out] + [out / f"seed={s}" for s in seed_list]
        for root in roots:
            for sub in ("logs", "truth", "quarantine", "artifacts/rewrites", "artifacts/online", "control"):
                shutil.rmtree(root / sub, ignore_errors=True)

    t = _arm_table("selflearn demo: the self-learning loop against a control arm", seed_list)
    with console.status("starting") as st:
        report = run_loop(
            LoopConfig(
                users=users,
                days=days,
                seed=seed_list[0],
                seeds=seed_list if len(seed_list) > 1 else None,
                processes=parallel,
                engine=engine,
                min_users=min_users,
                detector=detector,
                **_learner_options(learners, online),
                realistic_sessions=_sessions_flag(sessions),
                control=control,
            ),
            out,
            on_day=_day_printer(t, seed_list),
            status=lambda msg: st.update(msg),
        )
    console.print(t)
    s = report["summary"]
    print_ab_summary(s)
    console.print(
        f"win/loss {s['win_loss_ratio']:.1f} ({s['wins']} wins, {s['losses']} losses); "
        f"wrote {out / 'report.json'} and {out / 'defect_rate.png'}"
    )


def _sessions_flag(sessions: str) -> bool:
    if sessions not in ("classic", "realistic"):
        raise typer.BadParameter(f"--sessions must be classic or realistic, not {sessions!r}")
    return sessions == "realistic"


_DETECTOR_HELP = (
    "Rephrase detector: auto (the trained one the workspace holds, span before lexical, else the "
    "hand-set heuristic), heuristic, span, lexical or rule."
)


@app.command()
def mine(
    workspace: Annotated[Path, typer.Argument(help="Workspace with logs/.")],
    engine: Annotated[str, typer.Option(help="embedded or spark.")] = "embedded",
    min_users: Annotated[int, typer.Option(help=_MIN_USERS_HELP)] = 3,
    publish: Annotated[bool, typer.Option(help="Publish the mined table as a new version.")] = True,
    detector: Annotated[str, typer.Option(help=_DETECTOR_HELP)] = "auto",
) -> None:
    """Run the nightly job on a workspace's logs: feedback, chains, Markov mining, publish."""
    from selflearn.jobs.nightly import NightlyConfig, run_nightly

    det = _load_detector(workspace, detector)
    with console.status(f"mining rewrites on the {engine} engine"):
        res = run_nightly(
            workspace, NightlyConfig(engine=engine, min_users=min_users, publish=publish), detector=det
        )
    console.print(
        f"{res.turns:,} turns -> {res.chains:,} chains -> {res.rules:,} rewrites "
        f"in {res.seconds:.1f} s" + (f"; published {res.version}" if res.version else "")
    )


def _load_detector(workspace: Path, name: str = "auto") -> Any:
    from selflearn.feedback.rephrase.registry import workspace_detector

    try:
        det, which = workspace_detector(workspace, name)
    except (FileNotFoundError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--detector") from exc
    console.print(f"rephrase detector: {which}")
    return det


@app.command()
def nightly(
    workspace: Annotated[Path, typer.Argument(help="Workspace with logs/.")],
    engine: Annotated[str, typer.Option(help="embedded or spark.")] = "embedded",
    master: Annotated[
        str | None, typer.Option(help="Spark master URL (spark engine; default local[*]).")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            help="Run one step (and the steps it needs): read, sessionize, detect, late_feedback, "
            "mine, publish, online, nlu, context, labels, fpi."
        ),
    ] = None,
    online: Annotated[
        str, typer.Option(help="Online layers to train: off, global, personal or global+personal.")
    ] = "off",
    min_users: Annotated[int, typer.Option(help=_MIN_USERS_HELP)] = 3,
    detector: Annotated[str, typer.Option(help=_DETECTOR_HELP)] = "auto",
    context: Annotated[
        bool,
        typer.Option(help="Also retrain and publish the context reranker (needs WORKSPACE/domain.json)."),
    ] = False,
    labels: Annotated[
        bool,
        typer.Option(help="Also fit and publish the automatic labeller and label every request turn."),
    ] = False,
    label_epochs: Annotated[int, typer.Option(help="The labeller's training epochs.")] = 3,
    nlu: Annotated[
        bool,
        typer.Option(
            help="Also retrain the understanding model on wordings people rephrased their way out of, "
            "published only if it beats the live one on held-back people's logs."
        ),
    ] = False,
    fpi: Annotated[
        bool,
        typer.Option(
            help="Also publish each turn's failure point (needs a published fpi model: "
            "`selflearn fpi train LABELLED_WS --publish WORKSPACE`)."
        ),
    ] = False,
) -> None:
    """Run the nightly learning graph and write WORKSPACE/nightly/<run>/summary.json: each step's
    duration, and each published artifact's kind, version and content digest."""
    from selflearn.jobs.engine import make_engine
    from selflearn.jobs.graph import GraphError
    from selflearn.jobs.nightly import NightlyConfig, run_nightly

    if not (workspace / "logs").is_dir():
        raise typer.BadParameter(f"no logs under {workspace}", param_hint="WORKSPACE")
    if online not in ("off", "global", "personal", "global+personal"):
        raise typer.BadParameter(f"unknown layers {online!r}", param_hint="--online")
    det = _load_detector(workspace, detector)
    if context and not (workspace / "domain.json").exists():
        raise typer.BadParameter(
            f"no domain.json in {workspace}: the context reranker needs the deployment's intents "
            "(`selflearn domain export`)",
            param_hint="--context",
        )
    cfg = NightlyConfig(
        engine=engine,
        min_users=min_users,
        online=None if online == "off" else {"layers": online},
        context=context,
        labels={"train": {"epochs": label_epochs}} if labels else None,
        fpi=fpi,
        nlu={} if nlu else None,
    )
    if fpi and Workspace(workspace).model_dir("fpi") is None:
        raise typer.BadParameter(
            f"no published fpi model in {workspace}: `selflearn fpi train LABELLED_WS --publish {workspace}`",
            param_hint="--fpi",
        )
    try:
        eng = make_engine(engine, **({"master": master} if master and engine == "spark" else {}))
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--engine") from exc
    try:
        with console.status(f"the nightly graph on the {engine} engine"):
            res = run_nightly(workspace, cfg, detector=det, engine=eng, only=only)
    except GraphError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    finally:
        eng.close()
    assert res.summary is not None
    summary = json.loads(res.summary.read_text(encoding="utf-8"))
    table = Table("step", "seconds", "published", "digest")
    for step in summary["steps"]:
        art = step["artifact"] or {}
        published = f"{art['kind']} {art['version']}" if art else ""
        table.add_row(step["name"], f"{step['seconds']:.2f}", published, (art.get("digest") or "")[:16])
    console.print(table)
    if res.refused:
        console.print(f"{len(res.refused)} rules refused by the protected-action guard")
    console.print(f"summary: {res.summary}")


@app.command()
def versions(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
) -> None:
    """List published rewrite-table versions: when, how many rules, what made them, and their
    parent; the live one is marked with *."""
    from rich.table import Table

    from selflearn.rewrite.store import RewriteStore

    store = RewriteStore(workspace)
    cur = store.current_version()
    table = Table("", "version", "published (UTC)", "rules", "made by", "parent")
    for v in store.versions():
        m = store.manifest(v)
        counts = m.get("counts") or {}
        made = m.get("action") or ("mine" if m.get("miner") else "publish")
        if m.get("disabled"):
            made += f" ({len(m['disabled'].get('rule_ids', []))}: {m['disabled'].get('reason', '')})"
        table.add_row(
            "*" if v == cur else "",
            v,
            str(m.get("created_at", ""))[:19].replace("T", " "),
            str(counts.get("rules", "")),
            made,
            str(m.get("parent") or "-"),
        )
    console.print(table if store.versions() else f"no rewrite table published under {workspace}")


@app.command()
def rollback(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    to: Annotated[
        str | None, typer.Option(help="Version to roll back to (default: the previous one).")
    ] = None,
) -> None:
    """Point the live rewrite table back to the previous (or a given) version."""
    from selflearn.rewrite.store import RewriteStore

    v = RewriteStore(workspace).rollback(to)
    console.print(f"rewrite table rolled back; live version is now {v}")


@app.command()
def disable(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    rule_ids: Annotated[list[str], typer.Argument(help="Rule ids to take out.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the manifest).")] = "disabled by operator",
) -> None:
    """Take single rewrites out: publishes a new version without them."""
    from selflearn.rewrite.store import RewriteStore

    v = RewriteStore(workspace).disable(rule_ids, reason)
    console.print(f"published {v} without {len(rule_ids)} rule(s)")


@app.command(context_settings=_SEEDS_CONTEXT)
def bench(
    ctx: typer.Context,
    goals: Annotated[Path, typer.Option(help="SLURP-format file of requests the simulated people ask.")],
    train: Annotated[Path, typer.Option(help="SLURP-format file the NLU (and pocketsphinx LM) train on.")],
    out: Annotated[Path, typer.Option(help="Fresh workspace directory.")],
    asr: Annotated[str, typer.Option(help="Recogniser: noisy, pocketsphinx or replay.")] = "noisy",
    recognitions: Annotated[
        Path | None, typer.Option(help="Recognition-results JSONL for --asr replay.")
    ] = None,
    lm_text: Annotated[Path | None, typer.Option(help="Extra unlabeled LM text, one request a line.")] = None,
    users: Annotated[int, typer.Option(help="Number of simulated people.")] = 200,
    days: Annotated[int, typer.Option(help="Days of traffic; rewrites are mined each night.")] = 7,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    seeds: Annotated[list[str] | None, typer.Option(help=_SEEDS_HELP)] = None,
    parallel: Annotated[int, typer.Option(min=1, help=_PARALLEL_HELP)] = 1,
    min_users: Annotated[int, typer.Option(help=_MIN_USERS_HELP)] = 3,
    detector: Annotated[
        str, typer.Option(help="Rephrase detector: trained (lexical), heuristic or span (contextual MiniLM).")
    ] = "trained",
    online: Annotated[
        str, typer.Option(help="Online rewrite layers: off, global, personal or global+personal.")
    ] = "off",
    sessions: Annotated[
        str,
        typer.Option(help="Simulated sessions: realistic (related requests chained quickly) or classic."),
    ] = "realistic",
    catalog: Annotated[
        bool,
        typer.Option(help="Online global layer: also offer the --train requests as rewrite candidates."),
    ] = True,
    control: Annotated[
        bool, typer.Option(help="Run a control arm with learning off on the same traffic beside it.")
    ] = True,
    learners: Annotated[str | None, typer.Option(help=_LEARNERS_HELP)] = None,
) -> None:
    """The closed loop on real requests (SLURP format), judged against gold intent and slot values;
    writes report.json (with wer, intent_accuracy, slot_exact_f1, slu_f1 per day), defect_rate.png,
    bench_metrics.png."""
    from selflearn.eval.bench import ASR_CHOICES, BenchConfig, run_bench

    if asr not in ASR_CHOICES:
        console.print(f"[red]--asr must be one of {', '.join(ASR_CHOICES)}[/red]")
        raise typer.Exit(2)
    for name, p in (
        ("--goals", goals),
        ("--train", train),
        ("--recognitions", recognitions),
        ("--lm-text", lm_text),
    ):
        if p is not None and not p.exists():
            console.print(f"[red]{name}: no such file: {p}[/red]")
            raise typer.Exit(2)

    seed_list = _parse_seeds(seeds, list(ctx.args), seed)

    def on_day(m: Any, info: dict[str, Any]) -> None:
        ctl = m.extra.get("control_defect_rate")
        console.print(
            (f"seed {info['seed']} " if len(seed_list) > 1 else "")
            + f"day {m.day}: {m.request_turns:,} requests, defect rate {m.defect_rate:.1%}"
            + (f" (control arm {ctl:.1%})" if ctl is not None else "")
            + ", "
            f"WER {m.extra.get('wer', 0.0):.1%}, intent accuracy {m.extra.get('intent_accuracy', 0.0):.1%}, "
            f"SLU-F1 {m.extra.get('slu_f1', 0.0):.1%}; {m.rewrites_fired} rewrites fired "
            f"({m.wins} wins / {m.losses} losses), {m.extra.get('rewrites_mined_tonight', 0)} mined tonight"
        )

    cfg = BenchConfig(
        goals=goals,
        train=train,
        asr=asr,
        recognitions=recognitions,
        lm_text=lm_text,
        users=users,
        days=days,
        seed=seed_list[0],
        seeds=seed_list if len(seed_list) > 1 else None,
        processes_seeds=parallel,
        min_users=min_users,
        detector=detector,
        **_bench_learners(_learner_options(learners, online)),
        realistic_sessions=_sessions_flag(sessions),
        online_catalog=catalog,
        control=control,
    )
    try:
        report = run_bench(cfg, out, on_day=on_day, status=lambda msg: console.print(f"[dim]{msg}[/dim]"))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    s = report["summary"]
    print_ab_summary(s)
    console.print(
        f"win/loss {s['win_loss_ratio']:.1f} ({s['wins']} wins, {s['losses']} losses); "
        f"wrote {out / 'report.json'}"
    )


@app.command()
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


domain_app = typer.Typer(
    help="The deployment's domain as a file: intents and their slots, protected intents, device "
    "types and vocabularies. The learners read WORKSPACE/domain.json."
)
app.add_typer(domain_app, name="domain")


@domain_app.command("export")
def domain_export(
    out: Annotated[Path, typer.Argument(help="File to write (a directory gets domain.json).")],
    slurp: Annotated[
        Path | None, typer.Option(help="Derive the domain from a SLURP file instead of the simulated home.")
    ] = None,
) -> None:
    """Write a domain file: the simulated home's (the default) or a SLURP file's intents."""
    from selflearn.lexicon.io import save_domain

    if slurp is not None:
        from selflearn.corpora.slurp import read_slurp, slurp_domain

        domain = slurp_domain(read_slurp(slurp).records, name=f"slurp:{slurp.name}")
    else:
        from selflearn.home.domain import simulated_domain

        domain = simulated_domain()
    path = save_domain(domain, out)
    console.print(f"wrote {path}: {len(domain.intents)} intents, {len(domain.protected)} protected")


@domain_app.command("show")
def domain_show(
    path: Annotated[Path, typer.Argument(help="A domain file, or a workspace holding one.")],
) -> None:
    """Check a domain file and summarise it (exit 2 naming the field when it is broken)."""
    from selflearn.contracts.domain import DomainError
    from selflearn.lexicon.io import load_domain

    try:
        domain = load_domain(path)
    except (DomainError, OSError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    table = Table(title=f"domain {domain.name} ({domain.digest[:12]})", box=box.SIMPLE)
    table.add_column("part")
    table.add_column("count", justify="right")
    table.add_column("examples", overflow="fold")
    rows = [
        ("intents", [i.name for i in domain.intents]),
        ("protected", sorted(domain.protected)),
        ("device types", list(domain.device_types)),
        ("colours", list(domain.colors)),
        ("media items", [m.title for m in domain.media]),
        ("teams", [t.name for t in domain.teams]),
        ("cuisines", list(domain.cuisines)),
    ]
    for part, items in rows:
        table.add_row(part, f"{len(items):,}", ", ".join(items[:6]) + (", ..." if len(items) > 6 else ""))
    console.print(table)


from selflearn.fpi.cli import register as _register_fpi  # noqa: E402

_register_fpi(app)
from selflearn.cli.label import register as _register_labels  # noqa: E402

_register_labels(app)
from selflearn.serve.cli import register as _register_serve  # noqa: E402

_register_serve(app)
from selflearn.teach.cli import register as _register_teach  # noqa: E402

_register_teach(app)
from selflearn.cli.context import register as _register_context  # noqa: E402

_register_context(app)
from selflearn.privacy.cli import register as _register_privacy  # noqa: E402

_register_privacy(app)
from selflearn.cli.artifacts import artifacts_app  # noqa: E402

app.add_typer(artifacts_app, name="artifacts")


if __name__ == "__main__":
    app()
