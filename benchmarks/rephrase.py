"""Issue 5's measured claims: rephrase-pair detection P/R/F1 of the contextual span model and four
baselines on held-out simulated sessions and on sessions built from real (SLURP) requests, the span
model's batch-scoring throughput, and the closed loop with the lexical vs the span detector.

    .venv/bin/python benchmarks/rephrase.py [--quick] [--skip-loop] [--loop-users 300 --loop-days 5]

Splits (every detector sees the same ones):
* train: the loop's calibration population (grammar world, seed loop_seed + 7919, --train-users
  people x --train-days days), labelled from the simulator's truth (synthetic supervision), plus
  sessions of SLURP requests held apart from the test requests (slurp_train, see slurp_splits);
* sim-test: another grammar-world population (seed 4242), never trained on;
* slurp: SlurpSimulator people asking the goal part of selflearn.corpora.slurp.split_by_id(devel)
  through an NLU trained on a third part, noisy-channel ASR (no recognition file ships with the
  test bed), truth from the SLURP simulator. Out of domain for every detector that trains;
* slurp_real (with --recognitions FILE, or 'make'): the same test people, but every recorded
  request is heard as a real recogniser heard it (espeak-ng + pocketsphinx replay; a paraphrase
  nobody recorded falls back to the noisy channel).
Each detector's decision threshold is tuned on training data only (its own out-of-fold or
held-out-session scores), never on a test split.

Span scoring is timed and scored in each arithmetic (fp32, bf16 autocast, int8 dynamic
quantisation); the detection table uses the model's default (`SpanConfig.precision`, "auto").

The loop runs eval.loop.run_loop twice per --loop-seeds seed, once per detector; both loops
get the detectors fitted here (identical to what the loop would fit: same population, same seed).
Prints a table and writes benchmarks/results/rephrase.json.
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

import numpy as np
import pyarrow as pa
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from provenance import provenance, with_provenance
from selflearn.compose import build_assistant, default_config, load_or_train_nlu
from selflearn.feedback.pairs import candidate_pairs
from selflearn.feedback.rephrase.registry import load_detector, make_detector, model_dir_name
from selflearn.feedback.rephrase.span_model import ContextualRephraseDetector, SpanConfig, native_bf16
from selflearn.logs.flat import flatten_turns
from selflearn.simulate.labels import rephrase_labels
from selflearn.simulate.truth import truth_table
from selflearn.util.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "rephrase.json"
SLURP = Path(os.environ.get("SELFLEARN_SLURP", ROOT.parent / "shared" / "data" / "slurp" / "devel.jsonl"))
NAMES = {
    "lexical": "(a) lexical/phonetic",
    "cosine": "(b) embedding cosine",
    "pairwise": "(c) pairwise, no context",
    "rule": "(d) time gap + barge-in",
    "span": "contextual span (MiniLM)",
    "span_alone": "  span score alone (no head)",
}
BASELINES = ("lexical", "cosine", "pairwise", "rule")


def simulate(sim: Any, assistant: Any, days: int) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """(flat log, candidate pairs, truth labels) of `days` simulated days."""
    turns, truth = [], []
    for d in range(1, days + 1):
        res = sim.run_day(d, assistant)
        turns += res.turns
        truth += res.truth
    flat = flatten_turns(turns)
    pairs = candidate_pairs(flat)
    return flat, pairs, rephrase_labels(pairs, truth_table(truth))


def slurp_splits(
    users: int,
    days: int,
    seed: int,
    realistic: bool = True,
    train_users: int = 0,
    train_days: int = 1,
    recognitions: Path | None = None,
    only: set[str] | None = None,
) -> dict[str, tuple[pa.Table, pa.Table, np.ndarray]]:
    """Sessions of SLURP requests, by slurp_id three ways: the NLU's training requests (60%),
    requests whose simulated sessions may train the rephrase detectors (20%, "slurp_train", only
    when `train_users` > 0) and the test requests (20%, "slurp": the same part the other SLURP
    benchmarks hold out). No test request is ever trained on, by the NLU or by a detector.
    With `recognitions` (a recognition-results file of the test requests' recordings, e.g. from
    `selflearn recognize`), the same test people also ask through replayed real recognition
    ("slurp_real"); a paraphrase nobody recorded falls back to the noisy channel. `only` limits
    which of the three parts are simulated."""
    from selflearn.assistant.nlu.model import NluModel
    from selflearn.corpora.slurp import read_slurp, split_by_id, to_examples
    from selflearn.eval.bench import BenchConfig, _asr_entry, bench_pipeline
    from selflearn.simulate.slurp_goals import SlurpGoals
    from selflearn.simulate.slurp_traffic import SlurpSimulator
    from selflearn.simulate.traffic import SimConfig

    if not SLURP.exists():
        print(f"no SLURP file at {SLURP}; skipping the real-request split", flush=True)
        return {}
    rest, test = split_by_id(read_slurp(SLURP).records, seed=0)
    nlu_part, reph_part = split_by_id(rest, seed=1, valid_fraction=0.25)
    nlu = NluModel().fit(to_examples(nlu_part))
    asr = _asr_entry(BenchConfig(goals=SLURP, train=SLURP, seed=seed), [])
    out: dict[str, tuple[pa.Table, pa.Table, np.ndarray]] = {}
    parts = [("slurp", test, users, days, seed, asr)]
    if train_users > 0:
        parts.insert(0, ("slurp_train", reph_part, train_users, train_days, seed + 1, asr))
    if recognitions is not None:
        replay = {"component": "asr.replay.v1", "file": str(recognitions), "fallback": asr}
        parts.append(("slurp_real", test, users, days, seed, replay))
    for name, records, n_users, n_days, s, asr_entry in parts:
        if only is not None and name not in only:
            continue
        assistant = build_assistant(bench_pipeline(nlu, asr_entry, seed=s))
        sim = SlurpSimulator(
            SimConfig(users=n_users, seed=s, realistic_sessions=realistic),
            SlurpGoals.from_records(records, seed=s),
            voice_seed=s,
        )
        out[name] = simulate(sim, assistant, n_days)
    return out


def make_test_recognitions(work: Path) -> Path:
    """Recognition results of the SLURP test requests' recordings (espeak-ng + pocketsphinx, as
    `selflearn recognize` makes them), kept under `work`: the language model reads the other
    requests and SLURP's LM text, never the test requests."""
    from selflearn.corpora.slurp import read_slurp, split_by_id
    from selflearn.simulate.recognize_slurp import make_recognitions

    out = work / "recognitions" / "slurp_test.jsonl"
    if out.exists():
        return out
    rest, test = split_by_id(read_slurp(SLURP).records, seed=0)
    ids = {str(r.slurp_id) for r in test}
    lines = [ln for ln in SLURP.read_text(encoding="utf-8").splitlines() if ln.strip()]
    out.parent.mkdir(parents=True, exist_ok=True)
    goals = out.parent / "slurp_test.goals.jsonl"
    kept = [ln for ln in lines if str(json.loads(ln).get("slurp_id")).strip() in ids]
    goals.write_text("\n".join(kept) + "\n")
    lm = [r.sentence for r in rest]
    lm_txt = SLURP.parent / "lm.txt"
    if lm_txt.exists():
        lm += [ln.strip() for ln in lm_txt.read_text(encoding="utf-8").splitlines() if ln.strip()]
    summary = make_recognitions(goals, out, lm)
    print(f"recognised {summary.recordings} test recordings: WER {summary.wer:.1%}", flush=True)
    return out


