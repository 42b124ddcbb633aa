"""Labels feed back: confidently labelled successful turns become NLU training examples.

A turn is taken when the labeller says, each at confidence >= `min_confidence`, that it was not a
defect, that its goal succeeded, and which intent it carried, and its slot tagging is confident
(`min_slot_confidence`). Its text (what the NLU read) with the labelled intent and slot spans is an
`Example` the NLU can train on: phrasings people really use, that the grammar-trained NLU only
half knew (it got them right, often with low confidence). Optionally (`include_retries`) failed
tries inside a goal labelled successful are added with the goal's labelled intent and slots: the
phrasings the NLU got wrong, labelled by what the user went on to get.

`retrain_nlu` fits the default NLU on the deployment's own training examples (for the simulated
home, the grammar's) plus these, so the closed loop can compare the assistant before and after
(no hook into the assistant factory needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from selflearn.contracts.nlu_examples import Example, SpanSlot
from selflearn.text.normalize import normalize_request

__all__ = ["FeedbackNluConfig", "examples_from_labels", "retrain_nlu"]


@dataclass
class FeedbackNluConfig:
    min_confidence: float = 0.9
    min_slot_confidence: float = 0.8
    include_retries: bool = False
    max_per_text: int = 1  # copies of one normalized text (traffic repeats; do not over-weight)


def _example(text: str, intent: str, slots: list[dict[str, Any]]) -> Example | None:
    spans = []
    for s in slots:
        start, end = int(s["start"]), int(s["end"])
        if not (0 <= start < end <= len(text)) or text[start:end] != s["value"]:
            return None  # a span that does not fit its text would poison training
        spans.append(SpanSlot(s["name"], s["value"], start, end))
    if not text.strip():
        return None
    return Example(
        text=text, intent=intent, slots=tuple(sorted(spans, key=lambda x: x.start)), template_id="labels"
    )


def examples_from_labels(labels: pa.Table, config: FeedbackNluConfig | None = None) -> list[Example]:
    """NLU examples from a labels table (`labeller.LABELS_SCHEMA`), in table order."""
    cfg = config or FeedbackNluConfig()
    t = cfg.min_confidence
    counts: dict[str, int] = {}
    out: list[Example] = []
    for r in labels.to_pylist():
        if r["intent"] is None or r["intent_conf"] < t or not r["goal_success"] or r["goal_success_conf"] < t:
            continue
        ok_turn = (not r["defect"]) and r["defect_conf"] >= t
        retry = cfg.include_retries and r["defect"] and r["defect_conf"] >= t
        if not (ok_turn or retry) or r["slots_conf"] < cfg.min_slot_confidence:
            continue
        key = normalize_request(r["request_text"] or "")
        if counts.get(key, 0) >= cfg.max_per_text:
            continue
        ex = _example(r["request_text"] or "", r["intent"], r["slots"] or [])
        if ex is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        out.append(ex)
    return out


def retrain_nlu(base: Sequence[Example], extra: Sequence[Example]) -> Any:
    """The default NLU fitted on the deployment's training examples `base` plus `extra`."""
    from selflearn.assistant.nlu.model import NluModel

    return NluModel().fit([*base, *extra])
