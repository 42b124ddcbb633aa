"""Failure point isolation (issue 7): rules baseline vs LightGBM fusion vs neural mixer, against
counterfactual-replay truth, in-domain and across worlds, on the grammar simulator and on the
SLURP test bed.

    .venv/bin/python benchmarks/fpi.py [--quick | --full] [--users N --days D] [--work DIR] [--reuse]

Default size (80 users x 3 days, LightGBM 80 single-threaded rounds) runs in a few minutes;
--full is the large run (150 users x 4 days, 120 rounds); --quick a smoke run.

Worlds (each a workspace with logs/ and truth/, written by the simulators; the models read only
logs/ for their inputs and truth/failed_stage as labels):
  * grammar-train / grammar-test: the home simulator (grammar phrasings, noisy-channel ASR, the
    default grammar NLU), two disjoint populations (seeds).
  * slurp-testbed: SLURP devel split by `split_by_id(seed=0, valid_fraction=0.2)`; the NLU trains
    on the train part, simulated people ask the goal part (noisy-channel ASR: no recognition file
    for the goal part's recordings could be made cheaply on this machine).
  * slurp-train: FPI training traffic that never asks a goal-part request: the train part is split
    again in halves, an NLU trained on one half, people asking the other.
  * slurp-indomain: the goal part again, another population (seed), for the in-domain number.

Besides the flat-view features, every world gets the n-best block (`selflearn.fpi.nbest`): the
recogniser's alternatives read by that world's *own deployed NLU* (the model the assistant ran;
saved in work/nlu-<world> so --reuse can load it), slot-word posterior mass, and the next
request's match with an alternative. The "(no n-best)" rows are the same GBM without that block.

Models: rules (baseline); gbm (LightGBM, the configuration that transfers to requests never
seen: neighbour votes for false wakes only, 2 directions per text, per-class decision offsets
chosen on held-out training sessions); gbm-pool (LightGBM, all neighbour votes, 16 directions per
text: best when test requests come from the training pool); mixer (small transformer). The
transfer choices were checked on training worlds only (grammar-train -> slurp-train, an unseen
pool): 0.555/0.478 -> 0.650/0.550 accuracy/macro-F1.

Metrics over every logged turn (request turns and false wakes, "correct" included: the issue's
label set has it). Prints a table and writes benchmarks/results/fpi.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("SELFLEARN_TORCH_THREADS", "1")

from provenance import with_provenance
from selflearn.fpi.features import FeatureSet, build_features
from selflearn.fpi.labels import read_labels
from selflearn.fpi.metrics import evaluate
from selflearn.logs.io import read_flat

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fpi.json"
SLURP = ROOT.parent / "shared" / "data" / "slurp" / "devel.jsonl"
# Training worlds see more of the rare failure points than the test worlds (which keep the
# simulator's defaults): more overheard speech (false wakes) and a noisier recogniser.
TRAIN_BACKGROUND = 3.0
TRAIN_ASR_ERROR_RATE = 0.12


def _simulate(sim: Any, assistant: Any, days: int, out: Path) -> None:
    from selflearn.simulate.run import write_day

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for d in range(1, days + 1):
        write_day(out, sim.run_day(d, assistant))


def make_worlds(work: Path, users: int, days: int, slurp: Path) -> dict[str, Path]:
    """Simulate every world into work/<name> (logs + truth); returns name -> workspace."""
    from selflearn.assistant.nlu.model import NluModel
    from selflearn.compose import build_assistant, default_config, load_or_train_nlu
    from selflearn.corpora.slurp import read_slurp, split_by_id, to_examples
    from selflearn.eval.bench import BenchConfig, _asr_entry, bench_pipeline
    from selflearn.simulate.slurp_goals import SlurpGoals
    from selflearn.simulate.slurp_traffic import SlurpSimulator
    from selflearn.simulate.traffic import SimConfig, Simulator

    worlds: dict[str, Path] = {}
    nlu = load_or_train_nlu(work / "nlu-grammar")
    for name, seed in (("grammar-train", 101), ("grammar-test", 202)):
        _save_nlu(nlu, work, name)
        is_train = name.endswith("-train")
        rate = TRAIN_ASR_ERROR_RATE if is_train else None
        cfg = SimConfig(users=users, seed=seed, background_per_day=TRAIN_BACKGROUND if is_train else 0.5)
        assistant = build_assistant(default_config(seed=seed, nlu=nlu, asr_error_rate=rate))
        _simulate(Simulator(cfg), assistant, days, work / name)
        worlds[name] = work / name
    if slurp.exists():
        records = read_slurp(slurp).records
        train, goal = split_by_id(records, seed=0, valid_fraction=0.2)
        half_a, half_b = split_by_id(train, seed=1, valid_fraction=0.5)
        noisy = _asr_entry(BenchConfig(goals=slurp, train=slurp), [])
        noisy_train = _asr_entry(
            BenchConfig(goals=slurp, train=slurp, asr_error_rate=TRAIN_ASR_ERROR_RATE), []
        )
        bed_nlu = NluModel().fit(to_examples(train))
        fpi_nlu = NluModel().fit(to_examples(half_a))
        for name, seed, model, asked in (
            ("slurp-testbed", 303, bed_nlu, goal),
            ("slurp-indomain", 505, bed_nlu, goal),
            ("slurp-train", 404, fpi_nlu, half_b),
        ):
            _save_nlu(model, work, name)
            is_train = name != "slurp-testbed"
            asr = {**(noisy_train if is_train else noisy), "seed": seed}
            assistant = build_assistant(bench_pipeline(model, asr, seed=seed))
            cfg = SimConfig(users=users, seed=seed, background_per_day=TRAIN_BACKGROUND if is_train else 0.5)
            sim = SlurpSimulator(cfg, SlurpGoals.from_records(asked, seed=seed), voice_seed=seed)
            _simulate(sim, assistant, days, work / name)
            worlds[name] = work / name
    return worlds


def _save_nlu(model: Any, work: Path, world: str) -> None:
    """Keep the NLU a world's assistant ran: its log reader runs it on logged n-best texts."""
    d = work / f"nlu-{world}"
    if d.exists():
        shutil.rmtree(d)
    model.save(d)


