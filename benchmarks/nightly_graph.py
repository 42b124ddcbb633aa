"""The nightly graph's step timings on both engines, and whether they publish the same artifacts.

    .venv/bin/python benchmarks/nightly_graph.py [--users 1000] [--days 7] [--online global]
        [--context] [--labels] [--fpi] [--nlu]

Simulates `--users` people for `--days` days (the reference assistant, seed 0), then runs
`selflearn.jobs.nightly.run_nightly` on the embedded engine and on Spark (local mode, all cores) on
copies of the same logs. With `--context`, `--labels` and `--fpi` the graph also runs those steps:
the context reranker (under the simulated home's domain), the labeller (3 epochs), and the
failure points of every turn by an FPI model trained beforehand, as a deployment would, on a
separate labelled simulated workspace (100 people x 2 days, seed 1; its truth is the FPI model's
synthetic supervision, never the night's). With `--nlu`, the understanding step retrains the NLU
(published with its grammar examples by the simulation) on the wordings people rephrased.

Prints a table of seconds per step per engine and writes `benchmarks/results/nightly_graph.json`:
the timings, each engine's summary (published artifacts with their content digests), and
`digests_equal`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import with_provenance

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "nightly_graph.json"


def simulate(ws: Path, users: int, days: int) -> int:
    from selflearn.compose import build_assistant, default_config, load_or_train_nlu
    from selflearn.simulate.run import simulate_to_workspace
    from selflearn.simulate.traffic import SimConfig, Simulator

    nlu = load_or_train_nlu(ws, seed=0)
    assistant = build_assistant(default_config(seed=0, nlu=nlu))
    summary = simulate_to_workspace(Simulator(SimConfig(users=users, seed=0)), assistant, days, ws)
    return int(summary.turns)


def fpi_model(work: Path) -> Any:
    """An FPI model trained on a separate labelled simulated workspace."""
    from selflearn.compose import build_assistant, default_config, load_or_train_nlu
    from selflearn.fpi.train import train_model
    from selflearn.simulate.run import simulate_to_workspace
    from selflearn.simulate.traffic import SimConfig, Simulator

    ws = work / "fpi-labelled"
    nlu = load_or_train_nlu(ws, seed=0)
    assistant = build_assistant(default_config(seed=1, nlu=nlu))
    simulate_to_workspace(Simulator(SimConfig(users=100, seed=1)), assistant, 2, ws)
    return train_model([ws])


def night(
    ws: Path, engine: str, online: str, context: bool, labels: bool, fpi: bool, nlu: bool
) -> dict[str, Any]:
    from selflearn.jobs.engine import make_engine
    from selflearn.jobs.nightly import NightlyConfig, run_nightly

    cfg = NightlyConfig(
        engine=engine,
        online=None if online == "off" else {"layers": online},
        context=context,
        labels={"train": {"epochs": 3}} if labels else None,
        fpi=fpi,
        nlu={} if nlu else None,
    )
    eng = make_engine(engine)
    try:
        if engine == "spark":
            _ = eng.spark.range(1).count()  # start the JVM before the clock: a service keeps one up
        t0 = time.perf_counter()
        res = run_nightly(ws, cfg, engine=eng)
        total = time.perf_counter() - t0
    finally:
        eng.close()
    assert res.summary is not None
    summary = json.loads(res.summary.read_text(encoding="utf-8"))
    return {
        "seconds": round(total, 2),
        "turns": res.turns,
        "chains": res.chains,
        "rules": res.rules,
        "summary": summary,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--online", default="global", help="online layers trained by the graph (off to skip)")
    ap.add_argument("--context", action="store_true", help="also the context step")
    ap.add_argument("--labels", action="store_true", help="also the labels step")
    ap.add_argument("--fpi", action="store_true", help="also the fpi step")
    ap.add_argument("--nlu", action="store_true", help="also the understanding step")
    ap.add_argument("--engines", default="embedded,spark")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nightly-graph-"))
    try:
        base = work / "base"
        t0 = time.perf_counter()
        turns = simulate(base, a.users, a.days)
        sim_s = time.perf_counter() - t0
        print(f"simulated {turns:,} turns in {sim_s:.0f} s", flush=True)
        if a.context:
            from selflearn.home.domain import simulated_domain
            from selflearn.lexicon.io import save_domain

            save_domain(simulated_domain(), base)
        if a.fpi:
            from selflearn.util.workspace import Workspace

            print("training the FPI model on a separate labelled workspace", flush=True)
            Workspace(base).publish_model("fpi", fpi_model(work).save, {"trained_on": "simulated, seed 1"})
        shutil.rmtree(base / "truth", ignore_errors=True)  # the night reads logs only
        runs: dict[str, Any] = {}
        for engine in a.engines.split(","):
            ws = work / engine
            shutil.copytree(base, ws)
            print(f"nightly on {engine}", flush=True)
            runs[engine] = night(ws, engine, a.online, a.context, a.labels, a.fpi, a.nlu)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def digests(r: dict[str, Any]) -> list[Any]:
        return [s["artifact"] for s in r["summary"]["steps"] if s["artifact"]]

    names = list(runs)
    equal = all(digests(runs[n]) == digests(runs[names[0]]) for n in names)
    out = {
        "users": a.users,
        "days": a.days,
        "online": a.online,
        "context": a.context,
        "labels": a.labels,
        "fpi": a.fpi,
        "nlu": a.nlu,
        "turns": turns,
        "cpus": os.cpu_count(),
        "engines": runs,
        "digests_equal": equal,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    from selflearn.util.atomic import atomic_write_text

    atomic_write_text(a.out, json.dumps(with_provenance(out), indent=2))
    steps = [s["name"] for s in runs[names[0]]["summary"]["steps"]]
    print(f"\n{'step':16s}" + "".join(f"{n:>12s}" for n in names))
    for i, step in enumerate(steps):
        cells = "".join(f"{runs[n]['summary']['steps'][i]['seconds']:12.2f}" for n in names)
        print(f"{step:16s}{cells}")
    print(f"{'total':16s}" + "".join(f"{runs[n]['seconds']:12.2f}" for n in names))
    print(f"\nartifact digests equal across engines: {equal}\nwrote {a.out}")


if __name__ == "__main__":
    main()
