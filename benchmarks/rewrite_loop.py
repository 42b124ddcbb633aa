"""The rewriting issue's measured claims: the closed loop's defect reduction and win/loss on the
simulator at fixed seeds, and nightly mining throughput on a large log of distinct simulated
sessions (embedded engine, and Spark local when --spark is given).

    .venv/bin/python benchmarks/rewrite_loop.py [--users 1000 --days 7 --seeds 0 1]
        [--mine-users 9000 --mine-days 7] [--spark] [--skip-loop] [--skip-mining]

The mining log is simulated, not copied: one population of --mine-users people (a different
seed from the loops') runs --mine-days days against the reference assistant, each day written as
it completes, so every session, chain and user in it is distinct and memory holds one day at a
time. Simulation runs at ~1,000 turns/s on one core, so the default ~310k turns take ~5 minutes
to build before mining is timed; `--mine-users 29000` gives ~1M turns in ~17 minutes.

Until this change the mining log was one 35k-turn loop log copied ~30 times under fresh ids (its
sessions, phrasings and chains repeated); the figures measured that way stay in rewrite_loop.json
under `mining` and are reported as copied.

Prints a table and writes benchmarks/results/rewrite_loop.json (the loops) and
benchmarks/results/rewrite_mining.json (mining), each with its provenance, so one part can be
rerun without the other.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import with_provenance
from selflearn.eval.loop import LoopConfig, run_loop
from selflearn.feedback.rephrase_baseline import LexicalPhoneticRephraseDetector
from selflearn.jobs.nightly import NightlyConfig, run_nightly
from selflearn.util.atomic import atomic_write_text
from selflearn.util.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"


def loop(users: int, days: int, seed: int, work: Path) -> dict[str, Any]:
    out = work / f"loop-{users}u-{days}d-s{seed}"
    t0 = time.perf_counter()
    report = run_loop(LoopConfig(users=users, days=days, seed=seed), out)
    s = report["summary"]
    return {
        "seed": seed,
        "users": users,
        "days": days,
        "first_day_defect_rate": s["first_day_defect_rate"],
        "last_day_defect_rate": s["last_day_defect_rate"],
        "relative_reduction": s["relative_reduction"],
        "win_loss_ratio": s["win_loss_ratio"],
        "wins": s["wins"],
        "losses": s["losses"],
        "rewrites_published": s["final_rewrites_published"],
        "seconds": time.perf_counter() - t0,
        "per_day": [
            {
                k: d[k]
                for k in ("day", "defect_rate", "rewrites_published", "rewrites_fired", "wins", "losses")
            }
            for d in report["days"]
        ],
        "workspace": str(out),
    }


def simulate_log(ws: Path, users: int, days: int, seed: int) -> dict[str, Any]:
    """Simulate `users` people for `days` days into ws (logs and truth), one day in memory at a time."""
    from selflearn.compose import build_assistant, default_config, load_or_train_nlu
    from selflearn.simulate.run import simulate_to_workspace
    from selflearn.simulate.traffic import SimConfig, Simulator

    nlu = load_or_train_nlu(ws, seed=0)  # the default assistant's
    assistant = build_assistant(default_config(seed=0, nlu=nlu))
    t0 = time.perf_counter()
    sim = Simulator(SimConfig(users=users, seed=seed))
    summary = simulate_to_workspace(sim, assistant, days, ws)
    secs = time.perf_counter() - t0
    return {
        "kind": "distinct",
        "description": f"{users:,} simulated people x {days} days, seed {seed}: every session distinct",
        "users": users,
        "days": days,
        "seed": seed,
        "turns": summary.turns,
        "simulate_s": round(secs, 1),
        "simulate_turns_per_s": round(summary.turns / secs, 1) if secs else 0.0,
    }


def mining(ws: Path, detector: Any, engine: str) -> dict[str, Any]:
    for d in ("artifacts/rewrites",):
        shutil.rmtree(ws / d, ignore_errors=True)
    t0 = time.perf_counter()
    res = run_nightly(ws, NightlyConfig(engine=engine), detector=detector)
    secs = time.perf_counter() - t0
    return {
        "engine": engine,
        "turns": res.turns,
        "chains": res.chains,
        "rules": res.rules,
        "seconds": secs,
        "turns_per_s": res.turns / secs if secs else 0.0,
        **{k: round(v, 2) for k, v in res.timings.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--mine-users", type=int, default=9000, help="people in the mining log's population")
    ap.add_argument("--mine-days", type=int, default=7, help="days of the mining log")
    ap.add_argument("--mine-seed", type=int, default=100, help="the mining population's seed")
    ap.add_argument("--spark", action="store_true")
    ap.add_argument("--skip-loop", action="store_true")
    ap.add_argument("--skip-mining", action="store_true")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=RESULTS_DIR, help="where the result files go")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="selflearn-bench-"))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "loops": [],
    }
    mining_result: dict[str, Any] = {"machine": result["machine"], "log": None, "mining": []}
    if not args.skip_loop:
        for seed in args.seeds:
            r = loop(args.users, args.days, seed, work)
            result["loops"].append(r)
            print(
                f"seed {seed}: defect {r['first_day_defect_rate']:.1%} -> {r['last_day_defect_rate']:.1%} "
                f"(relative reduction {r['relative_reduction']:.1%}), win/loss {r['win_loss_ratio']:.1f} "
                f"({r['wins']}/{r['losses']}), {r['seconds']:.0f} s",
                flush=True,
            )
    if not args.skip_mining:
        src = Path(result["loops"][0]["workspace"]) if result["loops"] else None
        if src is None:
            src = work / "mining-source"
            run_loop(LoopConfig(users=300, days=3, seed=0), src)
        det = LexicalPhoneticRephraseDetector.load(Workspace(src).model_dir("rephrase"))
        big = work / "mining-log"
        mining_result["log"] = simulate_log(big, args.mine_users, args.mine_days, args.mine_seed)
        log = mining_result["log"]
        print(
            f"simulated mining log: {log['turns']:,} turns in {log['simulate_s']:.0f} s "
            f"({log['simulate_turns_per_s']:,.0f} turns/s)",
            flush=True,
        )
        engines = ["embedded"] + (["spark"] if args.spark else [])
        for eng in engines:
            m = mining(big, det, eng)
            mining_result["mining"].append(m)
            print(
                f"mining on {eng}: {m['turns']:,} turns in {m['seconds']:.1f} s "
                f"({m['turns_per_s']:,.0f} turns/s), "
                f"{m['rules']} rules",
                flush=True,
            )
    print()
    print(f"{'run':<28}{'defect d1':>10}{'defect dN':>10}{'reduction':>11}{'win/loss':>10}{'seconds':>9}")
    for r in result["loops"]:
        print(
            f"{'loop seed ' + str(r['seed']):<28}"
            f"{r['first_day_defect_rate']:>10.1%}{r['last_day_defect_rate']:>10.1%}"
            f"{r['relative_reduction']:>11.1%}{r['win_loss_ratio']:>10.1f}{r['seconds']:>9.0f}"
        )
    for m in mining_result["mining"]:
        print(f"{'mining ' + m['engine'] + ' ' + format(m['turns'], ','):<28}{'':>41}{m['seconds']:>9.1f}")
    args.results.mkdir(parents=True, exist_ok=True)
    for path, doc, ran in (
        (args.results / "rewrite_loop.json", result, not args.skip_loop),
        (args.results / "rewrite_mining.json", mining_result, not args.skip_mining),
    ):
        if ran:  # a part that was skipped keeps its earlier file (and that file's provenance)
            atomic_write_text(path, json.dumps(with_provenance(doc), indent=2))
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
