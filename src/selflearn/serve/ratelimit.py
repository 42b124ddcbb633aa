"""Per-principal request budgets: one credential cannot flood the service or the logs.

A token bucket per principal (`rate` requests per second on average, bursts of `burst`): a
household's satellite asks a few times a minute, so a client sending hundreds a second with one
token is a script, and what it sends would be learned from. Over budget, a request is refused with
429 and a Retry-After before any work is done. Anonymous development use (no tokens configured,
loopback only) is not limited.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets keyed by principal; `rate` <= 0 turns limiting off."""

    def __init__(self, rate: float, burst: float | None = None, max_keys: int = 100_000) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, 2 * rate))
        self.max_keys = max_keys
        self.refused = 0
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, key: str, now: float | None = None) -> float:
        """0.0 if `key` may make a request now (and spend a token), else the seconds to wait."""
        if not self.enabled:
            return 0.0
        t = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, t))
            tokens = min(self.burst, tokens + (t - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, t)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, t)
                wait = (1.0 - tokens) / self.rate
                self.refused += 1
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait
