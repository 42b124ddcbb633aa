"""The direct-method estimate of a policy's defect rate on the logged traffic, and a paired
comparison of two policies (a candidate against the live one) with bootstrap intervals.

For each logged turn the estimate takes the observed outcome where the policy serves what was in
fact served (a replay: nothing to model), and the reward model's prediction where it serves
something else. The defect rate is one minus the mean. Intervals resample people, not turns (a
person's turns are not independent), and the two policies are compared on the same resamples, so
the interval of their difference is far narrower than either policy's own when they differ on few
turns, which is how candidates differ from the live model night to night.

This is the estimator that needs no propensities, so it runs on any log; exploration (issue 26)
adds propensities, and with them importance-weighted and doubly robust estimates that do not lean on
the reward model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from selflearn.offpolicy.outcomes import LoggedTurns, RewardModel
from selflearn.offpolicy.policies import Policy

__all__ = ["Comparison", "Estimate", "compare_policies", "direct_values"]


@dataclass(frozen=True)
class Estimate:
    """A defect rate (share of request turns that failed) and its interval."""

    defect_rate: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """A candidate policy against the live one on the same logged turns."""

    method: str
    turns: int
    people: int
    changed: int  # turns the candidate serves differently from the live policy
    level: float
    candidate: Estimate
    live: Estimate
    difference: Estimate  # candidate minus live: below zero, the candidate fails less

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def direct_values(turns: LoggedTurns, served: list[str], model: RewardModel) -> npt.NDArray[np.float64]:
    """Per turn: the estimated success of serving `served[i]` (observed where it was served)."""
    values = turns.success.astype(np.float64)
    other = [i for i, (s, logged) in enumerate(zip(served, turns.served, strict=True)) if s != logged]
    if other:
        values[other] = model.predict([turns.principal[i] for i in other], [served[i] for i in other])
    return values


def compare_policies(
    turns: LoggedTurns,
    candidate: Policy,
    live: Policy,
    model: RewardModel | None = None,
    level: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> Comparison:
    """The candidate's and the live policy's estimated defect rates, and their difference, with
    percentile intervals from a bootstrap over people (the same resamples for both)."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if len(turns) == 0:
        nothing = Estimate(0.0, 0.0, 0.0)
        return Comparison("direct", 0, 0, 0, level, nothing, nothing, nothing)
    model = model if model is not None else RewardModel().fit(turns)
    cand_served, live_served = candidate(turns), live(turns)
    cand = direct_values(turns, cand_served, model)
    base = direct_values(turns, live_served, model)
    changed = sum(1 for a, b in zip(cand_served, live_served, strict=True) if a != b)
    people, who = np.unique(np.asarray(turns.principal, dtype=object), return_inverse=True)
    n = np.bincount(who, minlength=len(people)).astype(np.float64)
    sc = np.bincount(who, weights=cand, minlength=len(people))
    sl = np.bincount(who, weights=base, minlength=len(people))
    rng = np.random.default_rng(seed)
    # resamples of people; bounded so the index matrix stays ~20M entries on large logs
    draws = max(200, min(bootstrap, 20_000_000 // max(1, len(people))))
    idx = rng.integers(0, len(people), size=(draws, len(people)))
    tot = n[idx].sum(axis=1)
    dc = 1.0 - sc[idx].sum(axis=1) / tot
    dl = 1.0 - sl[idx].sum(axis=1) / tot
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)

    def est(point: float, samples: npt.NDArray[np.float64]) -> Estimate:
        lo, hi = np.percentile(samples, q)
        return Estimate(round(point, 6), round(float(lo), 6), round(float(hi), 6))

    total = float(n.sum())
    d_cand, d_live = 1.0 - float(cand.sum()) / total, 1.0 - float(base.sum()) / total
    return Comparison(
        method="direct",
        turns=len(turns),
        people=len(people),
        changed=changed,
        level=level,
        candidate=est(d_cand, dc),
        live=est(d_live, dl),
        difference=est(d_cand - d_live, dc - dl),
    )
