"""Learning arm against control arm on the same traffic: the A/B figures of `report.json`.

Both arms are run by the simulator on the same people, goals and random streams
(`SimConfig.paired_streams`); only the assistant differs (the control arm never learns). Three
figures compare them, each over the request turns of the *last two days* (one day is too noisy, the
first days are not yet learned from):

* ``vs_control``: the defect rate, the share of request turns whose outcome failed the goal;
* ``first_attempt``: the defect rate of each goal's first attempt (what a person meets before any
  retry, so retries that a failing assistant provokes cannot inflate it);
* ``goal_success``: the share of goals never achieved, however many attempts it took
  (``success_rate_*`` beside it says the same the other way round).

Each is ``{defect_rate_learning, defect_rate_control, relative_reduction, ci95, days, seeds,
interval, per_seed}`` with ``relative_reduction = 1 - learning / control`` of the seed-mean rates.
The interval is a percentile bootstrap over people: people are resampled with replacement within
each seed (a person is the unit that is paired across arms, so the resample keeps each person's
two arms together), the rates are recomputed per seed, averaged over the seeds and turned into a
relative reduction. It covers the people's variation; the spread across seeds is reported beside it
(``per_seed``, and ``ci95_seeds``, a t interval over the seeds, when there are at least three).

Everything here reads the truth tables, which only evaluation may read."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = [
    "FIGURES",
    "INTERVAL",
    "PairedSeed",
    "arm_day_figures",
    "compare_arms",
    "last_days",
]

FIGURES = ("vs_control", "first_attempt", "goal_success")
BOOTSTRAP_RESAMPLES = 2000
INTERVAL = (
    f"95% percentile bootstrap over people ({BOOTSTRAP_RESAMPLES} resamples, stratified by seed, "
    "both arms of a person kept together)"
)
# t quantiles (two-sided 95%) for a few degrees of freedom; beyond 30, the normal's.
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


@dataclass(frozen=True)
class PairedSeed:
    """One seed's two arms, as truth tables (learning arm, control arm)."""

    seed: int
    learning: pa.Table
    control: pa.Table


def last_days(days: int, n: int = 2) -> list[int]:
    """The days the comparison is judged on: the last `n` of 1..days (all of them if fewer)."""
    return list(range(max(1, days - n + 1), days + 1))


def _frame(truth: pa.Table) -> pl.DataFrame:
    t = pl.from_arrow(truth)
    assert isinstance(t, pl.DataFrame)
    return t.filter(pl.col("is_request"))


def _per_user(truth: pa.Table, days: Sequence[int]) -> pl.DataFrame:
    """Per person: failed and all request turns, failed and all first attempts, goals not achieved
    and all goals (a goal belongs to the day of its first attempt), over `days`."""
    req = _frame(truth).filter(pl.col("day").is_in(list(days)))
    turns = req.group_by("user_id").agg(
        pl.len().alias("turns"),
        (~pl.col("success")).sum().alias("turn_fail"),
        (pl.col("attempt") == 1).sum().alias("firsts"),
        ((pl.col("attempt") == 1) & ~pl.col("success")).sum().alias("first_fail"),
    )
    goals = (
        req.filter(pl.col("goal_id").is_not_null())
        .group_by("user_id", "goal_id")
        .agg(pl.col("success").any().alias("achieved"), (pl.col("attempt").min() == 1).alias("whole"))
        # A goal whose first attempt fell before the judged days is judged with its own day.
        .filter(pl.col("whole"))
        .group_by("user_id")
        .agg(pl.len().alias("goals"), (~pl.col("achieved")).sum().alias("goal_fail"))
    )
    return turns.join(goals, on="user_id", how="left").fill_null(0)


_COUNTS = {
    "vs_control": ("turn_fail", "turns"),
    "first_attempt": ("first_fail", "firsts"),
    "goal_success": ("goal_fail", "goals"),
}


def _paired_counts(seed: PairedSeed, days: Sequence[int]) -> dict[str, np.ndarray]:
    """Per person (rows aligned across arms; a person absent from one arm counts zero there):
    numerator and denominator of each figure, for both arms."""
    lu = _per_user(seed.learning, days)
    cu = _per_user(seed.control, days)
    users = sorted(set(lu["user_id"].to_list()) | set(cu["user_id"].to_list()))
    base = pl.DataFrame({"user_id": users}, schema={"user_id": pl.Utf8})
    lj = base.join(lu, on="user_id", how="left").fill_null(0)
    cj = base.join(cu, on="user_id", how="left").fill_null(0)
    out: dict[str, np.ndarray] = {}
    for col in ("turn_fail", "turns", "first_fail", "firsts", "goal_fail", "goals"):
        out[f"l_{col}"] = lj[col].to_numpy().astype(np.float64)
        out[f"c_{col}"] = cj[col].to_numpy().astype(np.float64)
    return out