def save_splits(folder: Path, splits: dict[str, tuple[pa.Table, pa.Table, np.ndarray]]) -> None:
    """Keep the simulated splits (flat log, pairs, labels) for --reuse runs."""
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for name, (flat, pairs, y) in splits.items():
        pq.write_table(flat, folder / f"{name}.flat.parquet")
        pq.write_table(pairs.append_column("label", pa.array(y)), folder / f"{name}.pairs.parquet")


def load_splits(folder: Path) -> dict[str, tuple[pa.Table, pa.Table, np.ndarray]]:
    import pyarrow.parquet as pq

    out: dict[str, tuple[pa.Table, pa.Table, np.ndarray]] = {}
    for f in sorted(folder.glob("*.pairs.parquet")) if folder.exists() else []:
        name = f.name.removesuffix(".pairs.parquet")
        t = pq.read_table(f)
        y = t.column("label").to_numpy(zero_copy_only=False).astype(bool)
        out[name] = (pq.read_table(folder / f"{name}.flat.parquet"), t.drop_columns(["label"]), y)
    if out:
        print(f"reusing the simulated splits in {folder}", flush=True)
    return out


def scores(y: np.ndarray, p: np.ndarray, thr: float) -> dict[str, float]:
    yh = p >= thr
    return {
        "precision": float(precision_score(y, yh, zero_division=0.0)),
        "recall": float(recall_score(y, yh, zero_division=0.0)),
        "f1": float(f1_score(y, yh, zero_division=0.0)),
        "average_precision": float(average_precision_score(y, p)),
        "pairs": len(y),
        "positives": int(y.sum()),
    }


