"""The closed loop, measured: simulate a day, learn overnight from the logs alone, publish, and
run the next day with the new rewrites; judge every day against the truth the learner never reads.

This is `selflearn demo`. The learner side (feedback detection, chains, Markov mining, publishing)
is `selflearn.jobs.nightly`, which reads only logs/; this module is the only place that joins the
two worlds, and only to score them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selflearn.assistant.factory import build_assistant, default_config, load_or_train_nlu
from selflearn.eval.report import DayMetrics, day_metrics, write_report
from selflearn.simulate.run import write_day
from selflearn.simulate.traffic import SimConfig, Simulator
from selflearn.simulate.truth import truth_table


@dataclass
class LoopConfig:
    users: int = 200
    days: int = 3
    seed: int = 0
    engine: str = "embedded"
    min_users: int = 3
    asr_error_rate: float | None = None
    calibration_users: int = 150  # a separate simulated population to fit the rephrase detector
    calibration_days: int = 2
    nightly: dict[str, Any] = field(default_factory=dict)  # NightlyConfig overrides
    extra: dict[str, Any] = field(default_factory=dict)


def train_rephrase_detector(out: Path, seed: int, users: int, days: int, nlu: Any) -> Any:
    """Fit the lexical/phonetic rephrase detector on a separate simulated population whose truth
    labels serve as synthetic supervision (allowed for rephrase detection); cached on disk."""
    from selflearn.feedback.rephrase_baseline import LexicalPhoneticRephraseDetector

    model_dir = out / "artifacts" / "models" / "rephrase"
    if (model_dir / "manifest.json").exists():
        return LexicalPhoneticRephraseDetector.load(model_dir)
    cal_seed = seed + 7919  # a different world: other households, other days
    assistant = build_assistant(default_config(seed=cal_seed, nlu=nlu))
    det = fit_rephrase_detector(Simulator(SimConfig(users=users, seed=cal_seed)), assistant, days)
    det.save(model_dir)
    return det


def fit_rephrase_detector(sim: Any, assistant: Any, days: int) -> Any:
    """Simulate `days` days of `sim` against `assistant` and fit the lexical/phonetic detector on
    the candidate pairs, labelled from the simulation's truth (handed over as plain data)."""
    from selflearn.feedback.pairs import candidate_pairs
    from selflearn.feedback.rephrase_baseline import LexicalPhoneticRephraseDetector
    from selflearn.logs.flat import flatten_turns
    from selflearn.simulate.labels import rephrase_labels

    turns, truth = [], []
    for d in range(1, days + 1):
        res = sim.run_day(d, assistant)
        turns += res.turns
        truth += res.truth
    pairs = candidate_pairs(flatten_turns(turns))
    labels = rephrase_labels(pairs, truth_table(truth))
    return LexicalPhoneticRephraseDetector().fit(pairs, labels)


def run_loop(
    cfg: LoopConfig,
    out: Path,
    on_day: Callable[[DayMetrics, dict[str, Any]], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from selflearn.jobs.nightly import NightlyConfig, run_nightly
    from selflearn.rewrite.store import RewriteStore

    say = status or (lambda _m: None)
    if any((out / "logs").glob("day=*/*.parquet")):
        raise ValueError(
            f"{out} already holds logs from an earlier run; the loop must start from an empty log "
            "(use another --out, or `selflearn demo --fresh`)"
        )
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    say("training the NLU on the built-in grammar")
    nlu = load_or_train_nlu(out / "artifacts" / "models" / "nlu", seed=cfg.seed)
    say("fitting the rephrase detector on a separate simulated population")
    detector = train_rephrase_detector(out, cfg.seed, cfg.calibration_users, cfg.calibration_days, nlu)
    store = RewriteStore(out)
    assistant = build_assistant(
        default_config(seed=cfg.seed, nlu=nlu, rewrite_store=out, asr_error_rate=cfg.asr_error_rate)
    )
    rewriter = assistant.component("rewrite")
    say("building the population")
    sim = Simulator(SimConfig(users=cfg.users, seed=cfg.seed))
    days: list[DayMetrics] = []
    timings: list[dict[str, float]] = []
    for day in range(1, cfg.days + 1):
        table = store.current()
        published = len(table) if table is not None else 0
        say(f"day {day}: simulating {cfg.users} people")
        t0 = time.perf_counter()
        res = sim.run_day(day, assistant)
        write_day(out, res)
        t_sim = time.perf_counter() - t0
        metrics = day_metrics(day, truth_table(res.truth), len(res.turns), published)
        say(f"night {day}: detecting feedback and mining rewrites from all logs so far")
        t0 = time.perf_counter()
        night = run_nightly(
            out, NightlyConfig(engine=cfg.engine, min_users=cfg.min_users, **cfg.nightly), detector=detector
        )
        t_night = time.perf_counter() - t0
        if rewriter is not None and hasattr(rewriter, "reload"):
            rewriter.reload()
        metrics.extra.update(
            {
                "simulate_s": round(t_sim, 2),
                "nightly_s": round(t_night, 2),
                "rewrites_mined_tonight": night.rules,
            }
        )
        timings.append({"simulate_s": t_sim, "nightly_s": t_night})
        days.append(metrics)
        if on_day is not None:
            on_day(metrics, {"version": night.version})
    config = {
        "users": cfg.users,
        "days": cfg.days,
        "seed": cfg.seed,
        "engine": cfg.engine,
        "min_users": cfg.min_users,
        "asr_error_rate": cfg.asr_error_rate,
        **cfg.extra,
    }
    return write_report(out, days, config, extra_summary={"seconds": round(time.perf_counter() - t_start, 1)})
