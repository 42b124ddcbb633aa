"""Online rewriting in the closed loop: precomputed only; + global online; + global + personal;
on three test beds, at the same seeds and sizes for every arm:

* ``simulator``: ordinary simulated traffic;
* ``simulator_personal``: the same with personal patterns on (`--personal-share`, default 0.3, of
  people use private names for their things: SimConfig.personal_share, simulate/personal.py), the
  kind of pattern fewer than k users share, which only a personal layer can learn;
* ``slurp``: the SLURP test bed (recorded people's utterances; no personal-pattern knob).

    .venv/bin/python benchmarks/online_rewrite.py [--beds simulator,simulator_personal,slurp]
        [--users 300 --days 4 --seeds 0,1] [--slurp-users 200 --slurp-days 4] [--from-day 3]
        [--steps 60] [--gate 0.95] [--personal-share 0.3] [--quick] [--out FILE]
    .venv/bin/python benchmarks/online_rewrite.py --merge A.json B.json C.json   # parallel runs

Arms see paired traffic (SimConfig.paired_streams, off with `--unpaired`): every session and every
goal in it draws from its own random stream, so a rewrite that changes one goal's outcome leaves
everything else people do unchanged, and arm differences measure the rewriter, not reshuffled dice.

Per arm and seed: the defect rate of every day, wins and losses of fired rewrites (truth:
counterfactual replay without the rewrite), and the online layers' own counters. The day-to-day
noise of one seed's last day is about +-1.5 points, so targets are judged on the **mean defect rate
over days `--from-day`..N, averaged over the seeds** ("robust"); the last day's numbers are kept
beside them. "online adds" is the relative reduction of an arm's defect rate against the arm before
it (precomputed -> + global -> + personal).

Diagnostics (the benchmark may read truth; the learner never does): with the online rewriter's
decision trace, every failing request of days 2..N is put in one bucket: fixed by the precomputed
table, skipped by the gate, retrieval had no candidate of the goal's intent, a candidate of the
goal's intent was retrieved but the ranker did not fire, or it fired and the request still failed.

Models (NLU, rephrase detector) are trained once at the first seed and reused by every arm and
seed; seeds vary the population and its traffic (SLURP: the goal/train split stays that of the
first seed, so the NLU is the same). Prints a table and writes benchmarks/results/online_rewrite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from provenance import with_provenance

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "online_rewrite.json"
SLURP = ROOT.parent / "shared" / "data" / "slurp" / "devel.jsonl"
REAL_ASR = SLURP.parent / "real_asr"
ARMS = ("off", "global", "global+personal")
BEDS = ("simulator", "simulator_personal", "slurp")
ARM_NAMES = {"off": "precomputed only", "global": "+ global online", "global+personal": "+ personal online"}
TRACE = "online_trace.jsonl"


def _seed_models(src: Path | None, dst: Path) -> None:
    """Reuse the NLU and rephrase detector trained by the first run (same models for every arm)."""
    if src is None:
        return
    from selflearn.util.workspace import ARTIFACT_KINDS

    for kind in ARTIFACT_KINDS.values():
        for rel in (kind.directory, kind.legacy) if kind.model else ():
            if rel is not None and (src / rel).exists():
                shutil.copytree(src / rel, dst / rel, dirs_exist_ok=True)


def _diagnose(ws: Path) -> dict[str, Any]:
    """Why failing requests were not fixed: join the online trace with the truth table."""
    from selflearn.simulate.truth import read_truth

    trace_file = ws / TRACE
    truth = read_truth(ws)
    rows = truth.filter(truth.column("is_request")).to_pylist()
    trace: dict[str, dict[str, Any]] = {}
    if trace_file.exists():
        for ln in trace_file.read_text(encoding="utf-8").splitlines():
            rec = json.loads(ln)
            trace[rec["turn_id"]] = rec
    buckets: Counter[str] = Counter()
    fired_ok = 0
    for r in rows:
        if r["day"] < 2:
            continue
        t = trace.get(r["turn_id"])
        if r["success"]:
            if r["rewrite_fired"] and not r["success_without_rewrite"]:
                fired_ok += 1
            continue
        if r["rewrite_fired"] and t is None:
            buckets["precomputed fired, still failed"] += 1
        elif t is None:
            buckets["no online decision (precomputed/empty/off)"] += 1
        elif t["gated"]:
            buckets["gated (looked fine)"] += 1
        elif t["fired"] is not None:
            buckets["online fired, still failed"] += 1
        else:
            intents = {(c["interpretation"] or "").split("|")[0] for c in t["candidates"]}
            if r["goal_intent"] in intents:
                buckets["goal intent retrieved, ranker did not fire"] += 1
            else:
                buckets["no candidate of the goal intent"] += 1
    failing = sum(buckets.values())
    return {
        "failing_requests_day2plus": failing,
        "fixed_by_a_rewrite_day2plus": fired_ok,
        "buckets": dict(buckets.most_common()),
    }


def _summarise(
    report: dict[str, Any], seconds: float, from_day: int, ws: Path, online: bool
) -> dict[str, Any]:
    s = report["summary"]
    days = report["days"]
    online_fired = sum(int(d.get("online_stats", {}).get("fired", 0)) for d in days)
    last_train = next((d for d in reversed(days) if "online_training" in d), None)
    tail = [d["defect_rate"] for d in days if d["day"] >= from_day] or [days[-1]["defect_rate"]]
    out = {
        "first_day_defect_rate": s["first_day_defect_rate"],
        "last_day_defect_rate": s["last_day_defect_rate"],
        "mean_defect_rate_after_day1": sum(d["defect_rate"] for d in days[1:]) / max(1, len(days) - 1),
        f"mean_defect_rate_from_day{from_day}": sum(tail) / len(tail),
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
    out["diagnosis"] = _diagnose(ws)
    return out


def _online_kwargs(args: argparse.Namespace, ws: Path) -> dict[str, Any]:
    return {
        "online_train": {
            "fine_tune_steps": args.steps,
            "gate_nlu": args.gate,
            **({"target_precision": args.precision} if args.precision is not None else {}),
            **({"gate_friction": True} if getattr(args, "gate_friction", False) else {}),
        },
        "online_options": {"gate_nlu": args.gate, "trace": str(ws / TRACE)},
    }


def _kept(args: argparse.Namespace, arm: str, ws: Path) -> dict[str, Any] | None:
    """An arm finished by an earlier run of the same code (--reuse-arms): its report, summarised
    again, instead of running it again. Arms the change under test does not touch (precomputed
    only, the global layer alone) need not be rerun to measure a change to another."""
    if arm not in args.reuse_arms.split(",") or not (ws / "report.json").is_file():
        return None
    report = json.loads((ws / "report.json").read_text(encoding="utf-8"))
    out = _summarise(report, 0.0, args.from_day, ws, arm != "off")
    out["reused"] = True
    return out


def run_sim(
    args: argparse.Namespace, work: Path, seed: int, models: Path | None, share: float = 0.0
) -> tuple[dict[str, Any], Path]:
    from selflearn.eval.loop import LoopConfig, run_loop

    out: dict[str, Any] = {}
    prefix = f"sim-p{share:g}" if share else "sim"
    for arm in ARMS:
        ws = work / f"{prefix}-s{seed}-{arm.replace('+', '_')}"
        if (kept := _kept(args, arm, ws)) is not None:
            out[arm] = kept
            models = models or ws
            _print_arm(f"{prefix} s{seed}", arm, out[arm], args.from_day)
            continue
        _seed_models(models, ws)
        t0 = time.perf_counter()
        cfg = LoopConfig(
            users=args.users,
            days=args.days,
            seed=seed,
            online=arm,
            personal_share=share,
            paired_streams=not args.unpaired,
            realistic_sessions=args.sessions == "realistic",
            asr_error_rate=args.asr_error_rate,
            **_online_kwargs(args, ws),
        )
        report = run_loop(cfg, ws)
        out[arm] = _summarise(report, time.perf_counter() - t0, args.from_day, ws, arm != "off")
        models = models or ws
        _print_arm(f"{prefix} s{seed}", arm, out[arm], args.from_day)
    assert models is not None
    return out, models


def _slurp_data(work: Path, split_seed: int) -> Path:
    from selflearn.corpora.slurp import read_slurp, split_by_id

    data = work / "slurp-data"
    if (data / "goals.jsonl").exists():
        return data
    records = read_slurp(SLURP).records
    _train, goals = split_by_id(records, seed=split_seed)
    goal_ids = {r.slurp_id for r in goals}
    data.mkdir(parents=True, exist_ok=True)
    lines = [ln for ln in SLURP.read_text(encoding="utf-8").splitlines() if ln.strip()]
    with open(data / "train.jsonl", "w") as tr, open(data / "goals.jsonl", "w") as go:
        for ln in lines:
            (go if json.loads(ln)["slurp_id"] in goal_ids else tr).write(ln + "\n")
    return data


def run_slurp(
    args: argparse.Namespace, work: Path, seed: int, models: Path | None, split_seed: int
) -> tuple[dict[str, Any], Path]:
    from selflearn.eval.bench import BenchConfig, run_bench

    if args.slurp_bed == "real_asr":
        # The default SLURP bed (issue 20): train on devel, goals = real test requests heard as a
        # real recognizer heard their recordings.
        bed: dict[str, Any] = {
            "train": SLURP,
            "goals": REAL_ASR / "requests.jsonl",
            "asr": "replay",
            "recognitions": REAL_ASR / "recognitions.jsonl",
        }
    else:
        data = _slurp_data(work, split_seed)
        bed = {"train": data / "train.jsonl", "goals": data / "goals.jsonl"}
    out: dict[str, Any] = {}
    for arm in ARMS:
        ws = work / f"slurp-s{seed}-{arm.replace('+', '_')}"
        if (kept := _kept(args, arm, ws)) is not None:
            out[arm] = kept
            models = models or ws
            _print_arm(f"slurp s{seed}", arm, out[arm], args.from_day)
            continue
        _seed_models(models, ws)
        t0 = time.perf_counter()
        cfg = BenchConfig(
            **bed,
            users=args.slurp_users,
            days=args.slurp_days,
            seed=seed,
            progress=False,
            online=arm,
            paired_streams=not args.unpaired,
            online_catalog=not args.no_catalog,
            **_online_kwargs(args, ws),
        )
        report = run_bench(cfg, ws)
        out[arm] = _summarise(report, time.perf_counter() - t0, args.from_day, ws, arm != "off")
        models = models or ws
        _print_arm(f"slurp s{seed}", arm, out[arm], args.from_day)
    assert models is not None
    return out, models


def _print_arm(bed: str, arm: str, r: dict[str, Any], from_day: int) -> None:
    print(
        f"{bed} {ARM_NAMES[arm]}: defect {r['first_day_defect_rate']:.1%} -> "
        f"{r['last_day_defect_rate']:.1%} "
        f"(mean d{from_day}+ {r[f'mean_defect_rate_from_day{from_day}']:.1%}), "
        f"wins/losses {r['wins']}/{r['losses']}, online fired {r['online_fired']}, {r['seconds']:.0f} s; "
        f"{r['diagnosis']['buckets']}",
        flush=True,
    )


def _gains(rates: dict[str, float]) -> dict[str, float]:
    """Relative defect reduction of each arm against the one before it."""
    base, glob, pers = (rates[a] for a in ARMS)
    return {
        "online_global_vs_precomputed": (1 - glob / base) if base else 0.0,
        "online_all_vs_precomputed": (1 - pers / base) if base else 0.0,
        "personal_vs_global": (1 - pers / glob) if glob else 0.0,
    }


def _aggregate(per_seed: dict[int, dict[str, Any]], robust_key: str) -> dict[str, Any]:
    seeds = sorted(per_seed)
    agg: dict[str, Any] = {}
    for arm in ARMS:
        rs = [per_seed[s][arm] for s in seeds]
        wins, losses = sum(r["wins"] for r in rs), sum(r["losses"] for r in rs)
        agg[arm] = {
            "robust_defect_rate": sum(r[robust_key] for r in rs) / len(rs),
            "last_day_defect_rate": sum(r["last_day_defect_rate"] for r in rs) / len(rs),
            "first_day_defect_rate": sum(r["first_day_defect_rate"] for r in rs) / len(rs),
            "wins": wins,
            "losses": losses,
            "win_loss_ratio": wins / max(losses, 1),
            "online_wins_losses": None,
        }
    robust = _gains({a: agg[a]["robust_defect_rate"] for a in ARMS})
    last = _gains({a: agg[a]["last_day_defect_rate"] for a in ARMS})
    per = {str(s): _gains({a: per_seed[s][a][robust_key] for a in ARMS}) for s in seeds}
    return {"arms": agg, "gains_robust": robust, "gains_last_day": last, "gains_robust_per_seed": per}


def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.quick:
        args.users, args.days, args.slurp_users, args.slurp_days, args.steps = 60, 3, 40, 3, 10
    seeds = [int(x) for x in str(args.seeds).split(",") if x.strip()]
    beds = [b for b in str(args.beds).split(",") if b.strip()]
    unknown = set(beds) - set(BEDS)
    if unknown:
        raise SystemExit(f"unknown beds {sorted(unknown)}; choose from {BEDS}")
    if args.skip_sim:
        beds = [b for b in beds if not b.startswith("simulator")]
    if args.skip_slurp or not SLURP.exists():
        beds = [b for b in beds if b != "slurp"]
    os.environ.setdefault("SELFLEARN_TORCH_THREADS", "1")
    work = args.work or Path(tempfile.mkdtemp(prefix="selflearn-online-"))
    robust_key = f"mean_defect_rate_from_day{args.from_day}"
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "targets": {"online_adds": 0.15, "personal_adds": 0.05, "win_loss": 10.0},
        "judged_on": "gains_robust: relative reduction of the mean defect rate over days "
        f"{args.from_day}..N, averaged over seeds {seeds}; gains_last_day kept for comparison",
        "robust_key": robust_key,
        "seeds": seeds,
    }
    t_all = time.perf_counter()
    for bed in beds:
        t_bed = time.perf_counter()
        per_seed: dict[int, dict[str, Any]] = {}
        models: Path | None = args.models
        for seed in seeds:
            if bed == "simulator":
                per_seed[seed], models = run_sim(args, work, seed, models)
            elif bed == "simulator_personal":
                per_seed[seed], models = run_sim(args, work, seed, models, share=args.personal_share)
            else:
                split = seeds[0] if args.slurp_split_seed is None else args.slurp_split_seed
                per_seed[seed], models = run_slurp(args, work, seed, models, split)
        result[bed] = {"seeds": {str(x): r for x, r in per_seed.items()}, **_aggregate(per_seed, robust_key)}
        result[bed]["seconds"] = round(time.perf_counter() - t_bed, 1)
        if bed == "simulator_personal":
            result[bed]["personal_share"] = args.personal_share
    result["seconds"] = round(time.perf_counter() - t_all, 1)
    _table(result)
    print(f"workspaces under {work}")
    return result


def _merge(files: list[Path]) -> dict[str, Any]:
    parts = [json.loads(Path(f).read_text(encoding="utf-8")) for f in files]
    out: dict[str, Any] = {k: v for k, v in parts[0].items() if k not in BEDS}
    out["merged_from"] = [str(f) for f in files]
    # each part's own provenance (None for a part written before provenance existed): report.py
    # judges the merged result as old as its oldest part
    out["merged_provenance"] = [p.get("provenance") for p in parts]
    out["seconds_per_file"] = [p.get("seconds") for p in parts]
    out["seconds"] = max(float(p.get("seconds") or 0.0) for p in parts)  # they ran in parallel
    seed_runs: dict[str, dict[int, dict[str, Any]]] = {}
    for p in parts:
        for bed in BEDS:
            if bed not in p:
                continue
            runs = seed_runs.setdefault(bed, {})
            for seed, r in p[bed]["seeds"].items():  # one bed's seeds may come from several files
                if int(seed) in runs:
                    raise SystemExit(f"bed {bed} seed {seed} appears in more than one file")
                runs[int(seed)] = r
            out[bed] = {**out.get(bed, {}), **{k: v for k, v in p[bed].items() if k != "seeds"}}
    for bed, runs in seed_runs.items():
        out[bed].update(
            {"seeds": {str(x): r for x, r in sorted(runs.items())}, **_aggregate(runs, out["robust_key"])}
        )
        if len({id(p) for p in parts if bed in p}) > 1:
            out[bed]["seconds"] = max(float(p[bed].get("seconds") or 0.0) for p in parts if bed in p)
    out["seeds"] = sorted({x for runs in seed_runs.values() for x in runs})
    return out


def _table(result: dict[str, Any]) -> None:
    key = result["robust_key"]
    print()
    robust = "mean d" + key.rsplit("day", 1)[-1] + "+"
    print(
        f"{'test bed / arm':<40}{'seed':>5}{'defect d1':>10}{'dN':>8}{robust:>12}"
        f"{'wins':>6}{'losses':>7}{'W/L':>7}{'online':>7}"
    )
    for bed in BEDS:
        if bed not in result:
            continue
        bed_seeds = sorted(int(x) for x in result[bed]["seeds"])  # beds may run different seeds
        for arm in ARMS:
            for x in bed_seeds:
                r = result[bed]["seeds"][str(x)][arm]
                print(
                    f"{bed + ' ' + ARM_NAMES[arm]:<40}{x:>5}{r['first_day_defect_rate']:>10.1%}"
                    f"{r['last_day_defect_rate']:>8.1%}{r[key]:>12.1%}{r['wins']:>6}"
                    f"{r['losses']:>7}{r['win_loss_ratio']:>7.1f}{r['online_fired']:>7}"
                )
            a = result[bed]["arms"][arm]
            print(
                f"{bed + ' ' + ARM_NAMES[arm]:<40}{'all':>5}{a['first_day_defect_rate']:>10.1%}"
                f"{a['last_day_defect_rate']:>8.1%}{a['robust_defect_rate']:>12.1%}{a['wins']:>6}"
                f"{a['losses']:>7}{a['win_loss_ratio']:>7.1f}"
            )
    for bed in BEDS:
        if bed not in result:
            continue
        g, gl = result[bed]["gains_robust"], result[bed]["gains_last_day"]
        wl = min(result[bed]["arms"][a]["win_loss_ratio"] for a in ARMS[1:])
        print(
            f"  {bed}: online (global) adds {g['online_global_vs_precomputed']:.1%} "
            f"(target >= 15%; last day {gl['online_global_vs_precomputed']:.1%}), "
            f"personal adds {g['personal_vs_global']:.1%} "
            f"(target >= 5%; last day {gl['personal_vs_global']:.1%}), lowest online W/L {wl:.1f} "
            f"[robust: mean defect rate {key}, over seeds {sorted(int(x) for x in result[bed]['seeds'])}]"
        )
    for bed in BEDS:
        for x in sorted(int(s) for s in result[bed]["seeds"]) if bed in result else []:
            for arm in ARMS[1:]:
                d = result[bed]["seeds"][str(x)][arm]["diagnosis"]
                print(f"  diagnosis {bed} s{x} {ARM_NAMES[arm]}: {d['buckets']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--slurp-users", type=int, default=200)
    ap.add_argument("--slurp-days", type=int, default=4)
    ap.add_argument("--seeds", type=str, default="0,1", help="comma-separated population seeds")
    ap.add_argument(
        "--slurp-split-seed",
        type=int,
        default=None,
        help="SLURP goal/train split seed (default: the first of --seeds); fix it to 0 to run seed 1 "
        "alone comparably with a --seeds 0,1 run",
    )
    ap.add_argument(
        "--models",
        type=Path,
        default=None,
        help="a workspace whose artifacts/models (NLU, rephrase detector) every arm reuses, e.g. the "
        "first seed's 'off' arm of another run: runs one seed alone with the models of a --seeds 0,1 run",
    )
    ap.add_argument("--from-day", type=int, default=3, help="robust metric: mean defect rate of days >= this")
    ap.add_argument("--steps", type=int, default=60, help="bi-encoder fine-tuning steps per night")
    ap.add_argument("--gate", type=float, default=0.95, help="skip retrieval above this NLU confidence")
    ap.add_argument(
        "--precision", type=float, default=None, help="ranker precision floor (default: OnlineTrainConfig's)"
    )
    ap.add_argument(
        "--personal-share",
        type=float,
        default=0.3,
        help="the simulator_personal bed's SimConfig.personal_share (people with private names)",
    )
    ap.add_argument(
        "--unpaired",
        action="store_true",
        help="arms draw from household-day streams (the old way) instead of common random numbers "
        "per session and goal (SimConfig.paired_streams), which pairs the arms' traffic",
    )
    ap.add_argument(
        "--no-catalog",
        action="store_true",
        help="SLURP: the global layer holds logged successes only, not also the training file's "
        "requests (BenchConfig.online_catalog)",
    )
    ap.add_argument(
        "--sessions",
        choices=("classic", "realistic"),
        default="realistic",
        help="simulator beds: classic sessions, or realistic pacing and chaining (realistic_sessions)",
    )
    ap.add_argument(
        "--asr-error-rate",
        type=float,
        default=None,
        help="simulator beds: the noisy channel's error rate (default: the assistant's, 0.06)",
    )
    ap.add_argument(
        "--gate-friction",
        action="store_true",
        help="train and serve with OnlineTrainConfig.gate_friction (requests k people had to say again "
        "pass the gate)",
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    ap.add_argument("--beds", default=",".join(BEDS), help=f"comma-separated, of {', '.join(BEDS)}")
    ap.add_argument("--skip-sim", action="store_true", help="drop both simulator beds")
    ap.add_argument("--skip-slurp", action="store_true")
    ap.add_argument(
        "--slurp-bed",
        choices=("real_asr", "devel_split"),
        default="real_asr",
        help="SLURP bed: real requests heard by a real recognizer (real_asr/, replayed; default), or "
        "devel split into train and goals heard through the noisy channel (the old bed)",
    )
    ap.add_argument(
        "--reuse-arms",
        default="",
        help="comma-separated arms (off, global) whose finished workspaces under --work are read "
        "instead of run again",
    )
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="combine result files of runs over disjoint beds (e.g. run in parallel) into --out",
    )
    args = ap.parse_args()
    if args.merge:
        result = _merge(args.merge)
        _table(result)
    else:
        result = _run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from selflearn.util.atomic import atomic_write_text

    atomic_write_text(args.out, json.dumps(with_provenance(result), indent=2, default=str))
    print(f"wrote {args.out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
