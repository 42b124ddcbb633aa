"""Job steps: pure functions over Arrow tables holding complete groups (all turns of each user or
session), so any engine may run them on any partition of those groups and concatenate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.feedback.chains import detect_sessions
from selflearn.feedback.defect import DefectScorer
from selflearn.feedback.rephrase_baseline import PairScorer
from selflearn.logs.flat import FLAT_SCHEMA


def sessionize(flat: pa.Table, gap_s: float = 600.0) -> pa.Table:
    """Re-derive sessions from time: a user's turns on one device belong to one session until a
    silence longer than `gap_s` (real logs often carry no session id, or one that spans hours).

    Needs complete users in `flat`. The new id is `<user>|<device>|<first turn id>`, so it is
    stable whatever the partitioning."""
    if flat.num_rows == 0:
        return flat
    t = flat.sort_by(
        [
            ("user_id", "ascending"),
            ("device_id", "ascending"),
            ("timestamp", "ascending"),
            ("turn_index", "ascending"),
            ("turn_id", "ascending"),
        ]
    )
    user = t.column("user_id").to_numpy(zero_copy_only=False)
    dev = t.column("device_id").to_numpy(zero_copy_only=False)
    ts = pc.cast(t.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False)
    tid = t.column("turn_id").to_numpy(zero_copy_only=False)
    new = np.ones(len(user), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (dev[1:] != dev[:-1]) | ((ts[1:] - ts[:-1]) > gap_s * 1e6)
    start_idx = np.maximum.accumulate(np.where(new, np.arange(len(user)), 0))
    sid = [f"{user[i]}|{dev[i]}|{tid[i]}" for i in start_idx]
    idx = t.schema.get_field_index("session_id")
    return t.set_column(idx, "session_id", pa.array(sid, pa.string()))


@dataclass
class DetectStep:
    """The per-session step: rephrase detection, defect scoring and chain building."""

    detector: PairScorer
    scorer: DefectScorer = field(default_factory=DefectScorer)
    threshold: float | None = None  # None: the detector's tuned threshold_
    max_gap_s: float = 60.0

    def _threshold(self) -> float:
        if self.threshold is not None:
            return self.threshold
        return float(getattr(self.detector, "threshold_", 0.5))

    def chains(self, flat: pa.Table) -> pa.Table:
        if flat.num_rows == 0:
            return CHAIN_SCHEMA.empty_table()
        _feedback, chains = detect_sessions(
            flat.cast(FLAT_SCHEMA), self.detector, self.scorer, self._threshold(), max_gap_s=self.max_gap_s
        )
        return chains.cast(CHAIN_SCHEMA)
