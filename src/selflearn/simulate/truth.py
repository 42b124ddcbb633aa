"""The truth table: what the simulator knows and the learner must never read.

One row per logged turn: the goal behind it, what was really said, whether the outcome satisfied
the goal, which stage truly failed first, and what would have happened without a rewrite. Stored
apart from the logs (workspace/truth/) so that the separation is physical, not a convention."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class FailedStage(StrEnum):
    CORRECT = "correct"
    FALSE_WAKE = "false_wake"
    ASR = "asr"
    NLU = "nlu"
    ENTITY_RESOLUTION = "entity_resolution"
    RESULT = "result"
    # The assistant cannot do the request at all (its NLU has no such intent): not a stage defect.
    UNSUPPORTED = "unsupported"


@dataclass
class TruthRow:
    turn_id: str
    session_id: str
    user_id: str
    household_id: str
    day: int
    goal_id: str | None
    goal_intent: str | None
    goal_args: str | None  # JSON of the gold resolved arguments
    spoken_text: str
    directed: bool  # spoken to the assistant (False: background speech that woke it)
    is_request: bool
    attempt: int  # 1 for the first try at a goal, 2 for the first retry, ...
    strategy: str  # how this attempt was phrased: first, repeat, careful, paraphrase, explicit, background
    success: bool
    failed_stage: str
    wer: float
    rewrite_fired: bool
    success_without_rewrite: bool | None


TRUTH_SCHEMA = pa.schema(
    [
        ("turn_id", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("household_id", pa.string()),
        ("day", pa.int32()),
        ("goal_id", pa.string()),
        ("goal_intent", pa.string()),
        ("goal_args", pa.string()),
        ("spoken_text", pa.string()),
        ("directed", pa.bool_()),
        ("is_request", pa.bool_()),
        ("attempt", pa.int32()),
        ("strategy", pa.string()),
        ("success", pa.bool_()),
        ("failed_stage", pa.string()),
        ("wer", pa.float64()),
        ("rewrite_fired", pa.bool_()),
        ("success_without_rewrite", pa.bool_()),
    ]
)


def truth_table(rows: list[TruthRow]) -> pa.Table:
    return pa.Table.from_pylist([asdict(r) for r in rows], schema=TRUTH_SCHEMA)


def write_truth_day(root: Path, day: int, rows: list[TruthRow]) -> Path:
    """Write one day's truth as workspace/truth/day=NNNN/part-00000.parquet (atomically)."""
    from selflearn.util.atomic import atomic_path

    out = Path(root) / "truth" / f"day={day:04d}" / "part-00000.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        pq.write_table(truth_table(rows), tmp)
    return out


def read_truth(root: Path) -> pa.Table:
    files = sorted((Path(root) / "truth").glob("day=*/*.parquet"))
    if not files:
        return TRUTH_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=TRUTH_SCHEMA) for f in files])
