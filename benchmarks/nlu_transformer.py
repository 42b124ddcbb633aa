"""The transformer understanding model against today's (TF-IDF + logistic regression, CRF slots).

Two beds, both trained on SLURP's ``devel.jsonl`` only:

* **devel splits**: split by slurp_id (80/20, one split per ``--seeds`` seed), both models trained
  on the 80%, scored on the 20% as written (intent accuracy, SLURP's SLU-F1, span F1);
* **real recognition**: both models trained on all of ``devel.jsonl``, scored on what a real
  recognizer heard of ``real_asr/requests.jsonl``'s recordings (``recognitions.jsonl``; every
  recording of every request, as the loop's first attempts hear them), against the request's gold
  intent and entities.

Latency: milliseconds per `predict` of one request on one torch thread, uncached (each text new),
p50 and p99 over the recognized texts. Targets (issue 23): the transformer >= 5 points of intent
accuracy and >= 5 points of SLU-F1 above today's model on the real-recognition bed, p99 <= 15 ms.

    .venv/bin/python benchmarks/nlu_transformer.py [--slurp-dir ../shared/data/slurp] [--seeds 0]
        [--lm-text ../shared/data/slurp/lm.txt]

With ``--lm-text`` the transformer also self-trains on those unlabelled requests (`TransformerNlu.fit`'s
``unlabelled``); today's model has no use for them.

Prints a table and writes benchmarks/results/nlu_transformer.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from provenance import with_provenance
from selflearn.assistant.nlu.model import NluModel
from selflearn.assistant.nlu.transformer import TransformerNlu
from selflearn.contracts.nlu_examples import Example
from selflearn.corpora.slurp import SlurpRecord, read_slurp, split_by_id, to_examples
from selflearn.eval.slu_metrics import slu_f1
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SLURP = ROOT.parent / "shared" / "data" / "slurp"
RESULTS = ROOT / "benchmarks" / "results" / "nlu_transformer.json"


def score(model: Any, texts: list[str], gold: list[Example]) -> dict[str, float]:
    """Intent accuracy and SLURP's entity metrics of the top hypothesis."""
    preds = model.predict_batch(texts, n=1)
    top = [p[0] if p else None for p in preds]
    acc = float(np.mean([h is not None and h.intent == g.intent for h, g in zip(top, gold, strict=True)]))
    gold_ents = [[(s.name, s.value) for s in g.slots] for g in gold]
    pred_ents = [[(s.name, s.value) for s in h.slots] if h else [] for h in top]
    f1 = slu_f1(gold_ents, pred_ents)
    return {"n": len(texts), "intent_accuracy": acc, "slu_f1": f1["slu_f1"], "span_f1": f1["span_f1"]}


def latency_ms(model: Any, texts: list[str]) -> dict[str, float]:
    """Per request, one at a time, each text new to the model's cache."""
    import torch

    torch.set_num_threads(1)
    model.cache_clear()
    for t in texts[:5]:  # warm the code paths, not the cache of the measured texts
        model.predict(t + " please")
    times = []
    for t in dict.fromkeys(texts):
        t0 = time.perf_counter()
        model.predict(t)
        times.append((time.perf_counter() - t0) * 1e3)
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "n": len(times),
    }


def heard(records: list[SlurpRecord], recognitions: Path) -> tuple[list[str], list[Example]]:
    """(recognized text, gold example) for every recording of every request that was recognized."""
    by_file = {}
    for line in recognitions.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            by_file[row["file"]] = row["text"]
    gold = {r.slurp_id: ex for r, ex in zip(records, to_examples(records), strict=True)}
    texts, golds = [], []
    for r in records:
        for rec in r.recordings:
            if rec.file in by_file:
                texts.append(by_file[rec.file])
                golds.append(gold[r.slurp_id])
    return texts, golds