def throughput(
    det: ContextualRephraseDetector, flat: pa.Table, pairs: pa.Table, threads: int, precision: str
) -> dict[str, Any]:
    """Turns per second of batch scoring from scratch (cache cleared): all turns of the log count,
    requests without a follow-up in the window included (they are scored 'none' without the model).
    `precision`: "fp32", "bf16" (CPU autocast) or "int8" (dynamic quantisation)."""
    from selflearn.text.encoder import set_torch_threads

    # A saved model keeps the batch size it was trained with; scoring uses today's default.
    det.set_params(
        threads=threads,
        quantize=precision == "int8",
        precision="fp32" if precision == "int8" else precision,
        infer_batch_size=SpanConfig().infer_batch_size,
    )
    set_torch_threads(threads)
    det.predict_proba(pairs.slice(0, min(64, pairs.num_rows)))  # build the network first
    det.clear_cache()
    t0 = time.perf_counter()
    c0 = time.process_time()
    det.predict_proba(pairs)
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    t1 = time.perf_counter()
    det.predict_proba(pairs)
    cached = time.perf_counter() - t1
    det.clear_cache()
    return {
        "threads": threads,
        "turns": flat.num_rows,
        "pairs": pairs.num_rows,
        "seconds": dt,
        "turns_per_s": flat.num_rows / dt,
        # The machine is shared (load far above its 2 cores while this ran), so wall time
        # understates capacity; CPU seconds of this process are the steadier cost measure.
        "cpu_seconds": cpu,
        "turns_per_cpu_s": flat.num_rows / max(cpu, 1e-9),
        "load_avg_1m": os.getloadavg()[0],
        "turns_per_s_cached": flat.num_rows / max(cached, 1e-9),
        "quantized": det.config.quantize,
        "precision": precision,
        "native_bf16": native_bf16(),
        "infer_batch_size": det.config.infer_batch_size,
    }


