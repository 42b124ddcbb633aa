"""Ranker feature ablation on logged traffic: out-of-fold wins and losses with and without a feature.

The closed-loop benchmark (`online_rewrite.py`) moves a seed by several points between retrainings,
which hides the effect of one feature. This one holds the traffic fixed: for each workspace (the
logs of an arm of `online_rewrite.py`, say), it mines the rephrase chains once and trains the online
model several times (fold seeds) per variant, then reads the ranker's out-of-fold margins:

* `net`: out-of-fold wins - losses at the best threshold with wins / (wins + losses) >= 0.85
  (the ranker's own calibration rule);
* `wins@L`: wins at the highest threshold that still keeps out-of-fold losses <= L.

Variants (a feature is ablated by holding it at zero in training and out of fold):

* `base`: neither of this session's additions (no `lm_gain`, personal candidates without crowd
  support);
* `crowd`: personal candidates keep the global index's support (`global_users`);
* `lm`: `lm_gain` only;
* `full`: both (the shipped ranker).

`--rankers` crosses the variants with ranker settings: `bag` (the shipped one: 3 boosters on 80%
of rows and features each, scored by their mean, with `RewriteRanker`'s defaults), `single` (one
booster of 120 trees, the ranker before session 7) and `bag500` / `bag250` (the bag with 500
trees at step 0.05, the default until online_ranker_trees.json, or 250 at 0.1). Keys then read
`VARIANT+RANKER`.

It reads only logs (and a catalog where given); the bi-encoder is the shipped one (no fine-tuning),
so the variants differ in nothing else.

    python benchmarks/online_ranker_ablation.py \
        --workspace /tmp/w/sim-s0-global_personal:global+personal \
        --workspace /tmp/w/slurp-s2-global_personal:global+personal:/tmp/w/slurp-data/train.jsonl
    python benchmarks/online_ranker_ablation.py --variants full --rankers single,bag --workspace ...
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from provenance import with_provenance
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector
from selflearn.jobs.engine import make_engine
from selflearn.jobs.nightly import NightlyConfig, mine_chains
from selflearn.rewrite import online_train, ranking
from selflearn.rewrite.online_train import OnlineTrainConfig, train_online
from selflearn.util.atomic import atomic_write_text

VARIANTS = ("base", "crowd", "lm", "full")
RANKERS: dict[str, dict[str, Any]] = {
    "bag": {},
    "single": {"bags": 1, "n_estimators": 120, "learning_rate": 0.08},
    # the shipped bag before 250 trees at step 0.1 became the default, and that default
    "bag500": {"n_estimators": 500, "learning_rate": 0.05},
    "bag250": {"n_estimators": 250, "learning_rate": 0.1},
}
LOSS_LIMITS = (5, 10, 20)


def summarize(
    margins: np.ndarray, correct: np.ndarray, loss: np.ndarray, precision: float
) -> dict[str, float]:
    finite = np.isfinite(margins)
    order = np.argsort(-margins[finite])
    c, lo = correct[finite][order], loss[finite][order]
    wins, losses = np.cumsum(c), np.cumsum(lo)
    prec = wins / np.maximum(wins + losses, 1e-9)
    ok = (prec >= precision) & (wins >= 3)
    out = {"net": float((wins - losses)[ok].max()) if ok.any() else 0.0}
    for limit in LOSS_LIMITS:
        out[f"wins@{limit}"] = float(wins[losses <= limit].max(initial=0))
    return out


def _features(variant: str) -> Callable[..., np.ndarray]:
    original = ranking.candidate_features
    lm_col = ranking.FEATURES.index("lm_gain")

    def features(*args: Any, **kwargs: Any) -> np.ndarray:
        if variant in ("base", "lm"):
            kwargs["crowd"] = None
        f = original(*args, **kwargs)
        if variant in ("base", "crowd"):
            f[lm_col] = 0.0
        return f

    return features


def _ranker(setting: str) -> Callable[..., ranking.RewriteRanker]:
    def make(**kwargs: Any) -> ranking.RewriteRanker:
        return ranking.RewriteRanker(**{**kwargs, **RANKERS[setting]})

    return make


def run(
    workspace: Path,
    layers: str,
    catalog: str | None,
    seeds: list[int],
    precision: float,
    runs: list[tuple[str, str, str]],
) -> dict[str, Any]:
    """`runs`: (result key, feature variant, ranker setting)."""
    engine = make_engine("embedded")
    try:
        chains, turns = mine_chains(engine, workspace / "logs", HeuristicRephraseDetector(), NightlyConfig())
    finally:
        engine.close()
    captured: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    calibrate = ranking.RewriteRanker._calibrate

    def recording(
        self: Any, margins: np.ndarray, correct: np.ndarray, loss: np.ndarray, report: Any
    ) -> float:
        if not captured:  # the first call sees every group; later ones are per layer
            captured.append((margins.copy(), correct.copy(), loss.copy()))
        return calibrate(self, margins, correct, loss, report)

    original = online_train.candidate_features
    original_ranker = online_train.RewriteRanker
    out: dict[str, Any] = {"workspace": str(workspace), "layers": layers, "catalog": catalog, "turns": turns}
    try:
        ranking.RewriteRanker._calibrate = recording  # type: ignore[method-assign]
        for key, variant, setting in runs:
            online_train.candidate_features = _features(variant)
            online_train.RewriteRanker = _ranker(setting)  # type: ignore[misc,assignment]
            per_seed = []
            for seed in seeds:
                captured.clear()
                cfg = OnlineTrainConfig(
                    layers=layers, fine_tune_steps=0, publish=False, catalog=catalog, seed=seed
                )
                train_online(workspace, chains, cfg)
                per_seed.append(summarize(*captured[0], precision) if captured else {})
            keys = per_seed[0].keys() if per_seed and per_seed[0] else []
            out[key] = {
                "per_seed": per_seed,
                "mean": {k: float(np.mean([s[k] for s in per_seed])) for k in keys},
            }
    finally:
        ranking.RewriteRanker._calibrate = calibrate  # type: ignore[method-assign]
        online_train.candidate_features = original
        online_train.RewriteRanker = original_ranker  # type: ignore[misc]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "--workspace",
        action="append",
        required=True,
        help="PATH:LAYERS[:CATALOG], e.g. /tmp/w/sim-s0-global_personal:global+personal",
    )
    ap.add_argument("--seeds", default="0,1,2,3", help="training seeds (folds, negative sampling)")
    ap.add_argument("--precision", type=float, default=OnlineTrainConfig().target_precision)
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    ap.add_argument("--rankers", default="bag", help=f"ranker settings, of {', '.join(RANKERS)}")
    ap.add_argument("--out", default="benchmarks/results/online_ranker_ablation.json")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    settings = [r for r in args.rankers.split(",") if r]
    unknown = sorted(set(variants) - set(VARIANTS)) + sorted(set(settings) - set(RANKERS))
    if unknown:
        ap.error(f"unknown variants or rankers: {unknown}")
    plain = settings == ["bag"]
    runs = [(v if plain else f"{v}+{r}", v, r) for r in settings for v in variants]
    keys = [k for k, _, _ in runs]
    t0 = time.perf_counter()
    results = []
    for spec in args.workspace:
        path, _, rest = spec.partition(":")
        layers, _, catalog = rest.partition(":")
        results.append(
            run(Path(path), layers or "global+personal", catalog or None, seeds, args.precision, runs)
        )
    header = f"{'workspace':58s} {'variant':12s} " + " ".join(
        f"{k:>8s}" for k in ("net", "wins@5", "wins@10", "wins@20")
    )
    print(header)
    for r in results:
        name = "/".join(Path(r["workspace"]).parts[-2:])
        for v in keys:
            m = r[v]["mean"]
            print(
                f"{name:58s} {v:12s} "
                + " ".join(f"{m.get(k, 0.0):8.1f}" for k in ("net", "wins@5", "wins@10", "wins@20"))
            )
    totals = {
        v: {k: float(sum(r[v]["mean"].get(k, 0.0) for r in results)) for k in ("net", "wins@10")}
        for v in keys
    }
    print("summed over workspaces:", json.dumps(totals))
    doc = {
        "machine": {"python": platform.python_version()},
        "seeds": seeds,
        "precision": args.precision,
        "variants": keys,
        "rankers": {r: RANKERS[r] for r in settings},
        "results": results,
        "totals": totals,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.out), json.dumps(with_provenance(doc), indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
