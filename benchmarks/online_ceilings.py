"""How much the online layers could fix at best, read from a finished arm's logs and truth.

The personal layer can only rewrite a request into something its own asker said successfully
before, so it can fix a failing request only when that person had already achieved the same goal
(in any words). The global layer needs somebody, or the catalog, to have been understood for the
goal. This reads the truth table of an arm of `online_rewrite.py` (a benchmark may; the learner
never does) and reports, over the failing requests of days >= --from-day:

* `personal_ceiling`: the share whose asker had succeeded at the same goal earlier; the most
  relative defect reduction a perfect personal layer could add on top of that arm;
* `never_achieved`: the share whose goal no request of anybody succeeded at in the whole run
  (no user, no rewrite, no catalog phrasing got it understood);
* `achieved_by_others_first`: the share whose goal another person had achieved earlier;
* `personal_ceiling_by_day`: the personal ceiling of each day's failing requests (every day), which
  says how much a longer run would raise it;
* `index_ceiling` (the last day, whose serving version the store still keeps): the share whose
  goal the global index in force that day could have been rewritten into at all: a candidate
  (a text k people succeeded with, or a catalog phrasing) read the way the goal was ever
  understood in the run (`observed`), or, where the goal is a SLURP gold reading, read exactly as
  the SLURP judge wants it (`exact`). The global layer, which only retrieves and ranks, can fix
  no other failing request, however good its ranker.

    python benchmarks/online_ceilings.py --workspace /tmp/w/slurp-s0-global [--workspace ...]

Prints a table and writes benchmarks/results/online_ceilings.json.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import duckdb

from provenance import with_provenance
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "online_ceilings.json"


def _logged(ws: Path, column: str) -> dict[str, Any]:
    """turn id -> `column` of a workspace's logged turns."""
    from selflearn.logs.io import read_flat

    rows = read_flat(ws / "logs").select(["turn_id", column]).to_pylist()
    return {r["turn_id"]: r[column] for r in rows}


def _truth(ws: Path, columns: str, where: str = "") -> list[tuple[Any, ...]]:
    """`columns` and the day (last) of a workspace's truth table."""
    rel = duckdb.sql(
        f"select {columns}, cast(day as int) as day "
        f"from read_parquet('{ws / 'truth'}/*/*.parquet', hive_partitioning=1) {where}"
    )
    assert rel is not None
    return rel.fetchall()


def ceilings(ws: Path, from_day: int) -> dict[str, Any]:
    """The shares above for one workspace (an arm's directory with logs/ and truth/)."""

    when = _logged(ws, "timestamp")
    truth = _truth(ws, "turn_id, user_id, goal_intent, goal_args, is_request, success")
    missing = [t[0] for t in truth if t[0] not in when]
    if missing:
        raise ValueError(f"{ws}: {len(missing)} truth rows name turns not in the logs (first: {missing[0]})")
    rows = sorted((t for t in truth if t[4]), key=lambda t: when[t[0]])
    achieved_ever = {(t[2], t[3]) for t in rows if t[5]}
    by_user: dict[str, set[tuple[str, str]]] = defaultdict(set)
    by_anyone: dict[tuple[str, str], set[str]] = defaultdict(set)
    failed = own = others = never = 0
    by_day: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # every day: [failed, own success first]
    for _turn, user, intent, args, _req, success, day in rows:
        goal = (intent, args)
        if not success:
            by_day[day][0] += 1
            by_day[day][1] += goal in by_user[user]
        if day >= from_day and not success:
            failed += 1
            own += goal in by_user[user]
            others += bool(by_anyone[goal] - {user})
            never += goal not in achieved_ever
        if success:
            by_user[user].add(goal)
            by_anyone[goal].add(user)
    share = (lambda n: n / failed) if failed else (lambda n: 0.0)
    return {
        "workspace": str(ws),
        "requests": sum(1 for t in rows if t[6] >= from_day),
        "failed": failed,
        "personal_ceiling": share(own),
        # the same share day by day (all days): how fast a longer run would raise it
        "personal_ceiling_by_day": {str(d): (o / f if f else 0.0) for d, (f, o) in sorted(by_day.items())},
        "never_achieved": share(never),
        "achieved_by_others_first": share(others),
        "counts": {"own_success_first": own, "never_achieved": never, "others_first": others},
    }


