"""Context-aware interpretation: per-ambiguity accuracy without and with the context reranker.

Protocol. A simulated population (ambiguity scenarios at `--share` of goal picks, ordinary traffic
otherwise) talks to the context-free assistant for `--train-days` days; the reranker is trained on
those days' LOGS (implicit feedback: success vs barge-in/rephrase/abandonment; no truth table),
with per-user histories built from the same logs. Then `--test-days` further days are simulated
twice from the same starting point, once with the context-free assistant and once with the
context reranker (histories updated nightly from the new logs, as a deployment would). Accuracy
of an ambiguity kind = share of first attempts at its goals that succeeded (judged by effect
against the gold command). Non-ambiguous traffic: turn-level defect rate (1 - success) of all
other requests, both arms. Every seed (`--seeds`, default 0 1 2) is its own world, run and trained
on its own; the top-level numbers pool the test turns of all seeds, `per_seed` has each one.

    .venv/bin/python benchmarks/context.py [--quick] [--seeds 0 1 2] [--users 120] [--train-days 16]

Prints a table per seed and the pooled one, and writes benchmarks/results/context.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provenance import with_provenance
from selflearn.home.domain import simulated_domain
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "context.json"
TARGET_ACCURACY = 0.90  # context resolves >= 90% of the cases ...
HARD_BASELINE = 0.60  # ... of kinds where the context-free assistant gets <= 60%
DOMAIN = simulated_domain()  # the simulated home is the deployment here


def _per_kind(sim: Any, truth: list[Any]) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = defaultdict(list)
    for r in truth:
        kind = sim.ambiguity_kinds.get(r.turn_id)
        if kind is not None and r.attempt == 1:
            out[kind].append(bool(r.success))
    return out


def _plain(sim: Any, truth: list[Any], first_only: bool = False) -> list[bool]:
    return [
        bool(r.success)
        for r in truth
        if r.is_request and r.turn_id not in sim.ambiguity_kinds and (r.attempt == 1 or not first_only)
    ]


def _diff_ci(a: list[bool], b: list[bool]) -> tuple[float, float, float]:
    """Difference of failure rates b - a with a normal-approximation 95% interval."""
    pa_, pb_ = 1 - sum(a) / len(a), 1 - sum(b) / len(b)
    se = math.sqrt(pa_ * (1 - pa_) / len(a) + pb_ * (1 - pb_) / len(b))
    d = pb_ - pa_
    return round(d, 4), round(d - 1.96 * se, 4), round(d + 1.96 * se, 4)


def run(
    quick: bool = False,
    users: int | None = None,
    train_days: int | None = None,
    test_days: int | None = None,
    share: float = 0.3,
    seed: int | None = None,
    seeds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Run the benchmark over `seeds` (default 0 1 2; `--quick`: seed 0 only, or `seed` alone when
    given) and return the result dict: the top-level numbers are pooled over the seeds (every
    seed's test turns together), `per_seed` holds each seed's own table."""
    if seeds is None:
        seeds = [seed] if seed is not None else ([0] if quick else [0, 1, 2])
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    users = users or (40 if quick else 120)
    train_days = train_days or (3 if quick else 16)
    test_days = test_days or (1 if quick else 3)
    t0 = time.perf_counter()
    per_seed: dict[str, dict[str, Any]] = {}
    raws: list[dict[str, Any]] = []
    for s in seeds:
        one, raw = _run_seed(users, train_days, test_days, share, s)
        per_seed[str(s)] = one
        raws.append(raw)
    pooled = _merge(raws)
    out: dict[str, Any] = {
        "benchmark": "context",
        "config": {
            "users": users,
            "train_days": train_days,
            "test_days": test_days,
            "ambiguity_share": share,
            "seeds": seeds,
            "quick": quick,
        },
        **_summarise(pooled),
        "per_seed": per_seed,
        "seconds": {"total": round(time.perf_counter() - t0, 1)},
        "machine": platform.platform(),
    }
    return out