def with_nbest(ws: Path, work: Path, part: tuple[FeatureSet, list[str]]) -> tuple[FeatureSet, list[str]]:
    """Append the n-best block, probing with the world's own deployed NLU when it was saved."""
    from selflearn.assistant.nlu.model import NluModel
    from selflearn.fpi.nbest import add_nbest, nbest_for_logs, nlu_probe

    feats, labels = part
    nlu_dir = work / f"nlu-{ws.name}"
    probe = nlu_probe(NluModel.load(nlu_dir)) if (nlu_dir / "manifest.json").exists() else None
    return add_nbest(feats, nbest_for_logs(ws / "logs", feats.turn_ids, probe)), labels


def load_world(ws: Path) -> tuple[FeatureSet, list[str]]:
    """Features from logs/ only; labels from truth/ (failed_stage), aligned by turn id."""
    feats = build_features(read_flat(ws / "logs"))
    labels = read_labels(ws)
    missing = [t for t in feats.turn_ids if t not in labels]
    if missing:
        raise ValueError(f"{ws}: {len(missing)} logged turns have no truth row, e.g. {missing[0]}")
    return feats, [labels[t] for t in feats.turn_ids]


def cached_world(ws: Path, fresh: bool) -> tuple[FeatureSet, list[str]]:
    """`load_world`, cached next to the workspace (encoding texts is the slow part)."""
    import numpy as np

    from selflearn.fpi.features import FEATURE_VERSION

    cache = ws / f"features-{FEATURE_VERSION}.npz"
    if cache.exists() and not fresh:
        with np.load(cache, allow_pickle=False) as z:
            feats = FeatureSet(list(z["turn_ids"]), z["numeric"], z["texts"], meta={})
            labels = [str(s) for s in z["labels"]]
        ids = read_flat(ws / "logs").select(["turn_id", "session_id"]).to_pydict()
        sessions = dict(zip(ids["turn_id"], ids["session_id"], strict=True))
        feats.meta["session_id"] = [sessions[t] for t in feats.turn_ids]
        return feats, labels
    feats, labels = load_world(ws)
    with open(cache, "wb") as fh:
        np.savez(
            fh,
            turn_ids=np.array(feats.turn_ids),
            numeric=feats.numeric,
            texts=feats.texts,
            labels=np.array(labels),
        )
    return feats, labels


