"""Automatic labels (issue 9), measured: the dialogue labeller against a simulated single annotator
and a context-free baseline on held-out simulated logs, a threshold sweep, labelling speed, and
the closed loop (NLU retrained on confidently labelled turns, defect rate before vs after).

    SELFLEARN_TORCH_THREADS=1 nice -n 10 .venv/bin/python benchmarks/labels.py [--quick]
        [--users 200 --days 2 --test-users 120 --test-seed 1 --epochs 3 --trainable-layers 1]
        [--skip-baseline] [--skip-loop]

Training logs: `--users` simulated people for `--days` days (seed `--seed`); the labeller sees
their logs only (weak labels from feedback signals; the rephrase detector is the hand-set
heuristic, so no truth label reaches training at all). Held-out logs: another population
(`--test-seed`) whose truth table and spoken slot values are the gold. Closed loop: the labeller
labels the training logs, confident successful turns become NLU examples, the NLU is retrained,
and the same population (same seed) is simulated for the next `--loop-days` days twice, with the
old and the new NLU; the truth defect rates are compared. Prints a table and writes
benchmarks/results/labels.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from sklearn.base import clone

from provenance import with_provenance
from selflearn.compose import build_assistant, default_config, load_or_train_nlu
from selflearn.eval.annotator import (
    GoldSlotSimulator,
    SimulatedAnnotator,
    gold_labels,
    score_heads,
    threshold_sweep,
)
from selflearn.labels.dataset import DialogueBuilder
from selflearn.labels.feedback_nlu import FeedbackNluConfig, examples_from_labels, retrain_nlu
from selflearn.labels.labeller import Labeller
from selflearn.simulate.traffic import SimConfig
from selflearn.simulate.truth import truth_table
from selflearn.text.encoder import set_torch_threads
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "labels.json"
HEADS = ("defect", "goal_start", "goal_success", "intent", "slots")


def _grammar_examples(seed: int, n_per_intent: int = 400, train_fraction: float = 0.7) -> list[Any]:
    """The simulated deployment's own NLU training examples (as `compose.train_default_nlu`)."""
    from selflearn.grammar import generate, split_templates

    train_ids, _heldout = split_templates(seed, train_fraction)
    return generate(n_per_intent, seed, template_ids=train_ids)


def simulate(users: int, seed: int, days: int, nlu: Any, first_day: int = 1) -> tuple[list, Any, dict]:
    sim = GoldSlotSimulator(SimConfig(users=users, seed=seed))
    assistant = build_assistant(default_config(seed=seed, nlu=nlu))
    turns, truth = [], []
    for day in range(1, first_day + days):
        res = sim.run_day(day, assistant)
        if day >= first_day:
            turns += res.turns
            truth += res.truth
    return turns, truth_table(truth), sim.gold_slots


def weak_rows(turns: list) -> list[dict[str, Any]]:
    """The weak labelling functions themselves as a labeller (a reference row in the table)."""
    b = DialogueBuilder().fit(turns)
    rows = []
    for d in b.build(turns):
        for i, tid in enumerate(d.turn_ids):
            k = int(d.intent[i])
            rows.append(
                {
                    "turn_id": tid,
                    "defect": d.defect[i] >= 0.5,
                    "goal_start": d.goal_start[i] >= 0.5,
                    "goal_success": d.goal_success[i] >= 0.5,
                    "intent": b.intents_.items[k] if k > 0 else d.nlu_intents[i],
                    "slots": [{"name": n, "value": v} for n, v, _s, _e in d.nlu_slots[i]],
                }
            )
    return rows


def fit(turns: list, params: dict[str, Any], label: str) -> tuple[Labeller, float]:
    t0 = time.perf_counter()
    last = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 20 or done >= total:
            last[0] = now
            print(f"  [{label}] {phase} {done}/{total} ({now - t0:.0f}s)", file=sys.stderr, flush=True)

    lab = Labeller(**params).fit(turns, progress=progress)
    return lab, time.perf_counter() - t0


def speed(lab: Labeller, turns: list, repeats: int = 2) -> dict[str, float]:
    """Labelling throughput in turns/s (dialogue building + encoder + heads), best of `repeats`."""
    lab._runtime = None
    t0 = time.perf_counter()
    lab._runtime_model()  # quantisation and tokenizer load: once per process, reported apart
    lab._tokenizer()
    prepare = time.perf_counter() - t0
    best = cpu = float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        lab.predict(turns)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return {
        "turns": float(len(turns)),
        "seconds": best,
        "turns_per_s": len(turns) / best,
        "cpu_seconds": cpu,
        # CPU time is what a shared machine cannot steal: turns per CPU-second of this process
        "turns_per_cpu_s": len(turns) / cpu,
        "prepare_s": prepare,
    }


