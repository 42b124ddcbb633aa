"""The closed loop, measured: simulate a day, learn overnight from the logs alone, publish, and
run the next day with the new rewrites; judge every day against the truth the learner never reads.

Beside the learning arm runs a control arm (`eval.arms`) on the same traffic with learning off;
`report.json`'s `vs_control`, `first_attempt` and `goal_success` compare the two
(`eval.compare`). `LoopConfig.seeds` runs the loop once per seed and pools them (`eval.seeds`).

This is `selflearn demo`. The learner side (feedback detection, chains, Markov mining, publishing)
is `selflearn.jobs.nightly`, which reads only logs/; this module is the only place that joins the
two worlds, and only to score them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from selflearn.compose import build_assistant, default_config, load_or_train_nlu
from selflearn.eval.arms import (
    CONTROL_DIR,
    ControlArm,
    adopt_understanding,
    learning_day_figures,
    understanding_wins,
)
from selflearn.eval.report import DayMetrics, day_metrics, write_report
from selflearn.eval.seeds import SeedRun, comparison_for, run_loop_seeds
from selflearn.rewrite.guard import nlu_reader
from selflearn.simulate.run import write_day
from selflearn.simulate.traffic import SimConfig, Simulator
from selflearn.simulate.truth import truth_table
from selflearn.util.workspace import Workspace


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
    # Online rewrite layers: "off" | "global" | "personal" | "global+personal"; trained nightly
    # with `online_train` (OnlineTrainConfig overrides), run with `online_options` (the component's).
    online: str = "off"
    online_train: dict[str, Any] = field(default_factory=dict)
    online_options: dict[str, Any] = field(default_factory=dict)
    # Rephrase detector the miner uses (feedback.rephrase.registry): "lexical" (baseline),
    # "span" (contextual MiniLM span model) or another registered name.
    detector: str = "lexical"
    # Context-aware interpretation (selflearn.context): the reranker, trained nightly from the logs,
    # takes resolution's place; `ambiguity_share` mixes ambiguity scenarios into the traffic.
    context: bool = False
    # The understanding step (selflearn.labels.nlu_night): None = off; a mapping (possibly empty)
    # of its options turns it on, and a model it publishes serves from the next day.
    nlu: dict[str, Any] | None = None
    ambiguity_share: float = 0.0
    # Simulator personal patterns (SimConfig.personal_share, simulate/personal.py); 0: off.
    personal_share: float = 0.0
    # People's pacing and chaining of requests (SimConfig.realistic_sessions), for the loop's
    # traffic and the detector's calibration population alike. Classic sessions (False) separate
    # retries from new goals by timing alone, which flatters every detector.
    realistic_sessions: bool = True
    # Common random numbers across arms (SimConfig.paired_streams): for A/B comparisons; the
    # control arm needs it.
    paired_streams: bool = True
    # A control arm with learning off on the same traffic (eval.arms); its logs go to out/control.
    control: bool = True
    # Several seeds: one run per seed into out/seed=N/, pooled into out/report.json (eval.seeds);
    # None runs `seed` alone into out.
    seeds: list[int] | None = None
    # Seeds run this many at a time, each in its own process (eval.seeds); results are the same.
    processes: int = 1


def train_rephrase_detector(
    out: Path,
    seed: int,
    users: int,
    days: int,
    nlu: Any,
    kind: str = "lexical",
    realistic_sessions: bool = True,
) -> Any:
    """Fit the rephrase detector of kind `kind` (default: lexical/phonetic) on a separate simulated
    population whose truth labels serve as synthetic supervision (allowed for rephrase
    detection); cached on disk."""
    from selflearn.feedback.rephrase.registry import load_detector, model_dir_name

    ws = Workspace(out)
    model_dir = ws.model_dir(model_dir_name(kind))
    if model_dir is not None:
        return load_detector(model_dir)
    cal_seed = seed + 7919  # a different world: other households, other days
    assistant = build_assistant(default_config(seed=cal_seed, nlu=nlu))
    sim = Simulator(SimConfig(users=users, seed=cal_seed, realistic_sessions=realistic_sessions))
    det = fit_rephrase_detector(sim, assistant, days, kind=kind)
    provenance = {"trained_on": "simulated calibration population", "seed": cal_seed, "users": users}
    ws.publish_model(model_dir_name(kind), det.save, provenance)
    return det


def fit_rephrase_detector(sim: Any, assistant: Any, days: int, kind: str = "lexical") -> Any:
    """Simulate `days` days of `sim` against `assistant` and fit the lexical/phonetic detector on
    the candidate pairs, labelled from the simulation's truth (handed over as plain data).

    A small population can go a day without a single retry (or without a new request after one);
    then further days are simulated, up to four times `days`, until both kinds of pair occur."""
    from selflearn.feedback.pairs import candidate_pairs
    from selflearn.feedback.rephrase_baseline import LexicalPhoneticRephraseDetector
    from selflearn.logs.flat import flatten_turns
    from selflearn.simulate.labels import rephrase_labels

    turns, truth = [], []
    d = 0
    while True:
        d += 1
        res = sim.run_day(d, assistant)
        turns += res.turns
        truth += res.truth
        if d < days:
            continue
        pairs = candidate_pairs(flatten_turns(turns))
        labels = rephrase_labels(pairs, truth_table(truth))
        if (labels.any() and not labels.all()) or d >= 4 * max(1, days):
            break
    if kind != "lexical":
        from selflearn.feedback.rephrase.registry import make_detector

        return make_detector(kind).fit(pairs, labels)
    return LexicalPhoneticRephraseDetector().fit(pairs, labels)


def _online_day_extra(rewriter: Any, online: dict[str, Any] | None) -> dict[str, Any]:
    """The online rewriter's counters for the day (then reset) and tonight's training summary."""
    out: dict[str, Any] = {}
    stats = getattr(rewriter, "stats", None)
    if isinstance(stats, dict):
        out["online_stats"] = dict(stats)
        for k in stats:
            stats[k] = 0
    if online is not None:
        keys = ("version", "global_candidates", "pairs", "gate_recall")
        out["online_training"] = {k: online[k] for k in keys}
        out["online_ranker"] = online.get("ranker", {})
        out["online_encoder"] = online.get("encoder", {})
    return out


def run_loop(
    cfg: LoopConfig,
    out: Path,
    on_day: Callable[[DayMetrics, dict[str, Any]], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the loop (once per seed of `cfg.seeds`, else at `cfg.seed`) into `out`; return the
    report. `on_day(metrics, info)` is called after each night, `info` naming the seed."""
    seeds = list(cfg.seeds) if cfg.seeds else [cfg.seed]
    say = status or (lambda _m: None)

    def one(seed: int, where: Path) -> SeedRun:
        tag = f"seed {seed}: " if len(seeds) > 1 else ""
        return _run_seed(
            replace(cfg, seed=seed, seeds=None),
            where,
            on_day=on_day,
            status=lambda m: say(tag + m),
        )

    child = partial(_seed_in_child, cfg)
    return run_loop_seeds(seeds, one, child, out, _config(cfg), cfg.processes, on_day, say)


def _seed_in_child(cfg: LoopConfig, seed: int, where: Path) -> SeedRun:
    """One seed's loop, without callbacks (it runs in a child process)."""
    return _run_seed(replace(cfg, seed=seed, seeds=None, processes=1), where)


def _config(cfg: LoopConfig) -> dict[str, Any]:
    return {
        "users": cfg.users,
        "days": cfg.days,
        "seed": cfg.seed,
        "engine": cfg.engine,
        "min_users": cfg.min_users,
        "asr_error_rate": cfg.asr_error_rate,
        "online": cfg.online,
        "detector": cfg.detector,
        "context": cfg.context,
        "nlu": cfg.nlu,
        "ambiguity_share": cfg.ambiguity_share,
        "personal_share": cfg.personal_share,
        "realistic_sessions": cfg.realistic_sessions,
        "paired_streams": cfg.paired_streams,
        "control": cfg.control,
        **cfg.extra,
    }


def _run_seed(
    cfg: LoopConfig,
    out: Path,
    on_day: Callable[[DayMetrics, dict[str, Any]], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> SeedRun:
    from selflearn.home.domain import simulated_domain
    from selflearn.jobs.nightly import NightlyConfig, run_nightly
    from selflearn.lexicon.io import save_domain
    from selflearn.rewrite.store import RewriteStore

    say = status or (lambda _m: None)
    if cfg.control and not cfg.paired_streams:
        raise ValueError("a control arm needs paired_streams: both arms must see the same traffic")
    if any(Workspace(out).logs.glob("day=*/*.parquet")):
        raise ValueError(
            f"{out} already holds logs from an earlier run; the loop must start from an empty log "
            "(use another --out, or `selflearn demo --fresh`)"
        )
    out.mkdir(parents=True, exist_ok=True)
    # The simulated home is this run's deployment: its domain is what the learners read.
    save_domain(simulated_domain(), out)
    t_start = time.perf_counter()
    say("training the NLU on the built-in grammar")
    nlu = load_or_train_nlu(out, seed=cfg.seed)
    say("fitting the rephrase detector on a separate simulated population")
    detector = train_rephrase_detector(
        out,
        cfg.seed,
        cfg.calibration_users,
        cfg.calibration_days,
        nlu,
        kind=cfg.detector,
        realistic_sessions=cfg.realistic_sessions,
    )
    store = RewriteStore(out)
    base_nlu = nlu  # what the understanding step's wins and losses are judged against
    assistant = build_assistant(
        default_config(
            seed=cfg.seed,
            nlu=nlu,
            rewrite_store=out,
            asr_error_rate=cfg.asr_error_rate,
            rewrite_online=cfg.online,
            online_options=cfg.online_options,
            context={"model": None} if cfg.context else None,
        )
    )
    nightly_online = None if cfg.online == "off" else {"layers": cfg.online, **cfg.online_train}
    rewriter = assistant.component("rewrite")
    say("building the population")
    sim_config = SimConfig(
        users=cfg.users,
        seed=cfg.seed,
        ambiguity_share=cfg.ambiguity_share,
        realistic_sessions=cfg.realistic_sessions,
        personal_share=cfg.personal_share,
        paired_streams=cfg.paired_streams,
    )
    sim = Simulator(sim_config)
    control = None
    if cfg.control:
        control = ControlArm(
            Simulator(sim_config),
            build_assistant(default_config(seed=cfg.seed, nlu=nlu, asr_error_rate=cfg.asr_error_rate)),
            out / CONTROL_DIR,
        )
    learning_truth = []
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
        day_truth = truth_table(res.truth)
        learning_truth.append(day_truth)
        metrics = day_metrics(day, day_truth, len(res.turns), published)
        metrics.extra.update(learning_day_figures(day_truth))
        if cfg.nlu is not None:
            metrics.extra.update(understanding_wins(res.turns, res.truth, base_nlu, nlu))
        if control is not None:
            say(f"day {day}: the control arm (learning off) on the same traffic")
            metrics.extra.update(control.run_day(day))
        say(f"night {day}: detecting feedback and mining rewrites from all logs so far")
        t0 = time.perf_counter()
        night = run_nightly(
            out,
            NightlyConfig(
                engine=cfg.engine,
                min_users=cfg.min_users,
                online=nightly_online,
                context=cfg.context,
                nlu=cfg.nlu,
                **cfg.nightly,
            ),
            detector=detector,
            reader=nlu_reader(nlu),
            protected=getattr(assistant.component("nlu"), "protected", None),
        )
        t_night = time.perf_counter() - t0
        if rewriter is not None and hasattr(rewriter, "reload"):
            rewriter.reload()
        metrics.extra.update(
            {
                "simulate_s": round(t_sim, 2),
                "nightly_s": round(t_night, 2),
                "rewrites_mined_tonight": night.rules,
                **_online_day_extra(rewriter, night.online),
            }
        )
        if night.nlu is not None:
            metrics.extra.update(night.nlu.summary())
        nlu = adopt_understanding(assistant, night.nlu, nlu)  # serves tomorrow; the guards read with it
        if cfg.context and night.context is not None:
            from selflearn.context.nightly import hand_to_component

            amb = [r.success for r in res.truth if r.attempt == 1 and r.turn_id in sim.ambiguity_kinds]
            metrics.extra["ambiguous_first_attempt_accuracy"] = round(sum(amb) / len(amb), 3) if amb else None
            changed = hand_to_component(assistant, night.context)
            metrics.extra.update({**night.context.summary(), "context_changed_today": changed})
        timings.append({"simulate_s": t_sim, "nightly_s": t_night})
        days.append(metrics)
        if on_day is not None:
            on_day(metrics, {"version": night.version, "seed": cfg.seed})
    return finish_seed(
        cfg.seed, out, days, learning_truth, control, _config(cfg), round(time.perf_counter() - t_start, 1)
    )


def finish_seed(
    seed: int,
    out: Path,
    days: list[DayMetrics],
    learning_truth: list[Any],
    control: ControlArm | None,
    config: dict[str, Any],
    seconds: float,
    extra_summary: dict[str, Any] | None = None,
) -> SeedRun:
    """One seed's report (with its A/B figures when there is a control arm), as a `SeedRun`."""
    import pyarrow as pa

    learned = pa.concat_tables(learning_truth) if learning_truth else truth_table([])
    control_truth = control.all_truth() if control is not None else None
    run = SeedRun(seed, days, learned, control_truth, {})
    run.report = write_report(
        out,
        days,
        config,
        extra_summary={"seconds": seconds, **(extra_summary or {})},
        comparison=comparison_for([run], len(days)),
    )
    return run
