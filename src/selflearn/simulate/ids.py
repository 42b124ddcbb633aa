"""Deterministic, sortable ids: ULIDs built from simulated time and a seeded generator, so a
simulation with the same seed writes byte-identical logs."""

from __future__ import annotations

import random
from datetime import datetime

from ulid import ULID


def make_ulid(ts: datetime, rng: random.Random) -> str:
    ms = int(ts.timestamp() * 1000)
    raw = ms.to_bytes(6, "big") + rng.getrandbits(80).to_bytes(10, "big")
    return str(ULID.from_bytes(raw))