def rated_eval(lab: Labeller, path: Path) -> dict[str, Any]:
    """Defect head against the annotators' majority on rated TSV dialogues (real human ratings):
    AUROC and best F1 (`selflearn.labels.rated`); bad lines are skipped and counted."""
    from selflearn.labels.rated import score_rated

    return score_rated(lab, path).to_dict()


def closed_loop(model: Labeller, nlu: Any, train_turns: list, a: argparse.Namespace) -> dict[str, Any]:
    """Label the training logs, retrain the NLU on confident examples, and simulate the same
    population (same seed) on the following days with the old and each new NLU."""
    train_labels = model.predict(train_turns)
    first = a.days + 1
    variants: dict[str, Any] = {"before": (nlu, 0)}
    for name, retries in (("after", False), ("after_with_retries", True)):
        if retries and not a.loop_retries:
            continue
        fc = FeedbackNluConfig(min_confidence=a.min_confidence, include_retries=retries)
        examples = examples_from_labels(train_labels, fc)
        print(f"closed loop ({name}): {len(examples)} NLU examples from labels; retraining", file=sys.stderr)
        variants[name] = (retrain_nlu(_grammar_examples(a.seed), examples), len(examples))
    out: dict[str, Any] = {"days": [first, first + a.loop_days - 1]}
    for name, (m, n_examples) in variants.items():
        _t, truth, _g = simulate(a.users, a.seed, a.loop_days, m, first_day=first)
        req = [r for r in truth.to_pylist() if r["is_request"]]
        rate = sum(not r["success"] for r in req) / max(len(req), 1)
        out[name] = {"examples": n_examples, "request_turns": len(req), "defect_rate": rate}
    base = out["before"]["defect_rate"]
    for name in variants:
        if name != "before":
            out[name]["relative_change"] = (out[name]["defect_rate"] - base) / base if base else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--test-users", type=int, default=120)
    ap.add_argument("--test-days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--pretrain-epochs", type=int, default=1)
    ap.add_argument("--trainable-layers", type=int, default=1)
    ap.add_argument(
        "--rule-prior",
        nargs="*",
        default=["goal_start"],
        help="heads that start from the weak labels' verdict (defect goal_start goal_success)",
    )
    ap.add_argument("--soft-targets", action=argparse.BooleanOptionalAction, default=False)
    ap.add_argument("--goal-success-from", choices=("last_defect", "head"), default="last_defect")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("SELFLEARN_TORCH_THREADS", "1")))
    ap.add_argument("--speed-threads", type=int, default=2, help="threads for the labelling-speed run")
    ap.add_argument("--annotator-error", type=float, default=0.07)
    ap.add_argument("--loop-days", type=int, default=2)
    ap.add_argument("--min-confidence", type=float, default=0.9)
    ap.add_argument(
        "--loop-retries",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also retrain with failed tries of successful goals (labelled with the goal's intent)",
    )
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-loop", action="store_true")
    ap.add_argument("--rated", type=Path, help="rated TSV dialogues: also score the defect head on them")
    ap.add_argument("--quick", action="store_true", help="small populations, one epoch (smoke run)")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "selflearn-labels-bench")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    if a.quick:
        a.users, a.days, a.test_users, a.epochs, a.loop_days = 60, 1, 40, 1, 1
    set_torch_threads(a.threads)
    t_all = time.perf_counter()
    print("training the NLU (cached)", file=sys.stderr)
    nlu = load_or_train_nlu(a.work / f"nlu-s{a.seed}", seed=a.seed)
    train_turns, _train_truth, _ = simulate(a.users, a.seed, a.days, nlu)
    test_turns, test_truth, test_slots = simulate(a.test_users, a.test_seed, a.test_days, nlu)
    print(f"train turns {len(train_turns)}, held-out turns {len(test_turns)}", file=sys.stderr)
    gold = gold_labels(test_turns, test_truth, test_slots)

    cfg: dict[str, Any] = {
        "trainable_layers": a.trainable_layers,
        "rule_prior": a.rule_prior,
        "goal_success_from": a.goal_success_from,
        "weak": {"soft_targets": a.soft_targets},
        "train": {"epochs": a.epochs, "seed": a.seed},
        "pretrain": {"epochs": a.pretrain_epochs, "seed": a.seed},
    }
    model, fit_s = fit(train_turns, cfg, "model")
    model.save(a.work / "labeller")
    labels = model.predict(test_turns)
    rows: dict[str, list[dict[str, Any]]] = {"model": labels.to_pylist()}
    fits = {"model": fit_s}
    baseline = None
    if not a.skip_baseline:
        bcfg = {**cfg, "context": False}
        baseline, fits["context_free"] = fit(train_turns, bcfg, "context-free")
        rows["context_free"] = baseline.predict(test_turns).to_pylist()
    annot = SimulatedAnnotator(error_rate=a.annotator_error, seed=a.seed)
    rows["annotator"] = [
        dict(r, slots=[{"name": n, "value": v} for n, v in r["slots"]]) for r in annot.annotate(gold)
    ]
    rows["weak_labels"] = weak_rows(test_turns)
    scores = {k: score_heads(gold, v) for k, v in rows.items()}

    sweeps = {
        "defect": threshold_sweep(gold, labels, heads=("defect",)),
        "goal_success": threshold_sweep(gold, labels, heads=("goal_success",)),
        "defect+goal_success": threshold_sweep(gold, labels, heads=("defect", "goal_success")),
    }

    speed_turns = test_turns + train_turns  # a bigger batch for a steadier measurement
    set_torch_threads(a.speed_threads)
    spd = speed(model, speed_turns)
    set_torch_threads(1)
    spd_1 = speed(model, speed_turns)
    fp32 = clone(model).set_params(quantize=False)
    fp32.builder_, fp32.model_ = model.builder_, model.model_
    spd_fp32 = speed(fp32, speed_turns, repeats=1)
    set_torch_threads(a.threads)
    load = os.getloadavg()[0]

    loop: dict[str, Any] = {}
    if not a.skip_loop:
        loop = closed_loop(model, nlu, train_turns, a)

    rated: dict[str, Any] = {}
    if a.rated is not None:
        rated = rated_eval(model, a.rated)

    result = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
        "data": {
            "train_turns": len(train_turns),
            "test_turns": len(test_turns),
            "test_request_turns": len(gold),
        },
        "fit_seconds": fits,
        "scores": scores,
        "sweep": sweeps,
        "speed": {
            "quantized_int8": spd,
            "quantized_int8_1_thread": spd_1,
            "fp32_1_thread": spd_fp32,
            "threads": a.speed_threads,
            "load_average_1min": load,
            # two single-thread workers, each labelling half a batch, on 2 dedicated cores
            "two_core_batch_estimate_turns_per_s": 2 * spd_1["turns_per_cpu_s"],
        },
        "closed_loop": loop,
        "rated": rated,
        "train_history": {"pretrain": model.pretrain_history_, "train": model.history_},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count()},
        "seconds": time.perf_counter() - t_all,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out, json.dumps(with_provenance(result), indent=1))
    print_table(result)
    return 0


