"""Failure-point labels, and reading them as plain data.

The label set is the issue's: the first stage that failed irrecoverably (``false_wake``, ``asr``,
``nlu``, ``entity_resolution``, ``result``), ``correct`` when the turn did what was wanted (even
if some stage slipped and a later one recovered), and ``unsupported`` for a request the assistant
cannot do at all, which is not a stage defect. Labels reach the learner only as a table of
(turn_id, failed_stage) passed in, for instance the counterfactual-replay column of a simulated
workspace's truth table; this module reads such a table with pyarrow and never imports the
simulator.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["STAGES", "read_labels"]

STAGES: tuple[str, ...] = (
    "correct",
    "false_wake",
    "asr",
    "nlu",
    "entity_resolution",
    "result",
    "unsupported",
)


def read_labels(path: str | Path) -> dict[str, str]:
    """turn_id -> failed_stage from a labels source: a workspace (its ``truth/`` folder), a folder
    of Parquet files, one Parquet file, or a JSONL file, each with columns ``turn_id`` and
    ``failed_stage``. Unknown stage names are an error naming the turn."""
    p = Path(path)
    if p.is_dir() and (p / "truth").is_dir():
        p = p / "truth"
    if p.is_dir():
        files = sorted(p.rglob("*.parquet"))
        if not files:
            raise ValueError(f"no labels under {p}: expected Parquet files with turn_id, failed_stage")
        table = pa.concat_tables(
            [pq.read_table(f, columns=["turn_id", "failed_stage"]) for f in files], promote_options="default"
        )
    elif p.suffix == ".parquet":
        table = pq.read_table(p, columns=["turn_id", "failed_stage"])
    elif p.suffix in (".jsonl", ".json"):
        import pyarrow.json as pj

        table = pj.read_json(p).select(["turn_id", "failed_stage"])
    else:
        raise ValueError(f"cannot read labels from {p}: give a workspace, a folder, .parquet or .jsonl")
    out: dict[str, str] = {}
    for tid, stage in zip(table["turn_id"].to_pylist(), table["failed_stage"].to_pylist(), strict=True):
        if stage not in STAGES:
            raise ValueError(f"labels {p}: turn {tid}: failed_stage {stage!r} is not one of {STAGES}")
        out[str(tid)] = str(stage)
    return out
