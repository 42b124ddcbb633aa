"""The rewriting issue's measured claims: the closed loop's defect reduction and win/loss on the
simulator at fixed seeds, and mining throughput on a ~1M-turn log (embedded engine, and Spark
local when --spark is given).

    .venv/bin/python benchmarks/rewrite_loop.py [--users 1000 --days 7 --seeds 0 1]
        [--mine-turns 1000000] [--spark] [--skip-loop] [--skip-mining]

The 1M-turn log is made by replicating a simulated log under fresh user, household, session and
turn ids (so sessions, chains and distinct-user counts scale like a bigger population). Prints a
table and writes benchmarks/results/rewrite_loop.json.
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

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selflearn.eval.loop import LoopConfig, run_loop
from selflearn.feedback.rephrase_baseline import LexicalPhoneticRephraseDetector
from selflearn.jobs.nightly import NightlyConfig, run_nightly
from selflearn.logs.io import list_log_files

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "rewrite_loop.json"
ID_COLUMNS = ("turn_id", "session_id", "user_id", "household_id")


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


def replicate_log(src_ws: Path, dst_ws: Path, target_turns: int) -> int:
    """Copy src's log into dst enough times, each copy under fresh ids, to reach target_turns."""
    files = list_log_files(src_ws / "logs")
    tables = [pq.read_table(f) for f in files]
    base = pa.concat_tables(tables, promote_options="default")
    copies = max(1, -(-target_turns // base.num_rows))
    out_dir = dst_ws / "logs" / "day=0001"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for k in range(copies):
        t = base
        for col in ID_COLUMNS:
            i = t.schema.get_field_index(col)
            t = t.set_column(i, col, pc.binary_join_element_wise(t[col], pa.scalar(f"r{k}"), "~"))
        pq.write_table(t, out_dir / f"part-{k:05d}.parquet")
        written += t.num_rows
    return written


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
    ap.add_argument("--mine-turns", type=int, default=1_000_000)
    ap.add_argument("--spark", action="store_true")
    ap.add_argument("--skip-loop", action="store_true")
    ap.add_argument("--skip-mining", action="store_true")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="selflearn-bench-"))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "loops": [],
        "mining": [],
    }
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
        det = LexicalPhoneticRephraseDetector.load(src / "artifacts" / "models" / "rephrase")
        big = work / "mining-1m"
        n = replicate_log(src, big, args.mine_turns)
        print(f"replicated log: {n:,} turns", flush=True)
        engines = ["embedded"] + (["spark"] if args.spark else [])
        for eng in engines:
            m = mining(big, det, eng)
            result["mining"].append(m)
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
    for m in result["mining"]:
        print(f"{'mining ' + m['engine'] + ' ' + format(m['turns'], ','):<28}{'':>41}{m['seconds']:>9.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
