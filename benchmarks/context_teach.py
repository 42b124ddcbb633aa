"""Issue 8's benchmark: context-aware interpretation and teachable AI, in one table.

    .venv/bin/python benchmarks/context_teach.py [--quick]

Runs `benchmarks/context.py` (per-ambiguity accuracy with and without the context reranker,
trained from logs) and `benchmarks/teach.py` (teaching-dialogue turn accuracy, defect rate of
preference-dependent requests before and after teaching, success of the very next request),
prints both tables and the targets, and writes benchmarks/results/context_teach.json with both
result dicts under "context" and "teach". Each part also runs alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from provenance import with_provenance
from selflearn.util.atomic import atomic_write_text

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "context_teach.json"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load benchmarks/{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(quick: bool = False) -> dict[str, Any]:
    context, teach = _load("context"), _load("teach")
    t0 = time.perf_counter()
    ctx = context.run(quick=quick)
    context.print_table(ctx)
    t1 = time.perf_counter()
    tea = teach.run(quick=quick)
    teach.print_table(tea)
    t2 = time.perf_counter()
    summary = {
        "context_hard_kinds_accuracy": ctx.get("hard_kinds_context_accuracy"),
        "context_target_met": ctx.get("target_met"),
        "teach_turn_accuracy_clean": tea["clean"]["turn_accuracy_teaching"],
        "teach_turn_accuracy_noisy": tea["noisy"]["turn_accuracy_teaching"],
        "next_request_success_clean": tea["clean"]["next_request_success"],
        "next_request_success_noisy": tea["noisy"]["next_request_success"],
        "seconds": {"context": round(t1 - t0, 1), "teach": round(t2 - t1, 1)},
    }
    return {"summary": summary, "context": ctx, "teach": tea}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (well under a minute each)")
    args = ap.parse_args()
    res = run(args.quick)
    print()
    print("summary (targets: context >= 0.90 on hard kinds; teaching turns >= 0.93; next request >= 0.95)")
    for key, value in res["summary"].items():
        print(f"  {key:34s} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(with_provenance(res), indent=2, default=str))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