def run_loops(
    args: argparse.Namespace, nlu_dir: Path, fitted: dict[str, Any], work: Path
) -> list[dict[str, Any]]:
    from selflearn.eval.loop import LoopConfig, run_loop

    out = []
    seeds = [int(x) for x in str(args.loop_seeds).split(",") if x.strip()] or [args.seed]
    for seed, kind in ((sd, k) for sd in seeds for k in ("lexical", "span")):
        ws = work / f"loop-{kind}-{seed}"
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(Workspace(nlu_dir).store("nlu").dir, Workspace(ws).store("nlu").dir)
        Workspace(ws).publish_model(model_dir_name(kind), fitted[kind].save, {"trained_on": "benchmark"})
        cfg = LoopConfig(
            users=args.loop_users,
            days=args.loop_days,
            seed=seed,
            calibration_users=args.train_users,
            calibration_days=args.train_days,
            detector=kind,
            realistic_sessions=args.sessions == "realistic",
        )
        t0 = time.perf_counter()
        print(f"loop, seed {seed}, {kind} detector ({args.loop_users}x{args.loop_days} days)", flush=True)
        s = run_loop(cfg, ws)["summary"]
        out.append(
            {
                "detector": kind,
                "users": args.loop_users,
                "days": args.loop_days,
                "seed": seed,
                "first_day_defect_rate": s["first_day_defect_rate"],
                "last_day_defect_rate": s["last_day_defect_rate"],
                "relative_reduction": s["relative_reduction"],
                "win_loss_ratio": s["win_loss_ratio"],
                "wins": s["wins"],
                "losses": s["losses"],
                "rewrites_published": s["final_rewrites_published"],
                "seconds": time.perf_counter() - t0,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small populations, one epoch, tiny loop")
    ap.add_argument(
        "--seed", type=int, default=0, help="loop seed; training uses the loop's calibration seed"
    )
    ap.add_argument("--train-users", type=int, default=300)
    ap.add_argument("--train-days", type=int, default=2)
    ap.add_argument("--test-users", type=int, default=150)
    ap.add_argument("--test-days", type=int, default=2)
    ap.add_argument("--slurp-users", type=int, default=150)
    ap.add_argument("--slurp-days", type=int, default=2)
    ap.add_argument(
        "--slurp-train-users",
        type=int,
        default=150,
        help="people whose sessions of held-apart SLURP requests join every detector's training (0: none)",
    )
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--train-layers", type=int, default=3, help="top encoder layers fine-tuned")
    ap.add_argument("--train-threads", type=int, default=1, help="torch threads of span training")
    ap.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("SELFLEARN_TORCH_THREADS", "1")),
        help="torch threads of the loops' nightly scoring (throughput is timed at 1 and 2 threads)",
    )
    ap.add_argument("--loop-users", type=int, default=300)
    ap.add_argument("--loop-days", type=int, default=5)
    ap.add_argument(
        "--loop-seeds",
        default="0",
        help="comma-separated seeds of the loop populations (the detectors stay the ones fitted here)",
    )
    ap.add_argument("--skip-loop", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse simulated splits kept in --work")
    ap.add_argument(
        "--only-throughput",
        action="store_true",
        help="with --reuse: only re-time span scoring and update the throughput rows of --out",
    )
    ap.add_argument(
        "--sessions",
        choices=("realistic", "classic"),
        default="realistic",
        help="people's pacing and chaining of requests (SimConfig.realistic_sessions) or the classic traffic",
    )
    ap.add_argument(
        "--recognitions",
        type=Path,
        default=None,
        help="recognition-results file of the SLURP test requests' recordings (selflearn recognize), "
        "or 'make' to recognise them now (espeak-ng + pocketsphinx, kept under --work): adds a split "
        "of the same test people heard through a real recogniser",
    )
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--max-steps", type=int, default=None, help="cap on the span model's steps")
    args = ap.parse_args()
    if args.quick:
        args.train_users, args.test_users, args.slurp_users, args.slurp_train_users = 80, 40, 40, 40
        args.train_days = args.test_days = args.slurp_days = 1
        args.epochs = 1
        args.max_steps = 8
        args.loop_users, args.loop_days = 60, 2
    work = args.work or Path(tempfile.mkdtemp(prefix="rephrase-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    from selflearn.simulate.traffic import SimConfig, Simulator

    realistic = args.sessions == "realistic"
    print(f"simulating the training, sim-test and SLURP populations ({args.sessions} sessions)", flush=True)
    nlu_dir = work / "nlu"
    nlu = load_or_train_nlu(nlu_dir, seed=args.seed)
    cal_seed = args.seed + 7919  # eval.loop's calibration population
    sizes = (
        f"{args.train_users}x{args.train_days}-{args.test_users}x{args.test_days}"
        f"-{args.slurp_users}x{args.slurp_days}-{args.slurp_train_users}"
    )
    cache = work / "splits" / f"{args.sessions}-{sizes}"
    splits = load_splits(cache) if args.reuse else {}
    if args.recognitions is not None and str(args.recognitions) == "make":
        args.recognitions = make_test_recognitions(work)
    wanted = {"train", "sim_test", "slurp"} | ({"slurp_real"} if args.recognitions else set())
    missing = wanted - set(splits)
    if "train" in missing:
        splits["train"] = simulate(
            Simulator(SimConfig(users=args.train_users, seed=cal_seed, realistic_sessions=realistic)),
            build_assistant(default_config(seed=cal_seed, nlu=nlu)),
            args.train_days,
        )
    if "sim_test" in missing:
        splits["sim_test"] = simulate(
            Simulator(SimConfig(users=args.test_users, seed=4242, realistic_sessions=realistic)),
            build_assistant(default_config(seed=4242, nlu=nlu)),
            args.test_days,
        )
    if missing & {"slurp", "slurp_real"}:
        splits.update(
            slurp_splits(
                args.slurp_users,
                args.slurp_days,
                seed=303,
                realistic=realistic,
                train_users=args.slurp_train_users,
                train_days=args.train_days,
                recognitions=args.recognitions,
                only=(missing & {"slurp", "slurp_real"}) | ({"slurp_train"} if "slurp" in missing else set()),
            )
        )
    if missing:
        save_splits(cache, splits)
    _flat, train_pairs, y_train = splits["train"]
    if "slurp_train" in splits:  # every detector trains on both worlds' sessions
        _f, sp, sy = splits.pop("slurp_train")
        train_pairs = pa.concat_tables([train_pairs, sp.cast(train_pairs.schema)])
        y_train = np.r_[y_train, sy]

    fitted: dict[str, Any] = {}
    fit_s: dict[str, float | None] = {}
    saved = cache / "detectors"
    for kind in ("span",) if args.only_throughput else ("lexical", "cosine", "pairwise", "rule", "span"):
        t0 = time.perf_counter()
        kept = saved / model_dir_name(kind)
        if args.reuse and (kept / "manifest.json").exists():
            print(f"reusing {NAMES[kind]} from {kept}", flush=True)
            fitted[kind] = load_detector(kept)
            fit_s[kind] = None
            det = fitted[kind]
            if kind == "span" and det.config.fuse_lexical and getattr(det, "fusion_", None) is None:
                # saved before the fused head: learn it from the sessions its training held out
                print("  learning its fused decision head from its held-out sessions", flush=True)
                det.refit_fusion(train_pairs, y_train)
                det.save(kept)
            continue
        print(f"fitting {NAMES[kind]}", flush=True)
        if kind == "span":
            det = ContextualRephraseDetector(
                epochs=args.epochs,
                threads=args.train_threads,
                lr=args.lr,
                train_layers=args.train_layers,
                max_steps=args.max_steps,
            )
        else:
            det = make_detector(kind)
        if kind == "span":

            def report_step(step: int, total: int, loss: float, t0: float = t0) -> None:
                if step % 20 == 0 or step == total:
                    print(
                        f"  step {step}/{total} loss {loss:.4f} ({time.perf_counter() - t0:.0f} s)",
                        flush=True,
                    )

            fitted[kind] = det.fit(train_pairs, y_train, progress=report_step)
        else:
            fitted[kind] = det.fit(train_pairs, y_train)
        fit_s[kind] = time.perf_counter() - t0
        if hasattr(fitted[kind], "save"):  # the cheap baselines are simply refitted
            fitted[kind].save(kept)

    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    by_prec: dict[str, Any] = {}
    for split in [s for s in splits if s != "train" and not args.only_throughput]:
        _f, pairs, y = splits[split]
        results[split] = {}
        for kind, det in fitted.items():
            if kind == "span":
                det.clear_cache()
            results[split][kind] = scores(y, det.predict_proba(pairs), float(det.threshold_))
            if kind == "span":  # what the fused head adds over the span network's own score
                results[split]["span_alone"] = scores(y, det.span_proba(pairs), float(det.span_threshold_))
        span_det = fitted["span"]
        by_prec[split] = {"default": span_det.inference_precision()}
        for prec in ("fp32", "bf16", "int8"):  # what each scoring arithmetic costs in quality
            span_det.set_params(quantize=prec == "int8", precision="fp32" if prec == "int8" else prec)
            span_det.clear_cache()
            by_prec[split][prec] = scores(y, span_det.predict_proba(pairs), float(span_det.threshold_))
        span_det.set_params(quantize=False, precision=SpanConfig().precision)
        span_det.clear_cache()
    span = fitted["span"]
    tp_split = "slurp" if "slurp" in splits else "sim_test"
    tput = [
        throughput(span, splits[tp_split][0], splits[tp_split][1], t, prec)
        for prec in ("fp32", "bf16", "int8")
        for t in sorted({1, 2, args.threads})
    ]
    if args.only_throughput:  # re-time scoring (e.g. on a quiet machine) into the existing report
        from selflearn.util.atomic import atomic_write_text

        old = json.loads(args.out.read_text())
        old["throughput"] = tput
        old["throughput_load_avg_before"] = load_before
        old["throughput_provenance"] = provenance()  # the rest keeps the full run's provenance
        atomic_write_text(args.out, json.dumps(old, indent=2))
        for t in tput:
            print(f"{t['precision']} {t['threads']} thread(s): {t['turns_per_s']:.0f} turns/s")
        return
    # what the loops' nightly scoring uses
    span.set_params(quantize=False, precision=SpanConfig().precision, threads=args.threads)

    loops = [] if args.skip_loop else run_loops(args, nlu_dir, fitted, work)

    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "train": {"pairs": int(train_pairs.num_rows), "positives": int(y_train.sum())},
        "span_model": {
            "steps": span.steps_,
            "hard_negatives": span.n_hard_negatives_,
            "threshold": span.threshold_,
            "valid_f1": span.valid_f1_,
            "span_threshold": span.span_threshold_,
            "span_valid_f1": span.span_valid_f1_,
            "fusion": None if span.fusion_ is None else span.fusion_.summary(),
            "final_loss": span.final_loss_,
            "train_seconds": span.train_seconds_,
            "train_layers": span.config.train_layers,
        },
        "fit_seconds": fit_s,
        "detection": results,
        "span_by_precision": by_prec,
        "throughput": tput,
        "loops": loops,
        "seconds": time.perf_counter() - t_start,
    }
    best_base: dict[str, Any] = {}
    for split, res in results.items():
        base = max((k for k in res if k in BASELINES), key=lambda k: res[k]["f1"])
        best_base[split] = {
            "best_baseline": base,
            "span_minus_best_f1_points": 100 * (res["span"]["f1"] - res[base]["f1"]),
        }
    report["span_vs_best_baseline"] = best_base

    print()
    for split, res in results.items():
        print(f"{split}: {res['span']['pairs']} pairs, {res['span']['positives']} rephrases")
        print(f"  {'detector':<28}{'P':>7}{'R':>7}{'F1':>7}{'AP':>7}")
        for kind, r in res.items():
            print(
                f"  {NAMES[kind]:<28}{r['precision']:>7.3f}{r['recall']:>7.3f}{r['f1']:>7.3f}"
                f"{r['average_precision']:>7.3f}"
            )
        b = best_base[split]
        print(
            f"  span - best baseline ({b['best_baseline']}): {b['span_minus_best_f1_points']:+.1f} F1 points"
        )
        bp = by_prec[split]
        print(
            f"  span F1 by scoring arithmetic (default {bp['default']}): "
            + ", ".join(f"{k} {bp[k]['f1']:.3f}" for k in ("fp32", "bf16", "int8"))
        )
    for t in tput:
        print(
            f"span scoring, {t['precision']}, {t['threads']} thread(s): "
            f"{t['turns_per_s']:.0f} turns/s wall from scratch "
            f"({t['turns_per_cpu_s']:.0f} turns per CPU-s, load {t['load_avg_1m']:.1f}), "
            f"{t['turns_per_s_cached']:.0f} turns/s cached ({t['turns']} turns, {t['pairs']} pairs)"
        )
    if loops:
        head = f"{'loop':<12}{'seed':>5}{'defect d1':>10}{'defect dN':>10}{'reduction':>11}"
        print(f"\n{head}{'wins':>7}{'losses':>8}{'W/L':>8}")
        for lp in loops:
            print(
                f"{lp['detector']:<12}{lp['seed']:>5}{lp['first_day_defect_rate']:>10.3f}{lp['last_day_defect_rate']:>10.3f}"
                f"{lp['relative_reduction']:>11.1%}{lp['wins']:>7}{lp['losses']:>8}{lp['win_loss_ratio']:>8.1f}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from selflearn.util.atomic import atomic_write_text

    atomic_write_text(args.out, json.dumps(with_provenance(report), indent=2))
    print(f"wrote {args.out} in {report['seconds']:.0f} s")


if __name__ == "__main__":
    main()
