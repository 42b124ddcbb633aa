"""Interaction-log IO throughput: JSONL and Parquet write/read, nested and flat views.

Builds N synthetic turns (every stage filled, ~2k distinct request texts), then times, in turns/s:
write_jsonl, read_turns(.jsonl), write_parquet, read_turns(.parquet) (validated `Turn`s),
read_table (nested Arrow), read_flat (flat view with Arrow kernels), and for comparison the
record-by-record `flat.flatten_turns` and the kernel-only `schema.flatten_table` on an in-memory
table. Single process, one run each (the machine is shared: treat numbers as +-20%). Reads are
timed streamed (turns consumed one by one) and kept (collected into a list, which makes Python's
garbage collector scan the growing heap).

    .venv/bin/python benchmarks/logs_io.py [--n 50000] [--batch-size 8192] [--repeat 3]

Prints a table and writes benchmarks/results/logs_io.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from provenance import with_provenance
from selflearn.logs.flat import flatten_turns
from selflearn.logs.io import read_flat, read_table, read_turns, write_jsonl, write_parquet
from selflearn.logs.records import Turn
from selflearn.logs.schema import flatten_table, turns_to_table
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
WORDS = [
    "turn",
    "on",
    "off",
    "the",
    "lights",
    "kitchen",
    "bedroom",
    "play",
    "jazz",
    "music",
    "set",
    "timer",
    "for",
    "five",
    "minutes",
    "what",
    "is",
    "weather",
]


def make_turns(n: int, seed: int = 0) -> list[Turn]:
    rng = random.Random(seed)
    phrases = [" ".join(rng.choices(WORDS, k=rng.randint(2, 7))) for _ in range(2000)]
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        text = rng.choice(phrases)
        c1 = rng.random()
        rewrite = rng.random() < 0.1
        out.append(
            Turn.model_validate(
                {
                    "turn_id": f"t{i:08d}",
                    "session_id": f"s{i // 4:07d}",
                    "user_id": f"u{rng.randrange(500)}",
                    "household_id": f"h{rng.randrange(100)}",
                    "turn_index": i % 4,
                    "timestamp": t0 + timedelta(seconds=13 * i),
                    "device": {"device_id": f"d{rng.randrange(300)}", "type": "speaker"},
                    "context": {
                        "room": "kitchen",
                        "local_time": "2025-01-01T08:00:00",
                        "device_states": [
                            {"entity_id": "light.kitchen", "kind": "light", "state": {"on": "true"}}
                        ],
                    },
                    "asr": {
                        "engine": "noisy",
                        "nbest": [
                            {"text": text, "confidence": max(c1, 0.5)},
                            {"text": text + " please", "confidence": min(c1, 0.5)},
                        ],
                    },
                    "rewrite": {"original": text, "rewritten": text + " now", "rule_id": "r1"}
                    if rewrite
                    else None,
                    "nlu": {
                        "model": "crf",
                        "input_text": text.upper(),
                        "nbest": [
                            {
                                "intent": "light_on",
                                "confidence": 0.8,
                                "slots": [{"name": "device", "value": "lights", "start": 0, "end": 6}],
                            },
                            {"intent": "light_off", "confidence": 0.1},
                        ],
                    },
                    "resolution": {
                        "entities": [
                            {"slot": "device", "value": "lights", "entity_id": "light.k", "score": 0.7}
                        ]
                    },
                    "action": {"name": "light_on", "arguments": {"device": "light.k"}, "status": "ok"},
                    "response": {"text": "Done.", "duration_ms": 800},
                    "feedback": {"barge_in": rng.random() < 0.1},
                    "latency_ms": 120.0,
                }
            )
        )
    return out


REPEAT = 1


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Best wall time of `REPEAT` runs (the machine is shared) and the last run's result."""
    best, out = float("inf"), None
    for _ in range(REPEAT):
        out = None
        gc.collect()
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=8192)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "logs_io.json")
    ap.add_argument("--repeat", type=int, default=1, help="best of this many runs per operation")
    args = ap.parse_args()
    global REPEAT
    REPEAT = args.repeat
    n, bs = args.n, args.batch_size
    turns = make_turns(n)
    rows: dict[str, dict[str, float]] = {}

    def record(name: str, seconds: float, size: int | None = None) -> None:
        rows[name] = {"seconds": round(seconds, 3), "turns_per_s": round(n / seconds)}
        if size is not None:
            rows[name]["bytes"] = size

    with tempfile.TemporaryDirectory() as d:
        jl, pq_path = Path(d) / "logs.jsonl", Path(d) / "logs.parquet"
        s, _ = timed(write_jsonl, jl, turns)
        record("write_jsonl", s, jl.stat().st_size)
        s, _ = timed(write_parquet, pq_path, turns, bs)
        record("write_parquet", s, pq_path.stat().st_size)
        s, expected = timed(flatten_turns, turns)
        record("flat.flatten_turns (records)", s)
        table = pa.concat_tables([turns_to_table(turns[i : i + bs]) for i in range(0, n, bs)])
        s, _ = timed(flatten_table, table)
        record("schema.flatten_table (kernels)", s)
        # Reads run without the source turns alive: millions of live objects would make every
        # full garbage collection slower, which measures the caller's heap, not the reader.
        checksum = [t.turn_id for t in turns[:: max(n // 100, 1)]]
        del turns, table
        gc.collect()
        for name, path in (("jsonl", jl), ("parquet", pq_path)):
            s, count = timed(lambda p=path: sum(1 for _ in read_turns(p, bs)))
            assert count == n
            record(f"read_turns({name}), streamed", s)
            s, back = timed(lambda p=path: list(read_turns(p, bs)))
            assert [t.turn_id for t in back[:: max(n // 100, 1)]] == checksum
            record(f"read_turns({name}), kept in a list", s)
            del back
            gc.collect()
        s, nested = timed(lambda: read_table(pq_path, bs))
        assert nested.num_rows == n
        record("read_table(parquet)", s)
        s, flat = timed(lambda: read_flat(pq_path, bs))
        assert flat.equals(expected)
        record("read_flat(parquet)", s)
        s, flat = timed(lambda: read_flat(jl, bs))
        assert flat.equals(expected)
        record("read_flat(jsonl)", s)

    print(f"{'operation':34s} {'turns/s':>12s} {'seconds':>8s} {'MB':>7s}")
    for name, r in rows.items():
        mb = f"{r['bytes'] / 1e6:7.1f}" if "bytes" in r else ""
        print(f"{name:34s} {r['turns_per_s']:>12,d} {r['seconds']:>8.2f} {mb:>7s}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "n_turns": n,
        "batch_size": bs,
        "repeat": REPEAT,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": rows,
    }
    atomic_write_text(args.out, json.dumps(with_provenance(result), indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