def _merge(raws: list[dict[str, Any]]) -> dict[str, Any]:
    """Every seed's raw outcomes together (lists concatenated, counts added)."""
    out: dict[str, Any] = {
        "kinds_b": defaultdict(list),
        "kinds_c": defaultdict(list),
        "train_kinds": defaultdict(int),
        "replay": defaultdict(int),
        "plain_b": [],
        "plain_c": [],
        "first_b": [],
        "first_c": [],
        "changed": 0,
        "turns": 0,
    }
    for r in raws:
        for key in ("kinds_b", "kinds_c"):
            for k, v in r[key].items():
                out[key][k] += v
        for key in ("train_kinds", "replay"):
            for k, v in r[key].items():
                out[key][k] += v
        for key in ("plain_b", "plain_c", "first_b", "first_c"):
            out[key] += r[key]
        out["changed"] += r["changed"]
        out["turns"] += r["turns"]
    return out


def _summarise(raw: dict[str, Any]) -> dict[str, Any]:
    """The reported numbers of one seed's (or the pooled) raw outcomes."""
    from selflearn.simulate.ambiguity import KINDS

    per_kind: dict[str, dict[str, Any]] = {}
    hard_ctx: list[bool] = []
    hard_b: list[bool] = []
    for k in KINDS:
        b = raw["kinds_b"].get(k, [])
        c = raw["kinds_c"].get(k, [])
        acc_b = sum(b) / len(b) if b else None
        acc_c = sum(c) / len(c) if c else None
        hard = acc_b is not None and acc_b <= HARD_BASELINE
        if hard:
            hard_ctx += c
            hard_b += b
        per_kind[k] = {
            "n_context_free": len(b),
            "n_context": len(c),
            "acc_context_free": None if acc_b is None else round(acc_b, 3),
            "acc_context": None if acc_c is None else round(acc_c, 3),
            "hard": hard,
            "train_turns": raw["train_kinds"].get(k, 0),
        }
    pb, pc = raw["plain_b"], raw["plain_c"]
    resolved = sum(hard_ctx) / len(hard_ctx) if hard_ctx else None
    rep = dict(raw["replay"])
    return {
        "per_kind": per_kind,
        "hard_kinds_context_accuracy": None if resolved is None else round(resolved, 3),
        "hard_kinds_context_free_accuracy": round(sum(hard_b) / len(hard_b), 3) if hard_b else None,
        "hard_kinds_n": len(hard_ctx),
        "target": {"hard_baseline_max": HARD_BASELINE, "context_min": TARGET_ACCURACY},
        "target_met": resolved is not None and resolved >= TARGET_ACCURACY,
        "plain_defect_rate_context_free": round(1 - sum(pb) / len(pb), 4) if pb else None,
        "plain_defect_rate_context": round(1 - sum(pc) / len(pc), 4) if pc else None,
        "plain_n": [len(pb), len(pc)],
        "plain_defect_diff_ci95": _diff_ci(pb, pc) if pb and pc else None,
        "plain_first_attempt_failure": [
            round(1 - sum(x) / len(x), 4) if x else None for x in (raw["first_b"], raw["first_c"])
        ],
        "context_changed_turns": [raw["changed"], raw["turns"]],
        "plain_replay": {
            "n": rep.get("n", 0),
            "changed": rep.get("changed", 0),
            "fixed": rep.get("fixed", 0),
            "harmed": rep.get("harmed", 0),
            "net_defect_change": round(
                (rep.get("harmed", 0) - rep.get("fixed", 0)) / max(1, rep.get("n", 0)), 4
            ),
        },
        "replay_harm_ok": rep.get("harmed", 0) <= rep.get("fixed", 0),
    }