def concat(parts: list[tuple[FeatureSet, list[str]]]) -> tuple[FeatureSet, list[str]]:
    import numpy as np

    feats = FeatureSet(
        turn_ids=[t for f, _ in parts for t in f.turn_ids],
        numeric=np.vstack([f.numeric for f, _ in parts]),
        texts=np.vstack([f.texts for f, _ in parts]),
        numeric_names=parts[0][0].numeric_names,
        meta={"session_id": [s for f, _ in parts for s in f.meta["session_id"]]},
    )
    return feats, [y for _, ys in parts for y in ys]


def make_model(kind: str, size: str) -> Any:
    from selflearn.fpi.gbm import GbmFpi
    from selflearn.fpi.rules import RulesFpi

    if kind == "rules":
        return RulesFpi()
    if kind == "gbm":
        # one thread: on a shared, loaded machine LightGBM's OpenMP threads spin against each
        # other (measured 3x slower with 2 threads); 80 rounds at 0.15 cost nothing in accuracy
        rounds = {"quick": 50, "default": 80, "full": 120}[size]
        # neighbour votes only for false wakes (chatter sounds like chatter in every pool; how
        # similar *requests* turned out is pool-specific and misleads on requests never seen),
        # and each text on 2 principal directions (more lets trees memorise the request pool);
        # both choices were made on the principle, then confirmed on the never-seen setup
        return GbmFpi(
            n_estimators=rounds,
            learning_rate=0.15 if size != "full" else 0.1,
            n_jobs=1,
            neighbour_classes=("false_wake",),
            text_components=2,
            calibrate_fraction=0.2,  # decision offsets from held-out *training* sessions
        )
    if kind == "gbm-pool":
        # the first configuration: every class's neighbour votes and 16 directions per text.
        # Best when the test requests come from the training pool; kept for that comparison.
        rounds = {"quick": 50, "default": 80, "full": 120}[size]
        return GbmFpi(n_estimators=rounds, learning_rate=0.15 if size != "full" else 0.1, n_jobs=1)
    if kind == "mixer":
        from selflearn.fpi.mixer import MixerFpi

        return MixerFpi(epochs={"quick": 8, "default": 12, "full": 20}[size])
    raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small worlds, fewer trees/epochs")
    ap.add_argument("--full", action="store_true", help="the large run (150 users x 4 days)")
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--days", type=int, default=None)
    ap.add_argument("--work", type=Path, default=Path("/tmp/selflearn-fpi-bench"))
    ap.add_argument("--reuse", action="store_true", help="reuse worlds already simulated in --work")
    ap.add_argument("--models", default="rules,gbm,gbm-pool,mixer")
    ap.add_argument("--slurp", type=Path, default=SLURP)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    size = "quick" if args.quick else "full" if args.full else "default"
    users = args.users or {"quick": 40, "default": 80, "full": 150}[size]
    days = args.days or {"quick": 2, "default": 3, "full": 4}[size]
    t_start = time.perf_counter()
    t0 = time.perf_counter()
    names = ("grammar-train", "grammar-test", "slurp-testbed", "slurp-indomain", "slurp-train")
    if args.reuse and all((args.work / n / "logs").exists() for n in names):
        worlds = {n: args.work / n for n in names}
    else:
        worlds = make_worlds(args.work, users, days, args.slurp)
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = {n: cached_world(p, fresh=not args.reuse) for n, p in worlds.items()}
    data = {n: with_nbest(p, args.work, plain[n]) for n, p in worlds.items()}
    t_feat = time.perf_counter() - t0
    balance = {n: dict(collections.Counter(y)) for n, (_, y) in data.items()}
    setups: list[tuple[str, list[str], str]] = [
        ("grammar -> grammar (in-domain)", ["grammar-train"], "grammar-test")
    ]
    if "slurp-testbed" in data:
        setups += [
            ("grammar -> SLURP test bed (cross-world)", ["grammar-train"], "slurp-testbed"),
            (
                "grammar + SLURP train part -> SLURP test bed",
                ["grammar-train", "slurp-train"],
                "slurp-testbed",
            ),
            (
                "SLURP goal part, other people -> SLURP test bed (in-domain)",
                ["slurp-indomain"],
                "slurp-testbed",
            ),
            (
                "all labelled worlds -> SLURP test bed",
                ["grammar-train", "slurp-train", "slurp-indomain"],
                "slurp-testbed",
            ),
        ]
    runs = [(label, tr, te, kind, data) for label, tr, te in setups for kind in args.models.split(",")]
    if "slurp-testbed" in data and "gbm" in args.models.split(","):
        unseen = ("grammar + SLURP train part -> SLURP test bed (no n-best)", setups[2][1], setups[2][2])
        runs.append((*unseen, "gbm", plain))
    results: list[dict[str, Any]] = []
    for label, train_names, test_name, kind, source in runs:
        x_tr, y_tr = concat([source[n] for n in train_names])
        x_te, y_te = source[test_name]
        if True:
            t1 = time.perf_counter()
            model = make_model(kind, size).fit(x_tr, y_tr)
            fit_s = time.perf_counter() - t1
            m = evaluate(y_te, [str(p) for p in model.predict(x_te)])
            results.append(
                {
                    "setup": label,
                    "train": train_names,
                    "test": test_name,
                    "model": kind,
                    "n_train": len(y_tr),
                    "fit_s": round(fit_s, 2),
                    **m.to_json(),
                }
            )
            print(f"{label:60s} {kind:8s} acc={m.accuracy:.3f} macroF1={m.macro_f1:.3f} n={m.n}", flush=True)
    print()
    print(f"{'setup':60s} {'model':8s} {'acc':>6s} {'mF1':>6s}  per-class F1")
    for r in results:
        per = " ".join(f"{k}={v['f1']:.2f}" for k, v in r["per_class"].items())
        print(f"{r['setup']:60s} {r['model']:8s} {r['accuracy']:6.3f} {r['macro_f1']:6.3f}  {per}")
    out = {
        "config": {
            "users": users,
            "days": days,
            "quick": args.quick,
            "size": size,
            "features": "flat view + MiniLM texts + labelled neighbours + n-best block (fpi.nbest)",
            "reused_worlds": bool(args.reuse),  # simulate/feature seconds are then cache reads
            "asr": "noisy channel (default error rate)",
            "slurp_split": "split_by_id(seed=0, valid_fraction=0.2); FPI SLURP training traffic asks "
            "half of the train part (NLU fit on the other half)",
            "turns": "every logged turn (requests and false wakes), correct included",
        },
        "target": {"slurp_testbed_accuracy": 0.90, "slurp_testbed_macro_f1": 0.85},
        "class_balance": balance,
        "results": results,
        "seconds": {
            "simulate": round(t_sim, 1),
            "features": round(t_feat, 1),
            "total": round(time.perf_counter() - t_start, 1),
        },
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    from selflearn.util.atomic import atomic_write_text

    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(with_provenance(out), indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
