"""Fit time of the Markov rewrite miner on a synthetic chain table (~700k chains, ~1M turns, ~50k texts).

Synthetic, not simulated: hubs (correct requests, Zipf popularity) each with misheard variants; chains
are single requests, variant -> hub rephrases, variant -> variant -> hub, and a share of noise chains
hub -> random hub (rephrase-detector mistakes) that glue hubs into one giant component, the hard
case for a per-component solve. Prints a table and writes benchmarks/results/rewrite_markov_fit.json.

    .venv/bin/python benchmarks/rewrite_markov_fit.py [--chains 700000] [--scenario all] [--repeat 1]

Chains carry NLU interpretations (a variant that worked means what its hub means), so the default
fit groups success states by interpretation; --per-text fits with group_by_interpretation=False.

Scenarios: structured (no noise chains: many small components), noisy-exact (3% noise chains: one
component of ~43k texts around a ~3.7k-text strongly connected core; the exact graph) and
noisy-pruned (same data, min_edge_users=2).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from provenance import with_provenance
from selflearn.rewrite.markov import CHAIN_SCHEMA, MarkovRewriteMiner, count_transitions
from selflearn.util.atomic import atomic_write_text

INTENTS = ["lights_on", "lights_off", "play_music", "weather_query", "timer_set", "door_unlock", "purchase"]


def synthetic_chains(
    n_chains: int = 700_000,
    hubs: int = 5_000,
    variants: int = 9,
    users: int = 20_000,
    noise: float = 0.03,
    seed: int = 0,
) -> pa.Table:
    rng = np.random.default_rng(seed)
    hub_text = np.array([f"request number {h} please" for h in range(hubs)], dtype=object)
    var_text = np.array(
        [f"request numb {h} pleas v{k}" for h in range(hubs) for k in range(variants)], dtype=object
    )
    texts = np.concatenate([hub_text, var_text])
    hub_intent = np.array([INTENTS[h % len(INTENTS)] for h in range(hubs)], dtype=object)
    pop = 1.0 / np.arange(1, hubs + 1) ** 0.8
    pop /= pop.sum()

    mix = np.array([0.62, 0.10, 0.20, 0.05, noise])
    kind = rng.choice(5, size=n_chains, p=mix / mix.sum())
    # kinds: 0 hub, 1 variant alone, 2 variant->hub, 3 variant->variant->hub, 4 hub->random hub (noise)
    hub = rng.choice(hubs, size=n_chains, p=pop)
    var = hubs + hub * variants + rng.integers(0, variants, size=n_chains)
    var2 = hubs + hub * variants + rng.integers(0, variants, size=n_chains)
    other = rng.integers(0, hubs, size=n_chains)
    lens = np.select([kind == 0, kind == 1, kind == 2, kind == 3], [1, 1, 2, 3], 2)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    total = int(offsets[-1])
    node = np.empty(total, np.int64)
    starts = offsets[:-1]
    first = np.select([kind == 0, kind == 4], [hub, hub], var)
    node[starts] = first
    two = lens >= 2
    node[starts[two] + 1] = np.select([kind[two] == 2, kind[two] == 3], [hub[two], var2[two]], other[two])
    three = lens == 3
    node[starts[three] + 2] = hub[three]
    u = rng.random(n_chains)
    success = np.select([kind == 0, kind == 1, kind == 4], [u < 0.95, u < 0.2, u < 0.6], u < 0.9)
    outcome = np.where(success, "success", np.where(u < 0.97, "failure", "abandoned"))
    user = rng.integers(0, users, size=n_chains)
    t0 = 1_704_067_200_000_000 + rng.integers(0, 30 * 86_400, size=n_chains) * 1_000_000
    pos = np.arange(total) - np.repeat(starts, lens)
    ts = np.repeat(t0, lens) + pos * 5_000_000
    is_last = pos == np.repeat(lens, lens) - 1
    defective = ~(is_last & np.repeat(success, lens))
    intent = np.where(node < hubs, hub_intent[np.minimum(node, hubs - 1)], None)
    # NLU interpretation: what the hub means (a misheard variant that worked was understood as it)
    hub_of = np.where(node < hubs, node, (node - hubs) // variants)
    hub_interp = np.array([f"{hub_intent[h]}|item=request {h}" for h in range(hubs)], dtype=object)
    interp = hub_interp[hub_of]

    def lst(values: pa.Array) -> pa.Array:
        return pa.ListArray.from_arrays(pa.array(offsets), values)

    tstype = pa.timestamp("us", tz="UTC")
    text_arr = pa.array(texts[node].tolist(), type=pa.string())
    return pa.table(
        {
            "chain_id": pa.array([f"c{i}" for i in range(n_chains)]),
            "user_id": pa.array([f"user{k}" for k in user]),
            "session_id": pa.array([f"s{i // 2}" for i in range(n_chains)]),
            "turn_ids": lst(pa.array([f"t{i}" for i in range(total)])),
            "asr_texts": lst(text_arr),
            "nlu_texts": lst(text_arr),
            "rule_ids": lst(pa.nulls(total, pa.string())),
            "intents": lst(pa.array(intent.tolist(), type=pa.string())),
            "timestamps": lst(pa.array(ts, type=pa.int64()).cast(tstype)),
            "defective": lst(pa.array(defective)),
            "outcome": pa.array(outcome.tolist()),
            "first_ts": pa.array(t0, type=pa.int64()).cast(tstype),
            "last_ts": pa.array(t0 + (lens - 1) * 5_000_000, type=pa.int64()).cast(tstype),
            "interpretations": lst(pa.array(interp.tolist(), type=pa.string())),
        },
        schema=CHAIN_SCHEMA,
    )


SCENARIOS = {  # name: (noise share of chains, min_edge_users)
    "structured": (0.0, 1),
    "noisy-exact": (0.03, 1),
    "noisy-pruned": (0.03, 2),
}


def run(
    n_chains: int, noise: float, min_edge_users: int, strategy: str, repeat: int, group: bool = True
) -> dict[str, object]:
    t = time.perf_counter()
    chains = synthetic_chains(n_chains, noise=noise)
    gen_s = time.perf_counter() - t
    turns = int(np.sum(chains["nlu_texts"].combine_chunks().value_lengths().to_numpy()))
    t = time.perf_counter()
    edges = count_transitions(chains, group_by_interpretation=group)
    count_s = time.perf_counter() - t
    miner = MarkovRewriteMiner(
        strategy=strategy,  # type: ignore[arg-type]
        min_edge_users=min_edge_users,
        group_by_interpretation=group,
    )
    fits = []
    for _ in range(repeat):
        t = time.perf_counter()
        miner.fit(chains)
        fits.append(time.perf_counter() - t)
    return {
        "chains": chains.num_rows,
        "turns": turns,
        "texts": miner.input_["texts"],
        "edges": edges.num_rows,
        "noise": noise,
        "min_edge_users": min_edge_users,
        "group_by_interpretation": group,
        "generate_s": round(gen_s, 3),
        "count_transitions_s": round(count_s, 3),
        "fit_s": [round(x, 3) for x in fits],
        "fit_s_min": round(min(fits), 3),
        **{k: v for k, v in miner.stats_.items() if k in ("candidate_sources", "largest_component", "rules")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chains", type=int, default=700_000)
    ap.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--strategy", default="auto")
    ap.add_argument(
        "--per-text", action="store_true", help="group_by_interpretation=False (success states per text)"
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "rewrite_markov_fit.json")
    args = ap.parse_args()

    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results = {}
    for name in names:
        noise, min_edge_users = SCENARIOS[name]
        results[name] = run(args.chains, noise, min_edge_users, args.strategy, args.repeat, not args.per_text)

    cols = ["chains", "turns", "texts", "edges", "candidate_sources", "largest_component", "rules"]
    cols += ["count_transitions_s", "fit_s_min"]
    print(f"{'metric':<22}" + "".join(f"{n:>16}" for n in names))
    for c in cols:
        print(f"{c:<22}" + "".join(f"{results[n][c]!s:>16}" for n in names))
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()}
    atomic_write_text(out, json.dumps(with_provenance({"scenarios": results, **meta}), indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