def models(threads: int, epochs: int, seed: int) -> dict[str, Any]:
    return {
        "tfidf_crf": NluModel(random_state=seed),
        "transformer": TransformerNlu(epochs=epochs, threads=threads, random_state=seed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slurp-dir", type=Path, default=DEFAULT_SLURP)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=TransformerNlu().epochs)
    ap.add_argument("--threads", type=int, default=2, help="torch threads for training")
    ap.add_argument(
        "--lm-text",
        type=Path,
        default=None,
        help="unlabelled requests, one a line, for the transformer's self-training (e.g. SLURP's lm.txt)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    devel = read_slurp(a.slurp_dir / "devel.jsonl").records
    requests = read_slurp(a.slurp_dir / "real_asr" / "requests.jsonl").records
    texts, gold = heard(requests, a.slurp_dir / "real_asr" / "recognitions.jsonl")
    unlabelled = a.lm_text.read_text(encoding="utf-8").splitlines() if a.lm_text else []

    def fit(name: str, model: Any, examples: list[Example]) -> None:
        if name == "transformer" and unlabelled:
            model.fit(examples, unlabelled=unlabelled)
        else:
            model.fit(examples)

    out: dict[str, Any] = {"devel_splits": {}, "real_recognition": {}, "latency": {}, "train_seconds": {}}
    for seed in a.seeds:
        tr, va = split_by_id(devel, seed=seed, valid_fraction=0.2)
        train, valid = to_examples(tr), to_examples(va)
        for name, model in models(a.threads, a.epochs, seed).items():
            t0 = time.perf_counter()
            fit(name, model, train)
            print(f"devel split {seed}: {name} trained in {time.perf_counter() - t0:.0f} s", flush=True)
            out["devel_splits"].setdefault(name, []).append(score(model, [e.text for e in valid], valid))
    everything = to_examples(devel)
    for name, model in models(a.threads, a.epochs, a.seeds[0]).items():
        t0 = time.perf_counter()
        fit(name, model, everything)
        out["train_seconds"][name] = round(time.perf_counter() - t0, 1)
        out["real_recognition"][name] = score(model, texts, gold)
        out["latency"][name] = latency_ms(model, texts[:400])
        print(f"real recognition: {name} {out['real_recognition'][name]} {out['latency'][name]}", flush=True)
    rr = out["real_recognition"]
    out["gain"] = {
        "intent_accuracy_points": 100
        * (rr["transformer"]["intent_accuracy"] - rr["tfidf_crf"]["intent_accuracy"]),
        "slu_f1_points": 100 * (rr["transformer"]["slu_f1"] - rr["tfidf_crf"]["slu_f1"]),
    }
    out["targets"] = {
        "intent_accuracy_points": {"target": 5.0, "met": out["gain"]["intent_accuracy_points"] >= 5.0},
        "slu_f1_points": {"target": 5.0, "met": out["gain"]["slu_f1_points"] >= 5.0},
        "p99_ms": {"target": 15.0, "met": out["latency"]["transformer"]["p99_ms"] <= 15.0},
    }
    out["config"] = {
        "seeds": a.seeds,
        "epochs": a.epochs,
        "threads": a.threads,
        "recognized": len(texts),
        "lm_text": str(a.lm_text) if a.lm_text else None,
        "unlabelled": len(set(unlabelled)),
    }
    print(f"\n{'model':<12} {'bed':<18} {'intent acc':>10} {'SLU-F1':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for name in ("tfidf_crf", "transformer"):
        dev = out["devel_splits"][name]
        print(
            f"{name:<12} {'devel splits':<18} {np.mean([d['intent_accuracy'] for d in dev]):>10.1%} "
            f"{np.mean([d['slu_f1'] for d in dev]):>8.1%}"
        )
        lat = out["latency"][name]
        real = rr[name]
        print(
            f"{name:<12} {'real recognition':<18} {real['intent_accuracy']:>10.1%} {real['slu_f1']:>8.1%} "
            f"{lat['p50_ms']:>7.2f} {lat['p99_ms']:>7.2f}"
        )
    for k, v in out["targets"].items():
        print(f"target {k}: {'met' if v['met'] else 'MISSED'}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out, json.dumps(with_provenance(out), indent=2))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
