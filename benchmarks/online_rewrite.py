"""Online rewriting in the closed loop: precomputed only; + global online; + global + personal;
on the simulator and on the SLURP test bed, at the same seeds and sizes for every arm.

    .venv/bin/python benchmarks/online_rewrite.py [--users 300 --days 4 --seed 0]
        [--slurp-users 200 --slurp-days 4] [--steps 100] [--gate 0.9] [--quick]
        [--skip-sim] [--skip-slurp]

Per arm: the defect rate of the last day, the relative defect reduction over the run, wins and
losses of fired rewrites (truth: counterfactual replay without the rewrite), and the online
layers' own counters. "online adds" is the relative reduction of the last day's defect rate of
an arm against the arm before it (precomputed -> + global -> + personal). Also reports the gate's
recall cost and the fine-tuned encoder's retrieval recall@8 against the shipped one (held-out
users' pairs, from the last night's training). Prints a table and writes
benchmarks/results/online_rewrite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "online_rewrite.json"
SLURP = ROOT.parent / "shared" / "data" / "slurp" / "devel.jsonl"
ARMS = ("off", "global", "global+personal")
ARM_NAMES = {"off": "precomputed only", "global": "+ global online", "global+personal": "+ personal online"}


def _seed_models(src: Path | None, dst: Path) -> None:
    """Reuse the NLU and rephrase detector trained by the first arm (same seed: same models)."""
    if src is None:
        return
    models = src / "artifacts" / "models"
    if models.exists():
        shutil.copytree(models, dst / "artifacts" / "models", dirs_exist_ok=True)


def _summarise(report: dict[str, Any], seconds: float) -> dict[str, Any]:
    s = report["summary"]
    days = report["days"]
    online_fired = sum(int(d.get("online_stats", {}).get("fired", 0)) for d in days)
    last_train = next((d for d in reversed(days) if "online_training" in d), None)
    return {
        "first_day_defect_rate": s["first_day_defect_rate"],
        "last_day_defect_rate": s["last_day_defect_rate"],
        "mean_defect_rate_after_day1": sum(d["defect_rate"] for d in days[1:]) / max(1, len(days) - 1),
        "relative_reduction": s["relative_reduction"],
        "wins": s["wins"],
        "losses": s["losses"],
        "win_loss_ratio": s["win_loss_ratio"],
        "rewrites_fired": s["rewrites_fired"],
        "online_fired": online_fired,
        "per_day": [
            {
                k: d.get(k)
                for k in (
                    "day",
                    "defect_rate",
                    "rewrites_fired",
                    "wins",
                    "losses",
                    "online_stats",
                    "nightly_s",
                )
            }
            for d in days
        ],
        "last_training": None
        if last_train is None
        else {
            "training": last_train.get("online_training"),
            "ranker": last_train.get("online_ranker"),
            "encoder": last_train.get("online_encoder"),
        },
        "seconds": round(seconds, 1),
    }


def run_sim(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from selflearn.eval.loop import LoopConfig, run_loop

    out: dict[str, Any] = {}
    first: Path | None = None
    for arm in ARMS:
        ws = work / f"sim-{arm.replace('+', '_')}"
        _seed_models(first, ws)
        t0 = time.perf_counter()
        cfg = LoopConfig(
            users=args.users,
            days=args.days,
            seed=args.seed,
            online=arm,
            online_train={"fine_tune_steps": args.steps, "gate_nlu": args.gate},
            online_options={"gate_nlu": args.gate},
        )
        report = run_loop(cfg, ws)
        out[arm] = _summarise(report, time.perf_counter() - t0)
        first = first or ws
        _print_arm("simulator", arm, out[arm])
    return out


def run_slurp(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from selflearn.corpora.slurp import read_slurp, split_by_id
    from selflearn.eval.bench import BenchConfig, run_bench

    records = read_slurp(SLURP).records
    _train, goals = split_by_id(records, seed=args.seed)
    goal_ids = {r.slurp_id for r in goals}
    data = work / "slurp-data"
    data.mkdir(parents=True, exist_ok=True)
    lines = [ln for ln in SLURP.read_text(encoding="utf-8").splitlines() if ln.strip()]
    with open(data / "train.jsonl", "w") as tr, open(data / "goals.jsonl", "w") as go:
        for ln in lines:
            (go if json.loads(ln)["slurp_id"] in goal_ids else tr).write(ln + "\n")
    out: dict[str, Any] = {}
    first: Path | None = None
    for arm in ARMS:
        ws = work / f"slurp-{arm.replace('+', '_')}"
        _seed_models(first, ws)
        t0 = time.perf_counter()
        cfg = BenchConfig(
            goals=data / "goals.jsonl",
            train=data / "train.jsonl",
            users=args.slurp_users,
            days=args.slurp_days,
            seed=args.seed,
            progress=False,
            online=arm,
            online_train={"fine_tune_steps": args.steps, "gate_nlu": args.gate},
            online_options={"gate_nlu": args.gate},
        )
        report = run_bench(cfg, ws)
        out[arm] = _summarise(report, time.perf_counter() - t0)
        first = first or ws
        _print_arm("slurp", arm, out[arm])
    return out


def _print_arm(bed: str, arm: str, r: dict[str, Any]) -> None:
    print(
        f"{bed} {ARM_NAMES[arm]}: defect {r['first_day_defect_rate']:.1%} -> "
        f"{r['last_day_defect_rate']:.1%}, "
        f"wins/losses {r['wins']}/{r['losses']}, online fired {r['online_fired']}, {r['seconds']:.0f} s",
        flush=True,
    )


def _gains(arms: dict[str, Any], key: str) -> dict[str, float]:
    """Relative defect reduction of each arm against the one before it (on `key`)."""
    base, glob, pers = (arms[a][key] for a in ARMS)
    return {
        "online_global_vs_precomputed": (1 - glob / base) if base else 0.0,
        "online_all_vs_precomputed": (1 - pers / base) if base else 0.0,
        "personal_vs_global": (1 - pers / glob) if glob else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--slurp-users", type=int, default=200)
    ap.add_argument("--slurp-days", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=100, help="bi-encoder fine-tuning steps per night")
    ap.add_argument("--gate", type=float, default=0.9, help="skip retrieval above this NLU confidence")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--skip-slurp", action="store_true")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.quick:
        args.users, args.days, args.slurp_users, args.slurp_days, args.steps = 60, 2, 40, 2, 10
    os.environ.setdefault("SELFLEARN_TORCH_THREADS", "1")
    work = args.work or Path(tempfile.mkdtemp(prefix="selflearn-online-"))
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": {"online_adds": 0.15, "personal_adds": 0.05, "win_loss": 10.0},
    }
    if not args.skip_sim:
        result["simulator"] = run_sim(args, work)
    if not args.skip_slurp and SLURP.exists():
        result["slurp"] = run_slurp(args, work)
    print()
    print(
        f"{'test bed / arm':<34}{'defect d1':>10}{'defect dN':>10}{'mean d2+':>10}{'wins':>7}{'losses':>7}"
        f"{'W/L':>7}{'online':>8}"
    )
    for bed in ("simulator", "slurp"):
        if bed not in result:
            continue
        arms = result[bed]
        for arm in ARMS:
            r = arms[arm]
            print(
                f"{bed + ' ' + ARM_NAMES[arm]:<34}{r['first_day_defect_rate']:>10.1%}"
                f"{r['last_day_defect_rate']:>10.1%}{r['mean_defect_rate_after_day1']:>10.1%}{r['wins']:>7}"
                f"{r['losses']:>7}{r['win_loss_ratio']:>7.1f}{r['online_fired']:>8}"
            )
        arms["gains_last_day"] = _gains(arms, "last_day_defect_rate")
        arms["gains_mean_after_day1"] = _gains(arms, "mean_defect_rate_after_day1")
        g = arms["gains_mean_after_day1"]
        print(
            f"  {bed}: online (global) adds {g['online_global_vs_precomputed']:.1%} (target >= 15%), "
            f"personal adds {g['personal_vs_global']:.1%} (target >= 5%) [mean defect rate, days 2+]"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from selflearn.util.atomic import atomic_write_text

    atomic_write_text(args.out, json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out} (workspaces under {work})")


if __name__ == "__main__":
    main()