def _rate(num: np.ndarray, den: np.ndarray) -> float:
    d = float(den.sum())
    return float(num.sum()) / d if d else 0.0


def _rr(learning: float, control: float) -> float:
    return 1.0 - learning / control if control > 0 else 0.0


def _t_interval(values: list[float]) -> list[float] | None:
    n = len(values)
    if n < 3:
        return None
    mean = float(np.mean(values))
    sd = float(np.std(values, ddof=1))
    q = _T95.get(n - 1, 1.96)
    half = q * sd / math.sqrt(n)
    return [mean - half, mean + half]


def compare_arms(
    seeds: Sequence[PairedSeed], days: Sequence[int], resamples: int = BOOTSTRAP_RESAMPLES, rng_seed: int = 0
) -> dict[str, dict[str, Any]]:
    """The three A/B figures (see the module docstring) over `days`, pooled over `seeds`."""
    if not seeds:
        raise ValueError("compare_arms needs at least one seed")
    counts = [_paired_counts(s, days) for s in seeds]
    rng = np.random.default_rng(rng_seed)
    draws = [rng.integers(0, max(1, len(c["l_turns"])), size=(resamples, len(c["l_turns"]))) for c in counts]
    out: dict[str, dict[str, Any]] = {}
    for fig, (num, den) in _COUNTS.items():
        per_seed = []
        for s, c in zip(seeds, counts, strict=True):
            lr = _rate(c[f"l_{num}"], c[f"l_{den}"])
            cr = _rate(c[f"c_{num}"], c[f"c_{den}"])
            per_seed.append(
                {
                    "seed": s.seed,
                    "defect_rate_learning": lr,
                    "defect_rate_control": cr,
                    "relative_reduction": _rr(lr, cr),
                    "n_learning": int(c[f"l_{den}"].sum()),
                    "n_control": int(c[f"c_{den}"].sum()),
                }
            )
        mean_l = float(np.mean([p["defect_rate_learning"] for p in per_seed]))
        mean_c = float(np.mean([p["defect_rate_control"] for p in per_seed]))
        boot_l = np.zeros(resamples)
        boot_c = np.zeros(resamples)
        for c, idx in zip(counts, draws, strict=True):
            if len(c["l_turns"]) == 0:
                continue
            ln, ld = c[f"l_{num}"][idx].sum(axis=1), c[f"l_{den}"][idx].sum(axis=1)
            cn, cd = c[f"c_{num}"][idx].sum(axis=1), c[f"c_{den}"][idx].sum(axis=1)
            boot_l += np.divide(ln, ld, out=np.zeros_like(ln), where=ld > 0)
            boot_c += np.divide(cn, cd, out=np.zeros_like(cn), where=cd > 0)
        boot_l /= len(counts)
        boot_c /= len(counts)
        boot = 1.0 - np.divide(boot_l, boot_c, out=np.ones_like(boot_l), where=boot_c > 0)
        entry: dict[str, Any] = {
            "defect_rate_learning": mean_l,
            "defect_rate_control": mean_c,
            "relative_reduction": _rr(mean_l, mean_c),
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "days": list(days),
            "seeds": [s.seed for s in seeds],
            "interval": INTERVAL,
            "ci95_seeds": _t_interval([p["relative_reduction"] for p in per_seed]),
            "per_seed": per_seed,
        }
        if fig == "goal_success":
            entry["success_rate_learning"] = 1.0 - mean_l
            entry["success_rate_control"] = 1.0 - mean_c
        out[fig] = entry
    return out


def arm_day_figures(truth: pa.Table) -> dict[str, float]:
    """One arm's figures for one day: defect rate, first-attempt defect rate, goals achieved."""
    req = _frame(truth)
    if req.height == 0:
        return {"defect_rate": 0.0, "first_attempt_defect_rate": 0.0, "goal_success_rate": 0.0}
    first = req.filter(pl.col("attempt") == 1)
    goals = req.filter(pl.col("goal_id").is_not_null()).group_by("goal_id").agg(pl.col("success").any())
    return {
        "defect_rate": float((~req["success"]).sum() / req.height),
        "first_attempt_defect_rate": float((~first["success"]).sum() / first.height) if first.height else 0.0,
        "goal_success_rate": float(goals["success"].sum() / goals.height) if goals.height else 0.0,
    }
