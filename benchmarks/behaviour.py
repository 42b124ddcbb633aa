"""Is the loop's behaviour the same at two commits? A fingerprint of small fixed-seed runs.

    .venv/bin/python benchmarks/behaviour.py --against COMMIT [--against COMMIT ...]
        [--slurp-dir ../shared/data/slurp] [--users 150] [--days 3] [--seed 3]

A refactor of the code the closed loop depends on makes every closed-loop figure stale
(`benchmarks/report.py`), although a pure move changes nothing it measured; rerunning the full
table takes hours. This script settles it cheaply and on the record: it runs the same small
closed loop, with both learning layers on, at HEAD and at each `--against` commit (each in its own
clean `git worktree`, through the `selflearn demo` and `selflearn bench` commands of that commit),
and compares the reports' figures (every number of `report.json` but timings and configuration)
by sha256. Beds: the simulator always; SLURP with real recognitions when `--slurp-dir` holds them.

Each comparison is appended to `benchmarks/results/behaviour.json` as {from, to, bed, digests,
same}. `report.py` carries a result measured at `from` over to `to` only for the beds whose
digests were equal, and says so in the source cell ("same behaviour at <to>"); a result whose
code changed again after `to` is stale as before. HEAD must be a clean tree: an uncommitted
change would be credited to a commit that does not hold it.

A fingerprint is evidence, not proof: a change that only shows with more people, more days or
other seeds passes it. It is meant for changes that claim to be pure moves, and the footnote names
the command so that anyone can rerun the full benchmark instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from provenance import git, provenance
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "behaviour.json"
SLURP_DIR = ROOT.parent / "shared" / "data" / "slurp"
_DROP_KEYS = frozenset({"provenance", "config", "timings", "seconds", "wall_s", "created", "written"})


def figures(report: Mapping[str, Any]) -> Any:
    """The report without what may differ between equal behaviours: timings, configuration."""

    def strip(x: Any) -> Any:
        if isinstance(x, Mapping):
            return {k: strip(v) for k, v in sorted(x.items()) if k not in _DROP_KEYS and not k.endswith("_s")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        if isinstance(x, float):
            return round(x, 12)
        return x

    return strip(report)


def digest(report: Mapping[str, Any]) -> str:
    text = json.dumps(figures(report), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _commands(bed: str, out: Path, a: argparse.Namespace) -> list[str]:
    common = ["--users", str(a.users if bed == "simulator" else a.slurp_users), "--days", str(a.days)]
    common += ["--seed", str(a.seed), "--online", "global+personal", "--out", str(out)]
    if bed == "simulator":
        return ["demo", *common]
    slurp = a.slurp_dir
    return [
        "bench",
        "--goals",
        str(slurp / "real_asr" / "requests.jsonl"),
        "--train",
        str(slurp / "devel.jsonl"),
        "--asr",
        "replay",
        "--recognitions",
        str(slurp / "real_asr" / "recognitions.jsonl"),
        *common,
    ]


def fingerprint(commit: str, beds: Sequence[str], a: argparse.Namespace, work: Path) -> dict[str, str]:
    """Digest per bed of the small runs at `commit`, run from a clean worktree of it."""
    tree = work / f"tree-{commit[:12]}"
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(tree), commit], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    try:
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        out: dict[str, str] = {}
        for bed in beds:
            ws = work / f"{bed}-{commit[:12]}"
            cmd = [sys.executable, "-m", "selflearn.cli", *_commands(bed, ws, a)]
            t0 = time.perf_counter()
            run = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                raise RuntimeError(
                    f"{bed} at {commit[:7]} failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
                )
            out[bed] = digest(json.loads((ws / "report.json").read_text()))
            print(
                f"  {bed} at {commit[:7]}: {out[bed][:12]} ({time.perf_counter() - t0:.0f} s)",
                file=sys.stderr,
            )
        return out
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--against", action="append", required=True, help="a commit whose results to carry")
    ap.add_argument("--slurp-dir", type=Path, default=SLURP_DIR)
    ap.add_argument("--users", type=int, default=150)
    ap.add_argument("--slurp-users", type=int, default=40)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    if git("status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks/closed_loop.py"):
        print("HEAD's tree is dirty: commit first (a fingerprint names a commit)", file=sys.stderr)
        return 2
    head = git("rev-parse", "HEAD") or ""
    made_by = provenance(sys.argv)  # taken now: commits made while it runs are not what it compared
    against = [git("rev-parse", c) or c for c in a.against]
    beds = ["simulator"]
    if (a.slurp_dir / "real_asr" / "recognitions.jsonl").exists():
        beds.append("slurp_real_asr")
    else:
        print(f"no recognitions under {a.slurp_dir}: the SLURP bed is not compared", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="behaviour-") as tmp:
        work = Path(tmp)
        at_head = fingerprint(head, beds, a, work)
        records = []
        for commit in against:
            theirs = fingerprint(commit, beds, a, work)
            for bed in beds:
                same = theirs[bed] == at_head[bed]
                pair = [theirs[bed], at_head[bed]]
                records.append({"from": commit, "to": head, "bed": bed, "digests": pair, "same": same})
                print(f"{bed}: {commit[:7]} -> {head[:7]}: {'same' if same else 'DIFFERENT'}")
    old: list[dict[str, Any]] = []
    if a.out.exists():
        old = list(json.loads(a.out.read_text()).get("comparisons", []))
    keep = [
        r
        for r in old
        if (r["from"], r["to"], r["bed"]) not in {(n["from"], n["to"], n["bed"]) for n in records}
    ]
    config = {"users": a.users, "slurp_users": a.slurp_users, "days": a.days, "seed": a.seed,
              "online": "global+personal"}  # fmt: skip
    doc = {"provenance": made_by, "config": config, "comparisons": [*keep, *records]}
    atomic_write_text(a.out, json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
