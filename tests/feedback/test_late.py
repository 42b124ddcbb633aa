from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.feedback.late import apply_late_feedback, late_feedback, turn_owners


def _chains() -> pa.Table:
    rows = [
        {
            "chain_id": "c1",
            "user_id": "ann",
            "turn_ids": ["t1", "t2"],
            "defective": [True, False],
            "outcome": "success",
        },
        {"chain_id": "c2", "user_id": "bob", "turn_ids": ["t3"], "defective": [False], "outcome": "success"},
    ]
    return pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA)


def test_only_the_turns_own_user_can_mark_it_and_the_latest_word_wins(tmp_path: Path) -> None:
    chains = _chains()
    (tmp_path / "serve").mkdir()
    lines = [
        {"turn_id": "t2", "user": "ann", "barge_in": True},
        {"turn_id": "t3", "user": "ann", "explicit": "negative"},  # not ann's turn: ignored
        {"turn_id": "t1", "user": "ann", "explicit": "negative"},
        {"turn_id": "t1", "user": "ann", "explicit": "positive"},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{torn"
    (tmp_path / "serve" / "feedback.jsonl").write_text(text)
    owners = turn_owners(chains)
    assert owners == {"t1": "ann", "t2": "ann", "t3": "bob"}
    late = late_feedback(tmp_path, owners)
    assert late == {"t2": True, "t1": False}
    out = apply_late_feedback(chains, late)
    assert out.column("defective").to_pylist() == [[False, True], [False]]
    assert out.column("outcome").to_pylist() == ["failure", "success"]  # ann's last turn failed
    assert late_feedback(tmp_path / "nowhere", owners) == {}
