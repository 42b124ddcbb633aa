"""The self-aware test's comparison: P(theta_rule > theta_source) between two Beta posteriors, by
deterministic quadrature (no sampling, so a night's verdicts are reproducible)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import beta as beta_dist

from selflearn.rewrite.markov.schema import _FloatArr


def prob_better(
    a1: npt.ArrayLike, b1: npt.ArrayLike, a2: npt.ArrayLike, b2: npt.ArrayLike, points: int = 256
) -> _FloatArr:
    """P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2), elementwise. Deterministic quadrature in X's
    quantile space (E[F_Y(X)] at `points` mid-quantiles), accurate even for very peaked posteriors."""
    a1_, b1_, a2_, b2_ = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (a1, b1, a2, b2))
    u = (np.arange(points) + 0.5) / points
    x = beta_dist.ppf(u[:, None], a1_[None, :], b1_[None, :])
    return np.asarray(beta_dist.cdf(x, a2_[None, :], b2_[None, :]).mean(axis=0), dtype=np.float64)
