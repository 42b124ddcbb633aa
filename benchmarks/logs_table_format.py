"""Day-partitioned Parquet (today's logs) against a Delta Lake table, on the jobs that matter:
appending a day, reading the whole log as the jobs' flat view, forgetting one person, and reading
an earlier state (issue 21, item 4).

    .venv/bin/python benchmarks/logs_table_format.py [--n 50000] [--days 7] [--repeat 3]
    (needs `pip install deltalake`; `pip install -e '.[delta]'`)

Both hold the same synthetic turns (`logs_io.make_turns`: every stage filled) split into --days
days, zstd-compressed:

* parquet: `selflearn.logs.io.write_parquet` per day into `logs/day=NNNN/part-00000.parquet`, read
  with `read_flat`; forgetting a person rewrites every day file without their rows (read, filter,
  atomic replace), which is what the hand-rolled layout would need;
* delta: `deltalake.write_deltalake(mode="append", partition_by=["day"])` of the nested turn
  table per day, read with `DeltaTable.to_pyarrow_table()` + `schema.flatten_table`; forgetting is
  `DeltaTable.delete("user_id = ...")` (a logged transaction; old files stay for time travel until
  vacuumed). The read also checks that the flat view equals parquet's, so a difference in speed is
  not a difference in content.

Times are the best of --repeat runs (the machine is shared); throughput in turns/s. Prints a table
and writes benchmarks/results/logs_table_format.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from logs_io import make_turns
from provenance import with_provenance
from selflearn.logs.io import read_flat, write_parquet
from selflearn.logs.schema import flatten_table, turns_to_table
from selflearn.util.atomic import atomic_path, atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "logs_table_format.json"


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _sorted(t: pa.Table) -> pa.Table:
    return t.sort_by([("turn_id", "ascending")])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    try:
        import deltalake
        from deltalake import DeltaTable, write_deltalake
    except ImportError:
        print("needs deltalake: pip install deltalake (or pip install -e '.[delta]')", file=sys.stderr)
        return 2

    turns = make_turns(a.n)
    per_day = [turns[i :: a.days] for i in range(a.days)]
    victim = turns[0].user_id
    victim_rows = sum(t.user_id == victim for t in turns)
    work = Path(tempfile.mkdtemp(prefix="logs-format-"))
    res: dict[str, dict[str, Any]] = {"parquet": {}, "delta": {}}
    try:
        # -- append, a day at a time ------------------------------------------------------------
        def parquet_write() -> Path:
            root = work / "pq"
            shutil.rmtree(root, ignore_errors=True)
            for d, day in enumerate(per_day, 1):
                write_parquet(root / f"day={d:04d}" / "part-00000.parquet", day)
            return root

        def delta_write() -> Path:
            root = work / "delta"
            shutil.rmtree(root, ignore_errors=True)
            for d, day in enumerate(per_day, 1):
                t = turns_to_table(day)
                t = t.append_column("day", pa.array([d] * t.num_rows, pa.int32()))
                write_deltalake(str(root), t, mode="append", partition_by=["day"])
            return root

        s, pq_root = best(parquet_write, a.repeat)
        res["parquet"]["append_turns_per_s"] = a.n / s
        s, dl_root = best(delta_write, a.repeat)
        res["delta"]["append_turns_per_s"] = a.n / s

        # -- read the whole log as the flat view --------------------------------------------------
        def delta_flat() -> pa.Table:
            nested = DeltaTable(str(dl_root)).to_pyarrow_table()
            return flatten_table(nested.drop_columns(["day"]))

        s, flat_pq = best(lambda: read_flat(pq_root), a.repeat)
        res["parquet"]["read_flat_turns_per_s"] = a.n / s
        s, flat_dl = best(delta_flat, a.repeat)
        res["delta"]["read_flat_turns_per_s"] = a.n / s
        same = _sorted(flat_pq).equals(_sorted(flat_dl.cast(flat_pq.schema)))
        res["delta"]["flat_view_equals_parquet"] = bool(same)

        # -- forget one person --------------------------------------------------------------------
        def parquet_delete() -> int:
            removed = 0
            for f in sorted(pq_root.glob("day=*/*.parquet")):
                t = pq.read_table(f)
                keep = pc.not_equal(t["user_id"], victim)
                removed += t.num_rows - int(pc.sum(keep.cast(pa.int64())).as_py() or 0)
                with atomic_path(f) as tmp:
                    pq.write_table(t.filter(keep), tmp, compression="zstd")
            return removed

        def delta_delete() -> int:
            metrics = DeltaTable(str(dl_root)).delete(f"user_id = '{victim}'")
            return int(metrics.get("num_deleted_rows", 0))

        # One run each: a delete changes what the next one finds.
        s, n_pq = best(parquet_delete, 1)
        res["parquet"]["forget_person_s"] = s
        res["parquet"]["forget_person_rows"] = n_pq
        s, n_dl = best(delta_delete, 1)
        res["delta"]["forget_person_s"] = s
        res["delta"]["forget_person_rows"] = n_dl
        after = DeltaTable(str(dl_root)).to_pyarrow_table(columns=["user_id"])
        res["delta"]["forgotten_everywhere"] = bool(
            pc.sum(pc.equal(after["user_id"], victim).cast(pa.int64())).as_py() == 0
        )

        # -- an earlier state (time travel) -------------------------------------------------------
        s, old = best(lambda: DeltaTable(str(dl_root), version=0).to_pyarrow_table(columns=["turn_id"]), 1)
        res["delta"]["read_version_0_rows"] = old.num_rows
        res["delta"]["read_version_0_s"] = s
        res["parquet"]["time_travel"] = "none (files are rewritten in place)"

        def size(root: Path) -> int:
            return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())

        res["parquet"]["bytes"] = size(pq_root)
        res["delta"]["bytes_after_delete_before_vacuum"] = size(dl_root)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"{a.n:,} turns over {a.days} days; forgetting {victim} ({victim_rows} turns)\n")
    print(f"{'':28}{'parquet (today)':>18}{'delta lake':>14}")
    for label, key, fmt in (
        ("append, turns/s", "append_turns_per_s", "{:,.0f}"),
        ("read flat view, turns/s", "read_flat_turns_per_s", "{:,.0f}"),
        ("forget a person, s", "forget_person_s", "{:.3f}"),
    ):
        cells = [fmt.format(res[k][key]) for k in ("parquet", "delta")]
        print(f"{label:28}{cells[0]:>18}{cells[1]:>14}")
    print(
        f"\nflat views equal: {res['delta']['flat_view_equals_parquet']}; "
        f"delta forgot {res['delta']['forget_person_rows']} rows, "
        f"parquet {res['parquet']['forget_person_rows']}; "
        f"delta version 0 still holds {res['delta']['read_version_0_rows']:,} rows until vacuumed"
    )
    result = {
        "n_turns": a.n,
        "days": a.days,
        "repeat": a.repeat,
        "deltalake": deltalake.__version__,
        "pyarrow": pa.__version__,
        **res,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out, json.dumps(with_provenance(result), indent=2))
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
