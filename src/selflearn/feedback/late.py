"""Late feedback: what people said about a turn after the service had already logged it.

`selflearn serve` writes a turn to the log when it answers; a barge-in or an explicit answer that
arrives once the turn has left the service's buffer goes to ``<workspace>/serve/feedback.jsonl``
instead. The nightly graph folds it into the chains (`apply_late_feedback`) before any learner
reads them, so the Markov miner and the online layers learn from the same evidence. Only an entry
naming the turn's own user counts: nobody can mark someone else's turns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

__all__ = ["LATE_FEEDBACK_FILE", "apply_late_feedback", "late_feedback", "turn_owners"]

LATE_FEEDBACK_FILE = Path("serve") / "feedback.jsonl"


def turn_owners(chains: pa.Table) -> dict[str, str]:
    """turn id -> its user, from a chain table."""
    out: dict[str, str] = {}
    for user, tids in zip(
        chains.column("user_id").to_pylist(), chains.column("turn_ids").to_pylist(), strict=True
    ):
        for t in tids or ():
            out[t] = user
    return out


def late_feedback(workspace: Path, owners: Mapping[str, str] | pa.Table) -> dict[str, bool]:
    """Late feedback from ``<workspace>/serve/feedback.jsonl``: turn id -> defective (an explicit
    "negative" or a barge-in: True; an explicit "positive": False). `owners` maps turn ids to their
    users (or is a flat log table); only entries naming the turn's own user count; the latest entry
    per turn wins."""
    path = Path(workspace) / LATE_FEEDBACK_FILE
    if isinstance(owners, pa.Table):
        if "turn_id" not in owners.column_names:
            return {}
        owners = dict(
            zip(owners.column("turn_id").to_pylist(), owners.column("user_id").to_pylist(), strict=True)
        )
    if not path.exists():
        return {}
    out: dict[str, bool] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of a file still being appended to
            tid = rec.get("turn_id")
            if not isinstance(tid, str) or tid not in owners or owners.get(tid) != rec.get("user"):
                continue
            if rec.get("explicit") == "negative" or rec.get("barge_in"):
                out[tid] = True
            elif rec.get("explicit") == "positive":
                out[tid] = False
    return out


def apply_late_feedback(chains: pa.Table, feedback: Mapping[str, bool]) -> pa.Table:
    """Chains with their turns' defective flags overridden by late feedback; a chain whose last
    turn turns out defective did not end in success."""
    if not feedback or chains.num_rows == 0:
        return chains
    ids = chains.column("turn_ids").to_pylist()
    defective = chains.column("defective").to_pylist()
    outcome = chains.column("outcome").to_pylist()
    changed = False
    for i, (tids, flags) in enumerate(zip(ids, defective, strict=True)):
        new = [feedback.get(t, d) for t, d in zip(tids, flags, strict=True)]
        if new != flags:
            changed = True
            defective[i] = new
            if new and new[-1] and outcome[i] == "success":
                outcome[i] = "failure"
            elif new and not new[-1] and outcome[i] == "failure":
                outcome[i] = "success"
    if not changed:
        return chains
    t = chains.set_column(
        chains.schema.get_field_index("defective"),
        chains.schema.field("defective"),
        pa.array(defective, chains.schema.field("defective").type),
    )
    return t.set_column(
        t.schema.get_field_index("outcome"), t.schema.field("outcome"), pa.array(outcome, pa.string())
    )
