"""Confidently labelled successful turns -> NLU examples (and the thresholds that gate them)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from selflearn.labels.feedback_nlu import FeedbackNluConfig, examples_from_labels
from selflearn.labels.labeller import LABELS_SCHEMA


def _row(tid: str, text: str, **kw: Any) -> dict[str, Any]:
    r = {
        "turn_id": tid,
        "session_id": "s",
        "request_text": text,
        "defect": False,
        "defect_prob": 0.02,
        "defect_conf": 0.98,
        "goal_id": "s:" + tid,
        "goal_start": True,
        "goal_start_conf": 1.0,
        "goal_success": True,
        "goal_success_prob": 0.97,
        "goal_success_conf": 0.97,
        "intent": "lights_on",
        "intent_conf": 0.95,
        "slots": [{"name": "room", "value": "kitchen", "start": 17, "end": 24, "confidence": 0.9}],
        "slots_conf": 0.9,
        "auto": True,
    }
    r.update(kw)
    return r


def test_only_confident_successes_become_examples() -> None:
    text = "lights on in the kitchen"
    rows = [
        _row("a", text),
        _row("b", text),  # the same text again: one copy is enough
        _row("c", "kitchen lights on", intent_conf=0.6, slots=[]),  # unsure of the intent
        _row("d", "make it bright", defect=True, defect_prob=0.97, defect_conf=0.97, slots=[]),  # failed try
        _row(
            "e", "shine a light", goal_success=False, goal_success_prob=0.1, goal_success_conf=0.9, slots=[]
        ),
        _row(
            "f",
            "light up the den",
            slots=[{"name": "room", "value": "kitchen", "start": 0, "end": 7, "confidence": 0.9}],
        ),
    ]
    table = pa.Table.from_pylist(rows, schema=LABELS_SCHEMA)
    ex = examples_from_labels(table)
    assert [e.text for e in ex] == [text]  # f's span does not match its text: dropped
    (e,) = ex
    assert e.intent == "lights_on" and e.slots[0].value == "kitchen" and e.text[17:24] == "kitchen"
    with_retries = examples_from_labels(table, FeedbackNluConfig(include_retries=True))
    assert [x.text for x in with_retries] == [text, "make it bright"]
