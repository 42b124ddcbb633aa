"""Several seeds, one report: a loop run once per seed, each into `<out>/seed=N/`, then one
`<out>/report.json` whose A/B figures pool every seed (`eval.compare`).

One seed is one world (other households, other goals, other dice); a figure from one seed is an
anecdote, which is why `selflearn demo --seeds 0 1 2 3 4` and the benchmarks report means over
seeds with intervals. The pooled report keeps the single-seed shape: its ``days`` rows hold, per
day, the mean over seeds of every rate and the sum of every count, ``summary`` the same fields as
one seed's plus ``per_seed`` (each seed's own summary, without its per-person detail).

Seeds are independent worlds, so they can run in parallel (`processes`): each in a fresh process
(spawned, so no thread pool of the parent is inherited half-initialised), handing its `SeedRun`
back; the pooled report is the same as when they run one after another."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pyarrow as pa

from selflearn.eval.compare import FIGURES, PairedSeed, compare_arms, last_days
from selflearn.eval.report import DayMetrics, write_report

__all__ = ["SeedRun", "comparison_for", "pool_days", "run_loop_seeds", "run_seeds", "seed_dir"]


@dataclass
class SeedRun:
    """What one seed's loop hands back: its days, both arms' truth (control None when off) and
    the report it wrote into its own directory."""

    seed: int
    days: list[DayMetrics]
    learning_truth: pa.Table
    control_truth: pa.Table | None
    report: dict[str, Any]


def seed_dir(out: Path, seed: int) -> Path:
    return out / f"seed={seed}"


def comparison_for(runs: Sequence[SeedRun], days: int) -> dict[str, Any] | None:
    """The A/B figures over the last two days, pooled over `runs`; None without control arms."""
    paired = [
        PairedSeed(r.seed, r.learning_truth, r.control_truth) for r in runs if r.control_truth is not None
    ]
    if not paired:
        return None
    return compare_arms(paired, last_days(days))


def pool_days(runs: Sequence[SeedRun]) -> list[DayMetrics]:
    """Per day, the mean over seeds of the rates and the sum of the counts."""
    out: list[DayMetrics] = []
    n_days = min(len(r.days) for r in runs)
    for i in range(n_days):
        ds = [r.days[i] for r in runs]
        extra: dict[str, Any] = {}
        for key in sorted({k for d in ds for k in d.extra}):
            vals = [d.extra.get(key) for d in ds]
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
                nums = [float(v) for v in vals]  # type: ignore[arg-type]
                if key.endswith(("_rate", "_accuracy", "_f1", "wer")):
                    extra[key] = sum(nums) / len(nums)
                elif all(isinstance(v, int) for v in vals):
                    extra[key] = int(sum(nums))
                else:
                    extra[key] = round(sum(nums), 2)
        out.append(
            DayMetrics(
                day=ds[0].day,
                turns=sum(d.turns for d in ds),
                request_turns=sum(d.request_turns for d in ds),
                defect_rate=sum(d.defect_rate for d in ds) / len(ds),
                rewrites_published=sum(d.rewrites_published for d in ds),
                rewrites_fired=sum(d.rewrites_fired for d in ds),
                wins=sum(d.wins for d in ds),
                losses=sum(d.losses for d in ds),
                neutral_fired=sum(d.neutral_fired for d in ds),
                false_wakes=sum(d.false_wakes for d in ds),
                mean_wer=sum(d.mean_wer for d in ds) / len(ds),
                extra=extra,
            )
        )
    return out


def _slim(summary: dict[str, Any]) -> dict[str, Any]:
    """A seed's summary without the per-seed detail its figures repeat."""
    out = dict(summary)
    for fig in FIGURES:
        if isinstance(out.get(fig), dict):
            out[fig] = {k: v for k, v in out[fig].items() if k != "per_seed"}
    return out


def _run_in_child(run_one: Callable[[int, Path], SeedRun], seed: int, where: Path, threads: int) -> SeedRun:
    # Each child gets its share of the cores for torch, the rankers and the BLAS pools.
    for var in ("SELFLEARN_TORCH_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    return run_one(seed, where)


def run_seeds(
    seeds: Sequence[int],
    run_one: Callable[[int, Path], SeedRun],
    out: Path,
    config: dict[str, Any],
    extra_summary: dict[str, Any] | None = None,
    processes: int = 1,
    on_done: Callable[[SeedRun], None] | None = None,
) -> dict[str, Any]:
    """Run `run_one(seed, dir)` for each seed (one seed: into `out` itself) and return the report;
    with several seeds also write the pooled `out/report.json`. With `processes` > 1 seeds run in
    that many child processes at once (`run_one` must then be picklable, e.g. a
    `functools.partial` of a module-level function); `on_done(run)` is called in this process as
    each seed finishes, in seed order."""
    if not seeds:
        raise ValueError("at least one seed is needed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if len(seeds) == 1:
        run = run_one(seeds[0], out)
        if on_done is not None:
            on_done(run)
        return run.report
    if processes == 1:
        runs = []
        for s in seeds:
            runs.append(run_one(s, seed_dir(out, s)))
            if on_done is not None:
                on_done(runs[-1])
    else:
        n = min(processes, len(seeds))
        threads = max(1, (os.cpu_count() or 1) // n)
        with ProcessPoolExecutor(max_workers=n, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_in_child, run_one, s, seed_dir(out, s), threads) for s in seeds]
            runs = []
            for fut in futures:
                runs.append(fut.result())
                if on_done is not None:
                    on_done(runs[-1])
    days = pool_days(runs)
    summary = dict(extra_summary or {})
    summary["per_seed"] = [{"seed": r.seed, **_slim(r.report["summary"])} for r in runs]
    return write_report(
        out,
        days,
        {**config, "seeds": list(seeds), "seed_dirs": [seed_dir(out, s).name for s in seeds]},
        extra_summary=summary,
        comparison=comparison_for(runs, len(days)),
    )


def run_loop_seeds(
    seeds: Sequence[int],
    one: Callable[[int, Path], SeedRun],
    in_child: Callable[[int, Path], SeedRun],
    out: Path,
    config: dict[str, Any],
    processes: int,
    on_day: Callable[[Any, dict[str, Any]], None] | None,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """What a loop (`eval.loop`, `eval.bench`) does with its seeds: one after another through
    `one` (which reports its own days), or `processes` at a time through the picklable `in_child`,
    whose days are reported here as each seed finishes."""
    if processes <= 1 or len(seeds) <= 1:
        return run_seeds(seeds, one, out, config)
    say(f"running seeds {', '.join(map(str, seeds))}, {min(processes, len(seeds))} at a time")

    def done(run: SeedRun) -> None:
        say(f"seed {run.seed} finished")
        if on_day is not None:
            for d in run.days:
                on_day(d, {"seed": run.seed})

    return run_seeds(seeds, in_child, out, config, processes=processes, on_done=done)
