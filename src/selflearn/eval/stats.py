"""Statistics of a simulated or real log: volume, defect rate, barge-in and rephrase rates, by
intent and by day. Defect rate needs the truth table (simulations); real logs get the log-only
signals (barge-in, explicit feedback, stage errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from selflearn.logs.io import read_flat


@dataclass
class Stats:
    turns: int
    sessions: int
    users: int
    days: int
    barge_in_rate: float
    explicit_negative_rate: float
    error_rate: float
    has_truth: bool = False
    request_turns: int | None = None
    defect_rate: float | None = None
    rephrase_rate: float | None = None
    false_wakes: int | None = None
    mean_wer: float | None = None
    by_intent: list[dict[str, Any]] = field(default_factory=list)
    by_day: list[dict[str, Any]] = field(default_factory=list)
    failed_stages: dict[str, int] = field(default_factory=dict)


def _rate(num: Any, den: Any) -> float:
    return float(num) / float(den) if den else 0.0


def compute_stats(flat: pa.Table, truth: pa.Table | None = None) -> Stats:
    """Statistics of a flat log (FLAT_SCHEMA), with the truth table if there is one."""
    f = pl.from_arrow(flat)
    assert isinstance(f, pl.DataFrame)
    f = f.with_columns(
        pl.col("timestamp").dt.date().alias("date"),
        (pl.col("error_codes").list.len() > 0).alias("has_error"),
        (pl.col("explicit_feedback") == "negative").fill_null(False).alias("explicit_negative"),
    )
    n = f.height
    stats = Stats(
        turns=n,
        sessions=f["session_id"].n_unique() if n else 0,
        users=f["user_id"].n_unique() if n else 0,
        days=f["date"].n_unique() if n else 0,
        barge_in_rate=_rate(f["barge_in"].sum(), n),
        explicit_negative_rate=_rate(f["explicit_negative"].sum(), n),
        error_rate=_rate(f["has_error"].sum(), n),
    )
    if truth is None or truth.num_rows == 0:
        by = (
            f.group_by(pl.col("nlu_intent").fill_null("<none>").alias("intent"))
            .agg(
                pl.len().alias("turns"),
                pl.col("barge_in").mean().alias("barge_in_rate"),
                pl.col("has_error").mean().alias("error_rate"),
            )
            .sort("turns", descending=True)
        )
        stats.by_intent = by.to_dicts()
        return stats
    t = pl.from_arrow(truth)
    assert isinstance(t, pl.DataFrame)
    j = f.join(t, on="turn_id", how="inner", suffix="_truth")
    req = j.filter(pl.col("is_request"))
    stats.has_truth = True
    stats.request_turns = req.height
    stats.defect_rate = _rate((~req["success"]).sum(), req.height)
    stats.rephrase_rate = _rate((req["attempt"] > 1).sum(), req.height)
    stats.false_wakes = int((~j["directed"]).sum())
    stats.mean_wer = float(req["wer"].mean() or 0.0) if req.height else 0.0  # type: ignore[arg-type]
    stats.by_intent = (
        req.group_by(pl.col("goal_intent").alias("intent"))
        .agg(
            pl.len().alias("turns"),
            (1.0 - pl.col("success").cast(pl.Float64).mean()).alias("defect_rate"),
            pl.col("barge_in").mean().alias("barge_in_rate"),
            (pl.col("attempt") > 1).mean().alias("rephrase_rate"),
        )
        .sort("turns", descending=True)
        .to_dicts()
    )
    stats.by_day = (
        req.group_by("day")
        .agg(pl.len().alias("turns"), (1.0 - pl.col("success").cast(pl.Float64).mean()).alias("defect_rate"))
        .sort("day")
        .to_dicts()
    )
    fs = j.filter(~pl.col("success")).group_by("failed_stage").len().sort("len", descending=True)
    stats.failed_stages = {r["failed_stage"]: int(r["len"]) for r in fs.to_dicts()}
    return stats


def workspace_stats(root: Path) -> Stats:
    """Stats of a workspace directory (root/logs, and root/truth when it exists)."""
    from selflearn.simulate.truth import read_truth

    root = Path(root)
    logs = root / "logs" if (root / "logs").exists() else root
    flat = read_flat(logs)
    truth = read_truth(root) if (root / "truth").exists() else None
    return compute_stats(flat, truth)