def print_table(r: dict[str, Any]) -> None:
    sc = r["scores"]
    who = [k for k in ("model", "context_free", "annotator", "weak_labels") if k in sc]
    print(f"\nheld-out turns: {r['data']['test_request_turns']}   (accuracy / F1)")
    print(f"{'head':<14}" + "".join(f"{w:>22}" for w in who))
    for h in HEADS:
        print(f"{h:<14}" + "".join(f"{sc[w][h]['accuracy']:>12.3f} / {sc[w][h]['f1']:.3f}" for w in who))
    print("\nthreshold sweep (defect+goal_success): threshold coverage precision")
    for s in r["sweep"]["defect+goal_success"]:
        print(f"  {s['threshold']:.2f}  {s['coverage']:.3f}  {s['precision']:.3f}")
    sp = r["speed"]
    q, q1, f1 = sp["quantized_int8"], sp["quantized_int8_1_thread"], sp["fp32_1_thread"]
    print(
        f"\nlabelling speed (load average {sp['load_average_1min']:.1f}): int8 {sp['threads']} threads "
        f"{q['turns_per_s']:.0f} turns/s wall; int8 1 thread {q1['turns_per_s']:.0f} wall, "
        f"{q1['turns_per_cpu_s']:.0f} per CPU-s; fp32 1 thread {f1['turns_per_cpu_s']:.0f} per CPU-s; "
        f"2-core batch estimate {sp['two_core_batch_estimate_turns_per_s']:.0f} turns/s"
    )
    c = r["closed_loop"]
    for name in ("after", "after_with_retries"):
        if name in c:
            v = c[name]
            print(
                f"closed loop {name}: {v['examples']} examples; defect rate "
                f"{c['before']['defect_rate']:.4f} -> {v['defect_rate']:.4f} "
                f"({100 * v['relative_change']:+.1f}%)"
            )
    print(f"fit seconds: {r['fit_seconds']}; total {r['seconds']:.0f}s")


if __name__ == "__main__":
    raise SystemExit(main())
