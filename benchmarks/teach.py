"""Teachable-AI benchmark: the teaching dialogue's turn accuracy and what teaching does to
preference-dependent requests, on simulated people with latent preferences.

    .venv/bin/python benchmarks/teach.py [--users 300] [--seeds 0 1 2] [--quick]

For each seed and ASR setting (clean text, and the noisy-channel recogniser at its default error
rate) one population plays its episodes (see selflearn.simulate.preferences) against the default assistant
with the teaching stage on. Reported:

* dialogue turn accuracy: the share of turns whose logged act is the one the person meant, with
  the right preference kind and value where the act carries one (teaching, correcting, answering);
  over every turn of the episodes (ordinary requests must pass through untouched) and over the
  teaching turns alone; also per act;
* defect rate of preference-dependent requests before teaching and after it;
* the share of the very next preference-dependent request (per taught kind) that succeeds, and
  the same among those whose intent the NLU got right (what teaching can affect);
* privacy: a preference taught by one member of a household used for another (must be 0), and
  the preference rows left after "forget everything about me" (must be 0).

Metrics pool the seeds' turns (each seed's headline numbers are listed too). `run(quick)` returns
the results dict; the __main__ prints a table and writes benchmarks/results/teach.json. The
default run takes a few minutes (most of it training the NLU once per seed; cached under
benchmarks/results/tmp-teach-nlu); --quick takes well under a minute.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from provenance import with_provenance
from selflearn.compose import (
    DEFAULT_ASR_ERROR_RATE,
    build_assistant,
    default_config,
    load_or_train_nlu,
)
from selflearn.grammar import generate
from selflearn.home.factory import make_home
from selflearn.simulate.population import EPOCH
from selflearn.simulate.preferences import PreferenceSimulator, PreferenceTruth, PrefSimConfig
from selflearn.teach.component import TeachRuntime, UserPreferences
from selflearn.teach.parse import Act, TeachingParser
from selflearn.teach.store import PreferenceStore
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "teach.json"
NLU_CACHE = ROOT / "benchmarks" / "results" / "tmp-teach-nlu"
TARGET_TURN_ACC = 0.93
TARGET_NEXT_SUCCESS = 0.95


def _rate(xs: list[bool]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def summarize(truth: list[PreferenceTruth]) -> dict[str, Any]:
    """Metrics over one run's truth rows."""
    teaching = [r for r in truth if r.expected_act != "none"]
    per_act: dict[str, list[bool]] = defaultdict(list)
    for r in truth:
        per_act[r.expected_act].append(r.act_correct)
    reqs = [r for r in truth if r.pref_kind is not None and r.success is not None]
    before = [bool(r.success) for r in reqs if r.phase == "before"]
    after = [bool(r.success) for r in reqs if r.phase in ("after", "changed")]
    nxt = [r for r in reqs if r.next_after_teach]
    confusions = Counter((r.expected_act, r.predicted_act) for r in truth if not r.act_correct)
    return {
        "turns": len(truth),
        "teaching_turns": len(teaching),
        "people": len({r.user_id for r in truth}),
        "turn_accuracy_all": _rate([r.act_correct for r in truth]),
        "turn_accuracy_teaching": _rate([r.act_correct for r in teaching]),
        "per_act": {a: {"n": len(v), "accuracy": _rate(v)} for a, v in sorted(per_act.items())},
        "defect_rate_before": _rate([not s for s in before]),
        "defect_rate_after": _rate([not s for s in after]),
        "n_before": len(before),
        "n_after": len(after),
        "next_request_success": _rate([bool(r.success) for r in nxt]),
        "n_next": len(nxt),
        "next_request_success_by_kind": {
            k: _rate([bool(r.success) for r in nxt if r.pref_kind == k])
            for k in sorted({r.pref_kind for r in nxt if r.pref_kind})
        },
        "modes": dict(Counter(r.mode for r in truth)),
        "top_confusions": [[e, p, n] for (e, p), n in confusions.most_common(8)],
    }


def _nlu_right(turns_by_id: dict[str, Any], truth: list[PreferenceTruth]) -> float | None:
    """Next-request success among requests whose intent the NLU got right and accepted: what
    teaching can affect (the NLU's own misses on unseen phrasings fail with or without it)."""
    ok = [
        bool(r.success)
        for r in truth
        if r.next_after_teach
        and _top_intent(turns_by_id[r.turn_id]) == r.gold_intent
        and not turns_by_id[r.turn_id].nlu.error  # accepted, not rejected for low confidence
    ]
    return _rate(ok)


def _top_intent(turn: Any) -> str | None:
    top = turn.nlu.top
    return top.intent if top is not None else None