def _run_seed(
    users: int, train_days: int, test_days: int, share: float, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One seed: train days, reranker training, then the two held-out arms. Returns the seed's
    summary and its raw outcomes (for pooling)."""
    from selflearn.compose import build_assistant, default_config, load_or_train_nlu
    from selflearn.context.history import HistoryStore
    from selflearn.context.reranker import ContextReranker
    from selflearn.context.training import build_training_set, turn_outcomes, update_history
    from selflearn.simulate.traffic import SimConfig, Simulator
    from selflearn.text.encoder import set_torch_threads

    set_torch_threads(int(os.environ.get("SELFLEARN_TORCH_THREADS", "1")))
    t0 = time.perf_counter()
    cache = Path(tempfile.gettempdir()) / "selflearn-bench-context"
    nlu = load_or_train_nlu(cache / "nlu", seed=seed)
    baseline = build_assistant(default_config(seed=seed, nlu=nlu))
    cfg = SimConfig(users=users, seed=seed, ambiguity_share=share)

    # 1. training days: the context-free assistant, logs only
    sim = Simulator(cfg)
    logs = []
    train_kinds: dict[str, int] = defaultdict(int)
    for d in range(1, train_days + 1):
        res = sim.run_day(d, baseline)
        logs += res.turns
    for k in sim.ambiguity_kinds.values():
        train_kinds[k] += 1
    t_sim = time.perf_counter() - t0

    t1 = time.perf_counter()
    outcomes = turn_outcomes(logs)
    ts, history = build_training_set(logs, HistoryStore(DOMAIN), outcomes=outcomes)
    model = ContextReranker(seed=seed).fit(ts.x, ts.y, ts.weight, group=ts.group, observed=ts.observed)
    t_train = time.perf_counter() - t1

    # 2. held-out days, twice from the same start: context-free vs context reranker
    arms: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="selflearn-bench-context-") as tmp:
        saved = history.save(Path(tmp) / "history.json")
        for arm in ("context_free", "context"):
            s = Simulator(cfg)
            hist = HistoryStore.load(saved)
            if arm == "context":
                assistant = build_assistant(
                    default_config(seed=seed, nlu=nlu, context={"model": model, "history": hist})
                )
            else:
                assistant = baseline
            kinds: dict[str, list[bool]] = defaultdict(list)
            plain: list[bool] = []
            plain_first: list[bool] = []
            replay: dict[str, int] = defaultdict(int)
            for d in range(train_days + 1, train_days + test_days + 1):
                res = s.run_day(d, assistant)
                if arm == "context_free":
                    _replay(model, hist, s, res, replay)
                for k, v in _per_kind(s, res.truth).items():
                    kinds[k] += v
                plain += _plain(s, res.truth)
                plain_first += _plain(s, res.truth, first_only=True)
                # nightly: the day's logs extend the histories
                update_history(hist, res.turns, turn_outcomes(res.turns))
            comp = assistant.component("resolution")
            arms[arm] = {
                "kinds": kinds,
                "plain": plain,
                "plain_first": plain_first,
                "changed": getattr(comp, "n_changed", 0),
                "turns": getattr(comp, "n_turns", 0),
                "replay": dict(replay),
            }
    raw: dict[str, Any] = {
        "kinds_b": arms["context_free"]["kinds"],
        "kinds_c": arms["context"]["kinds"],
        "train_kinds": train_kinds,
        "replay": arms["context_free"]["replay"],
        "plain_b": arms["context_free"]["plain"],
        "plain_c": arms["context"]["plain"],
        "first_b": arms["context_free"]["plain_first"],
        "first_c": arms["context"]["plain_first"],
        "changed": arms["context"]["changed"],
        "turns": arms["context"]["turns"],
    }
    one = {
        "seed": seed,
        **_summarise(raw),
        "training": {
            "log_turns": len(logs),
            "labelled_turns": ts.n_turns,
            "rows": int(ts.x.shape[0]),
            "positive_rate": round(float(ts.y.mean()), 3) if len(ts.y) else None,
            "history_users": len(history),
            "calibration": getattr(model, "calibration_", None),
            "top_features": sorted(model.feature_importance().items(), key=lambda kv: -kv[1])[:8],
        },
        "seconds": {
            "simulate_train_days": round(t_sim, 1),
            "train": round(t_train, 1),
            "total": round(time.perf_counter() - t0, 1),
        },
    }
    return one, raw


def _replay(model: Any, hist: Any, sim: Any, res: Any, acc: dict[str, int]) -> None:
    """Paired check on ordinary traffic: replay the context-free arm's logged first attempts at
    non-ambiguous goals through the reranker (same turn, same context) and count the choices it
    would change, the ones that would turn a success into a failure (the new choice does not mean
    the gold command) and the failures it would fix. Judged against the truth by meaning
    (`Interpretation.same_meaning` / `equivalent` on the turn's snapshot), an approximation."""
    import json as _json

    from selflearn.context.features import equivalent, featurize, generate_candidates
    from selflearn.context.signals import Interpretation, TurnView
    from selflearn.context.training import prev_turn

    truth = {r.turn_id: r for r in res.truth}
    last: dict[str, Any] = {}
    for t in sorted(res.turns, key=lambda t: (t.timestamp, t.turn_index)):
        prev = prev_turn(t, last.get(t.user_id))
        last[t.user_id] = t
        r = truth.get(t.turn_id)
        if r is None or not r.is_request or r.attempt != 1 or t.turn_id in sim.ambiguity_kinds:
            continue
        if t.nlu.top is None or r.goal_intent is None:
            continue
        view = TurnView.from_turn(t, prev=prev, domain=DOMAIN)
        if view.default is None:
            continue
        acc["n"] += 1
        cands = generate_candidates(view, hist)
        if len(cands) < 2:
            continue
        best, _p = model.choose(featurize(cands, view, hist))
        if best == 0:
            continue
        acc["changed"] += 1
        gold = Interpretation.make(r.goal_intent, _json.loads(r.goal_args or "{}"))
        chosen = cands[best].interp
        right = chosen.same_meaning(gold) or equivalent(chosen, gold, view)
        if r.success and not right:
            acc["harmed"] += 1
        elif not r.success and right:
            acc["fixed"] += 1


def _fmt(v: float | None) -> str:
    return "  -  " if v is None else f"{v:5.3f}"


def _print_kinds(title: str, r: dict[str, Any]) -> None:
    print(title)
    print(f"{'kind':24s} {'n':>9s} {'no ctx':>7s} {'ctx':>7s}  hard(<=0.6)")
    for k, v in r["per_kind"].items():
        n = f"{v['n_context_free']}/{v['n_context']}"
        hard = "yes" if v["hard"] else ""
        print(f"{k:24s} {n:>9s} {_fmt(v['acc_context_free']):>7s} {_fmt(v['acc_context']):>7s}  {hard}")
    print(
        f"hard kinds, context accuracy: {_fmt(r['hard_kinds_context_accuracy'])} "
        f"(context-free {_fmt(r['hard_kinds_context_free_accuracy'])}, n={r['hard_kinds_n']}, "
        f"target >= {TARGET_ACCURACY}) met={r['target_met']}"
    )
    print(
        f"non-ambiguous defect rate: context-free {_fmt(r['plain_defect_rate_context_free'])} "
        f"context {_fmt(r['plain_defect_rate_context'])} (n={r['plain_n']}); "
        f"difference and 95% CI: {r['plain_defect_diff_ci95']}"
    )
    print(
        f"paired replay of ordinary first attempts: {r['plain_replay']} "
        f"harmed<=fixed: {r['replay_harm_ok']}; reranker changed "
        f"{r['context_changed_turns'][0]} of {r['context_changed_turns'][1]} turns"
    )


def print_table(r: dict[str, Any]) -> None:
    print(f"context benchmark  {r['config']}")
    for s, one in r.get("per_seed", {}).items():
        _print_kinds(f"--- seed {s}", one)
        print(f"training: {one['training']}")
        print(f"seconds: {one['seconds']}")
    _print_kinds(f"=== pooled over seeds {r['config']['seeds']}", r)
    print(f"seconds: {r['seconds']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--train-days", type=int, default=None)
    ap.add_argument("--test-days", type=int, default=None)
    ap.add_argument("--share", type=float, default=0.3)
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 2 (--quick: 0)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    r = run(a.quick, a.users, a.train_days, a.test_days, a.share, seeds=a.seeds)
    print_table(r)
    atomic_write_text(a.out, json.dumps(with_provenance(r), indent=2))


if __name__ == "__main__":
    main()