def _slurp_right(interpretation: str | None, intent: str, args: str) -> bool | None:
    """Whether a logged interpretation ("intent|type=value|...") is what the SLURP judge wants for
    a goal whose `goal_args` are SLURP's [[type, value], ...]; None for another kind of goal."""
    from selflearn.text.normalize import normalize_request

    try:
        gold = json.loads(args)
    except (TypeError, json.JSONDecodeError):
        return None
    if not isinstance(gold, list):
        return None
    if not interpretation:
        return False
    head, *slots = interpretation.split("|")
    if head != intent:
        return False

    def bag(pairs: list[list[str]]) -> Counter[tuple[str, str]]:
        return Counter((t, normalize_request(v.lower()).replace(" ", "")) for t, v in pairs)

    return bag([x.split("=", 1) for x in slots if "=" in x]) == bag(gold)


def index_ceiling(ws: Path) -> dict[str, Any] | None:
    """`index_ceiling` above, for the last day of a workspace; None when its serving version is gone."""

    report = json.loads((ws / "report.json").read_text(encoding="utf-8"))
    days = [int(d["day"]) for d in report["days"]]
    last = max(days)
    night = next((d for d in report["days"] if int(d["day"]) == last - 1), None)
    version = ((night or {}).get("online_training") or {}).get("version")
    vdir = ws / "artifacts" / "online" / str(version) / "global.parquet"
    if version is None or not vdir.is_file():
        return None
    import pyarrow.parquet as pq

    index = [r["interpretation"] for r in pq.read_table(vdir, columns=["interpretation"]).to_pylist()]
    interps = _logged(ws, "nlu_interpretation")
    truth = _truth(ws, "turn_id, goal_intent, goal_args, success", "where is_request")
    understood: dict[tuple[str, str], set[str]] = defaultdict(set)
    for turn, intent, args, success, _day in truth:
        if success and interps.get(turn):
            understood[(intent, args)].add(interps[turn])
    held = set(index)
    failed = observed = exact = exact_known = 0
    for _turn, intent, args, success, day in truth:
        if day != last or success:
            continue
        failed += 1
        observed += bool(understood[(intent, args)] & held)
        judged = [_slurp_right(i, intent, args) for i in held]
        if judged and judged[0] is not None:
            exact_known += 1
            exact += any(judged)
    return {
        "day": last,
        "version": version,
        "candidates": len(index),
        "failed": failed,
        "observed": observed / failed if failed else 0.0,
        "exact": (exact / exact_known) if exact_known else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--workspace", type=Path, action="append", required=True)
    ap.add_argument("--from-day", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    rows = []
    for ws in args.workspace:
        r = ceilings(ws, args.from_day)
        r["index_ceiling"] = index_ceiling(ws)
        rows.append(r)
    out = {"from_day": args.from_day, "workspaces": rows}
    print(
        f"{'workspace':<50}{'failed':>8}{'personal ceiling':>18}{'never achieved':>16}{'others first':>14}"
        f"{'index (last day): observed':>28}{'exact':>8}"
    )
    for r in out["workspaces"]:
        name = "/".join(Path(r["workspace"]).parts[-2:])
        ic = r["index_ceiling"] or {}
        obs = f"{ic['observed']:.1%}" if ic else "-"
        ex = f"{ic['exact']:.1%}" if ic.get("exact") is not None else "-"
        print(
            f"{name:<50}{r['failed']:>8}{r['personal_ceiling']:>18.1%}{r['never_achieved']:>16.1%}"
            f"{r['achieved_by_others_first']:>14.1%}{obs:>28}{ex:>8}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(with_provenance(out), indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