def _filled(state: Any, kind: str) -> list[tuple[str, str]]:
    """(whose preferences, kind) that filled a slot in this turn, from the teaching stage's record."""
    prefs = state.preferences
    if not isinstance(prefs, UserPreferences):
        return []
    return [(prefs.user_id, k.value) for k, _key in prefs.applied if k.value == kind]


def privacy_probe(sim: PreferenceSimulator, runtime: TeachRuntime, assistant: Any) -> dict[str, Any]:
    """Cross-user privacy: for every member B of a household who has no stored preference of a kind
    that another member A has, B asks a plain request of that kind; any preference of that kind
    applied in B's turn is a leak (and one not B's own would be a worse one). The same request by
    A must apply A's preference (sanity: the probe can see a fill)."""
    store = runtime.store
    probes = leaks = foreign = own_fills = own_probes = 0
    when = EPOCH + timedelta(days=30)
    for hh in sim.households:
        if len(hh.users) < 2:
            continue
        kinds = {u.user_id: {p.kind.value for p in store.preferences(u.user_id)} for u in hh.users}
        for kind in ("favorite_team", "cuisine", "music_genre"):
            have = [u for u, ks in kinds.items() if kind in ks]
            lack = [u for u, ks in kinds.items() if kind not in ks]
            if not have or not lack:
                continue
            for u in lack:
                when += timedelta(minutes=10)
                filled = _filled(sim.probe(assistant, u, kind, when), kind)
                probes += 1
                leaks += bool(filled)
                foreign += any(who != u for who, _k in filled)
            when += timedelta(minutes=10)
            own_probes += 1
            own_fills += bool(_filled(sim.probe(assistant, have[0], kind, when), kind))
    return {
        "privacy_probes": probes,
        "cross_user_leaks": leaks,
        "foreign_user_fills": foreign,
        "own_preference_probes": own_probes,
        "own_preference_fill_rate": _rate([True] * own_fills + [False] * (own_probes - own_fills)),
    }


@dataclass
class _Run:
    """One (seed, ASR setting) run: its truth rows and logged turns, and its store-level checks."""

    truth: list[PreferenceTruth]
    turns: list[Any]
    checks: dict[str, Any]
    seconds: float


def run_setting(asr_error_rate: float, users: int, seed: int, nlu: Any) -> _Run:
    runtime = TeachRuntime(PreferenceStore(":memory:"))
    assistant = build_assistant(
        default_config(seed=seed, nlu=nlu, asr_error_rate=asr_error_rate, teach=runtime)
    )
    sim = PreferenceSimulator(PrefSimConfig(users=users, seed=seed))
    t0 = time.perf_counter()
    turns, truth = sim.run(assistant)
    wall = time.perf_counter() - t0
    # forget-all is the last turn of an episode: nothing may be left for those users
    forgot_all = {r.user_id for r in truth if r.expected_act == "forget_all" and r.act_correct}
    checks: dict[str, Any] = {
        "forget_all_users": len(forgot_all),
        "rows_left_after_forget_all": sum(len(runtime.store.preferences(u)) for u in forgot_all),
        "history_left_after_forget_all": sum(len(runtime.store.history(u)) for u in forgot_all),
    }
    checks.update(privacy_probe(sim, runtime, assistant))
    return _Run(truth, turns, checks, wall)


def pooled(runs: list[_Run], asr_error_rate: float) -> dict[str, Any]:
    """Metrics over the truth rows of several seeds together, plus each seed's headline numbers."""
    truth = [r for run in runs for r in run.truth]
    by_id = {t.turn_id: t for run in runs for t in run.turns}
    out = summarize(truth)
    out["next_request_success_nlu_right"] = _nlu_right(by_id, truth)
    for key in ("forget_all_users", "rows_left_after_forget_all", "history_left_after_forget_all"):
        out[key] = sum(run.checks[key] for run in runs)
    for key in ("privacy_probes", "cross_user_leaks", "foreign_user_fills", "own_preference_probes"):
        out[key] = sum(run.checks[key] for run in runs)
    fills = [run.checks["own_preference_fill_rate"] * run.checks["own_preference_probes"] for run in runs]
    out["own_preference_fill_rate"] = round(sum(fills) / max(1, out["own_preference_probes"]), 4)
    out["per_seed"] = [
        {
            k: summarize(run.truth)[k]
            for k in ("turn_accuracy_teaching", "next_request_success", "defect_rate_after")
        }
        for run in runs
    ]
    out["asr_error_rate"] = asr_error_rate
    out["share_of_turns_misheard"] = _rate([r.spoken_text != r.heard_text for r in truth])
    wall = sum(run.seconds for run in runs)
    out["seconds"] = round(wall, 2)
    out["ms_per_turn"] = round(1000 * wall / max(1, len(truth)), 2)
    return out


