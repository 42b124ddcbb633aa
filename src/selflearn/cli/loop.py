"""The closed-loop experiments: `demo` (simulated home) and `bench` (real requests in SLURP format),
each a learning arm beside a control arm, printed day by day and summarised as an A/B comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from selflearn.cli.common import (
    _LEARNERS_HELP,
    _MIN_USERS_HELP,
    _PARALLEL_HELP,
    _SEEDS_CONTEXT,
    _SEEDS_HELP,
    _bench_learners,
    _day_printer,
    _learner_options,
    _parse_seeds,
    _sessions_flag,
    console,
)


def register(app: typer.Typer) -> None:
    """Add `demo` and `bench` to the CLI."""
    app.command(context_settings=_SEEDS_CONTEXT)(demo)
    app.command(context_settings=_SEEDS_CONTEXT)(bench)


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
    nlu_model: Annotated[
        str,
        typer.Option(
            help="The understanding model trained on --train: tfidf (TF-IDF + logistic regression, CRF "
            "slots) or transformer (the shipped MiniLM fine-tuned for intent and slots)."
        ),
    ] = "tfidf",
) -> None:
    """The closed loop on real requests (SLURP format), judged against gold intent and slot values;
    writes report.json (with wer, intent_accuracy, slot_exact_f1, slu_f1 per day), defect_rate.png,
    bench_metrics.png."""
    from selflearn.eval.bench import ASR_CHOICES, NLU_MODELS, BenchConfig, run_bench

    if nlu_model not in NLU_MODELS:
        console.print(f"[red]--nlu-model must be one of {', '.join(NLU_MODELS)}[/red]")
        raise typer.Exit(2)
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
        nlu_model=nlu_model,
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
