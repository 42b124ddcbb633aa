"""The headline: the closed loop against a control arm on the same traffic, over several seeds,
on the simulator and on real recognition (issue 20).

    .venv/bin/python benchmarks/closed_loop.py [--beds simulator,slurp_real_asr]
        [--arms precomputed,precomputed+online] [--seeds 0 1 2 3 4] [--quick]

Beds:

* ``simulator``: the reference assistant and the user simulator, realistic sessions, 1,000 people
  x 7 days (`selflearn demo`'s loop, `eval.loop`);
* ``slurp_real_asr``: SLURP through the bench (`eval.bench`): NLU trained on ``devel.jsonl``, goals
  = the 1,000 requests of ``real_asr/requests.jsonl``, heard as a real recognizer heard their real
  recordings (``--asr replay``, ``real_asr/recognitions.jsonl``; a retry of the same wording takes
  another recording of the request), 300 people x 7 days, the strict judge (`eval.bench.JUDGING`).

Arms (the learning side; each bed always runs its control arm beside it on the same traffic):

* ``precomputed``: the nightly Markov miner's rewrite table alone;
* ``precomputed+online``: plus the online global and personal layers (retrieval + ranking);
* ``precomputed+nlu``, ``precomputed+online+nlu``: plus the nightly understanding step (the NLU
  retrained on rephrased wordings, gated on held-back people's logs; issue 23). Not run by
  default; their entries also carry the understanding model's wins and losses (``nlu_wins``,
  ``nlu_losses``: requests the retrained model read right where the starting one would not have,
  and the reverse, by the truth).

Per bed and arm: ``vs_control``, ``first_attempt`` and ``goal_success`` from the pooled report
(`docs/report.md`: means over seeds, 95% bootstrap over people, a t interval across seeds), wins,
losses and the run's time. Each entry records the command and commit that made it, so parts can
be rerun and merged (``--merge``, the default, keeps entries this run does not remake;
``--combine`` joins the files of runs made in parallel). The
shared data lives in ``../shared/data/slurp`` (``--slurp-dir``); without it the SLURP bed is
skipped with a message.

Prints a table and writes benchmarks/results/closed_loop.json:
``{"provenance": ..., "target": ..., "beds": {bed: {"description", "config",
"arms": {arm: {"vs_control", "first_attempt", "goal_success", "wins", "losses", "win_loss_ratio",
"seeds", "seconds", "provenance"}}}}}``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from provenance import provenance, with_provenance
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "closed_loop.json"
SLURP_DIR = ROOT.parent / "shared" / "data" / "slurp"

BEDS = ("simulator", "slurp_real_asr")
#: arm -> (online layers, understanding step on)
ARMS: dict[str, tuple[str, bool]] = {
    "precomputed": ("off", False),
    "precomputed+online": ("global+personal", False),
    "precomputed+nlu": ("off", True),
    "precomputed+online+nlu": ("global+personal", True),
}
DEFAULT_ARMS = ("precomputed", "precomputed+online")
FIGURES = ("vs_control", "first_attempt", "goal_success")
#: Where later issues are headed (issue 20): >= 30% fewer defects than control on both beds, with
#: the interval's lower end above 20%. Reported, not tuned to.
TARGET = {"relative_reduction": 0.30, "ci95_low": 0.20}


def run_simulator(
    arm: str, seeds: list[int], users: int, days: int, work: Path, parallel: int = 1
) -> dict[str, Any]:
    from selflearn.eval.loop import LoopConfig, run_loop

    online, nlu = ARMS[arm]
    cfg = LoopConfig(
        users=users,
        days=days,
        seed=seeds[0],
        seeds=seeds,
        online=online,
        nlu={} if nlu else None,
        processes=parallel,
    )
    return run_loop(cfg, work, status=_status(f"simulator/{arm}"))


def run_slurp(
    arm: str, seeds: list[int], users: int, days: int, work: Path, slurp: Path, parallel: int = 1
) -> dict[str, Any]:
    from selflearn.eval.bench import BenchConfig, run_bench

    cfg = BenchConfig(
        goals=slurp / "real_asr" / "requests.jsonl",
        train=slurp / "devel.jsonl",
        asr="replay",
        recognitions=slurp / "real_asr" / "recognitions.jsonl",
        users=users,
        days=days,
        seed=seeds[0],
        seeds=seeds,
        online=ARMS[arm][0],
        nightly={"nlu": {}} if ARMS[arm][1] else {},
        progress=False,
        processes_seeds=parallel,
    )
    return run_bench(cfg, work, status=_status(f"slurp_real_asr/{arm}"))


def _status(prefix: str) -> Any:
    last = [0.0]

    def say(msg: str) -> None:
        now = time.perf_counter()
        if now - last[0] > 20 or ("day" in msg and "night" not in msg):
            print(f"  [{prefix}] {msg}", file=sys.stderr, flush=True)
            last[0] = now

    return say


def entry(report: dict[str, Any], seconds: float, made_by: dict[str, Any]) -> dict[str, Any]:
    """One arm's figures; `made_by` is the provenance taken when the run started (a commit made
    while a long run goes on must not be credited with its result)."""
    s = report["summary"]
    out: dict[str, Any] = {fig: s[fig] for fig in FIGURES if fig in s}
    out.update(
        {
            "wins": s.get("wins", 0),
            "losses": s.get("losses", 0),
            "win_loss_ratio": s.get("win_loss_ratio", 0.0),
            "seeds": report["config"].get("seeds", [report["config"].get("seed")]),
            "seconds": round(seconds, 1),
            "provenance": made_by,
        }
    )
    days = report.get("days", [])
    if any("nlu_wins" in d for d in days):
        out["nlu_wins"] = int(sum(d.get("nlu_wins", 0) for d in days))
        out["nlu_losses"] = int(sum(d.get("nlu_losses", 0) for d in days))
    vs = out.get("vs_control")
    if vs:
        # The lower end of the wider interval: people share learned rewrites, so the bootstrap over
        # people is narrower than the spread between seeds (docs/report.md).
        low = min(vs["ci95"][0], *(vs.get("ci95_seeds") or [vs["ci95"][0]]))
        enough = vs["relative_reduction"] >= TARGET["relative_reduction"]
        out["meets_target"] = bool(enough and low > TARGET["ci95_low"])
    return out


def _pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def print_table(result: dict[str, Any]) -> None:
    print(
        f"\n{'bed':16} {'arm':20} {'seeds':>5} {'control':>8} {'learning':>9} "
        f"{'reduction (95% CI people; seeds)':>40} {'first att.':>11} {'goals':>7} {'W/L':>9}"
    )
    for bed, b in result["beds"].items():
        for arm, e in b.get("arms", {}).items():
            vs = e.get("vs_control")
            if not vs:
                continue
            lo, hi = vs["ci95"]
            seeds_ci = vs.get("ci95_seeds")
            sci = f"; {100 * seeds_ci[0]:.1f} to {100 * seeds_ci[1]:.1f}" if seeds_ci else ""
            red = f"{_pct(vs['relative_reduction'])} ({100 * lo:.1f} to {100 * hi:.1f}{sci})"
            print(
                f"{bed:16} {arm:20} {len(e['seeds']):>5} {_pct(vs['defect_rate_control']):>8} "
                f"{_pct(vs['defect_rate_learning']):>9} {red:>40} "
                f"{_pct(e['first_attempt']['relative_reduction']):>11} "
                f"{_pct(e['goal_success']['relative_reduction']):>7} {e['wins']:>5}/{e['losses']:<3}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--beds", default=",".join(BEDS), help=f"comma-separated, of {', '.join(BEDS)}")
    ap.add_argument("--arms", default=",".join(DEFAULT_ARMS), help=f"comma-separated, of {', '.join(ARMS)}")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--sim-users", type=int, default=1000)
    ap.add_argument("--slurp-users", type=int, default=300)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--slurp-dir", type=Path, default=SLURP_DIR)
    ap.add_argument(
        "--parallel", type=int, default=1, help="seeds run at once, each in its own process (same results)"
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes (40 people, 3 days), to check it runs")
    ap.add_argument("--work", type=Path, default=None, help="workspaces (default: a temporary directory)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-merge", dest="merge", action="store_false", help="drop entries not remade")
    ap.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        default=None,
        help="combine result files of runs over disjoint beds/arms (e.g. run in parallel) into --out; "
        "each arm keeps its own provenance",
    )
    a = ap.parse_args(argv)
    if a.combine:
        sources = [str(f) for f in a.combine]
        combined: dict[str, Any] = {"beds": {}, "target": TARGET, "combined_from": sources}
        for f in a.combine:
            for bed, b in json.loads(f.read_text()).get("beds", {}).items():
                into = combined["beds"].setdefault(bed, {"arms": {}})
                into.update({k: v for k, v in b.items() if k != "arms"})
                for arm, e in b.get("arms", {}).items():
                    if arm in into["arms"]:
                        ap.error(f"{bed}/{arm} appears in more than one of --combine's files")
                    into["arms"][arm] = e
        atomic_write_text(a.out, json.dumps(with_provenance(combined), indent=2))
        print_table(combined)
        print(f"\nwrote {a.out}")
        return 0
    beds = [b for b in a.beds.split(",") if b]
    arms = [x for x in a.arms.split(",") if x]
    for b in beds:
        if b not in BEDS:
            ap.error(f"unknown bed {b!r}; choose from {', '.join(BEDS)}")
    for x in arms:
        if x not in ARMS:
            ap.error(f"unknown arm {x!r}; choose from {', '.join(ARMS)}")
    if len(set(a.seeds)) != len(a.seeds):
        ap.error("--seeds must be distinct")
    sim_users, slurp_users, days = a.sim_users, a.slurp_users, a.days
    if a.quick:
        sim_users, slurp_users, days = 40, 40, 3

    result: dict[str, Any] = {"beds": {}}
    if a.merge and a.out.exists():
        old = json.loads(a.out.read_text())
        result["beds"] = old.get("beds", {})
    result["target"] = TARGET
    work = a.work or Path(tempfile.mkdtemp(prefix="closed-loop-"))
    descriptions = {
        "simulator": (
            f"reference assistant + user simulator, realistic sessions, {sim_users} people x {days} days"
        ),
        "slurp_real_asr": (
            f"SLURP real requests heard by a real recognizer (replay), NLU trained on devel.jsonl, "
            f"{slurp_users} people x {days} days, strict judge"
        ),
    }
    for bed in beds:
        if bed == "slurp_real_asr" and not (a.slurp_dir / "real_asr" / "recognitions.jsonl").exists():
            print(f"skipping {bed}: no {a.slurp_dir / 'real_asr'}", file=sys.stderr)
            continue
        b = result["beds"].setdefault(bed, {"arms": {}})
        b["description"] = descriptions[bed]
        b["config"] = {"users": sim_users if bed == "simulator" else slurp_users, "days": days}
        for arm in arms:
            where = work / bed / arm.replace("+", "-")
            shutil.rmtree(where, ignore_errors=True)
            t0 = time.perf_counter()
            made_by = provenance()
            if bed == "simulator":
                report = run_simulator(arm, a.seeds, sim_users, days, where, a.parallel)
            else:
                report = run_slurp(arm, a.seeds, slurp_users, days, where, a.slurp_dir, a.parallel)
            b["arms"][arm] = entry(report, time.perf_counter() - t0, made_by)
            # Written after every part, so a long run that is stopped keeps what it finished.
            a.out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(a.out, json.dumps(with_provenance(result), indent=2))
            print_table(result)
    print_table(result)
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