def grammar_interceptions(seeds: tuple[int, ...], per_intent: int = 30) -> dict[str, Any]:
    """Ordinary requests (every intent of the grammar, rendered) the teaching stage would take for
    teaching talk: they must all reach the NLU."""
    parser = TeachingParser()
    n = taken = 0
    for seed in seeds:
        home = make_home(random.Random(seed), f"h{seed}")
        for ex in generate(per_intent, seed):
            n += 1
            taken += parser.parse(ex.text, home).act is not Act.NONE
    return {"requests": n, "intercepted": taken, "rate": round(taken / max(1, n), 5)}


def run(
    quick: bool = False, users: int | None = None, seeds: tuple[int, ...] | None = None
) -> dict[str, Any]:
    """Both ASR settings over `seeds` (each seed: its own population, phrasing popularity and NLU
    training split); `quick` uses fewer people, one seed and a smaller NLU."""
    n_users = users or (60 if quick else 300)
    n_per_intent = 120 if quick else 400
    seeds = seeds or ((0,) if quick else (0, 1, 2))
    clean: list[_Run] = []
    noisy: list[_Run] = []
    for seed in seeds:
        nlu = load_or_train_nlu(NLU_CACHE / f"n{n_per_intent}-s{seed}", seed=seed, n_per_intent=n_per_intent)
        clean.append(run_setting(0.0, n_users, seed, nlu))
        noisy.append(run_setting(DEFAULT_ASR_ERROR_RATE, n_users, seed, nlu))
    return {
        "ordinary_requests_intercepted": grammar_interceptions(seeds),
        "config": {
            "users_per_seed": n_users,
            "seeds": list(seeds),
            "nlu_examples_per_intent": n_per_intent,
            "quick": quick,
        },
        "clean": pooled(clean, 0.0),
        "noisy": pooled(noisy, DEFAULT_ASR_ERROR_RATE),
        "targets": {"turn_accuracy": TARGET_TURN_ACC, "next_request_success": TARGET_NEXT_SUCCESS},
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def print_table(res: dict[str, Any]) -> None:
    rows = [
        ("dialogue turn accuracy (teaching turns)", "turn_accuracy_teaching", f">= {TARGET_TURN_ACC}"),
        ("dialogue turn accuracy (all turns)", "turn_accuracy_all", f">= {TARGET_TURN_ACC}"),
        ("next pref-dependent request succeeds", "next_request_success", f">= {TARGET_NEXT_SUCCESS}"),
        ("  ... where the NLU intent was right", "next_request_success_nlu_right", ""),
        ("defect rate before teaching", "defect_rate_before", ""),
        ("defect rate after teaching", "defect_rate_after", "lower"),
        ("cross-user leaks (privacy probes)", "cross_user_leaks", "0"),
        ("own preference used in probe", "own_preference_fill_rate", "1.0"),
        ("rows left after forget-all", "rows_left_after_forget_all", "0"),
        ("teaching turns / all turns", None, ""),
        ("ms per turn", "ms_per_turn", ""),
    ]
    print(f"{'metric':44s} {'clean':>10s} {'noisy ASR':>10s}  target")
    for label, key, target in rows:
        if key is None:
            c, n = res["clean"], res["noisy"]
            cs, ns = f"{c['teaching_turns']}/{c['turns']}", f"{n['teaching_turns']}/{n['turns']}"
            print(f"{label:44s} {cs:>10s} {ns:>10s}")
            continue
        print(f"{label:44s} {_fmt(res['clean'][key]):>10s} {_fmt(res['noisy'][key]):>10s}  {target}")
    for name in ("clean", "noisy"):
        print(
            f"{name}: per act "
            + ", ".join(f"{a}={v['accuracy']}({v['n']})" for a, v in res[name]["per_act"].items())
        )
        print(f"{name}: next success by kind {res[name]['next_request_success_by_kind']}")
        print(f"{name}: top confusions (expected, logged, n) {res[name]['top_confusions']}")
        print(f"{name}: per seed {res[name]['per_seed']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer people, smaller NLU")
    ap.add_argument("--users", type=int, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (quick: 0)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    res = run(args.quick, args.users, tuple(args.seeds) if args.seeds else None)
    res["total_seconds"] = round(time.perf_counter() - t0, 1)
    print_table(res)
    g = res["ordinary_requests_intercepted"]
    print(f"ordinary grammar requests taken for teaching talk: {g['intercepted']}/{g['requests']} (target 0)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(with_provenance(res), indent=2))
    print(f"wrote {RESULTS} ({res['total_seconds']} s)")


if __name__ == "__main__":
    main()
