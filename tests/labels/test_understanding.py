"""Understanding examples from rephrase chains: alignment, support, protection, hold-out, the gate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.labels.understanding import (
    align_slot,
    examples_table,
    gate_targets,
    held_back,
    rephrase_examples,
    training_examples,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _chain(
    n: int, principal: str, texts: list[str], intents: list[str], outcome: str = "success"
) -> dict[str, Any]:
    k = len(texts)
    return {
        "chain_id": f"c{n}",
        "user_id": f"u-{principal}",
        "session_id": f"s{n}",
        "turn_ids": [f"c{n}t{i}" for i in range(k)],
        "asr_texts": texts,
        "nlu_texts": texts,
        "rule_ids": [None] * k,
        "intents": intents,
        "timestamps": [T0] * k,
        "defective": [True] * (k - 1) + [outcome != "success"],
        "outcome": outcome,
        "first_ts": T0,
        "last_ts": T0,
        "interpretations": intents,
        "principal": principal,
    }


def _chains(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA)


def _learners(n: int) -> list[str]:
    """`n` principals that are not held back at the default 20%."""
    out, i = [], 0
    while len(out) < n:
        if not held_back(f"p{i}", 0.2):
            out.append(f"p{i}")
        i += 1
    return out


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("switch of the kitchen light", "kitchen", (14, 21)),
        ("switch of the kichen light", "kitchen", (14, 20)),  # the closest word, by edit similarity
        ("play the beetles please", "the beatles", (5, 16)),
        ("turn it off", "kitchen", None),  # not said: dropped
    ],
)
def test_align_slot(text: str, value: str, span: tuple[int, int] | None) -> None:
    assert align_slot(text, value) == span


def test_a_wording_needs_enough_people_and_keeps_who_said_it() -> None:
    people = _learners(3)
    rows = [
        _chain(i, p, ["lights of in kitchen", "turn off the kitchen lights"], ["tv_off", "lights_off"])
        for i, p in enumerate(people)
    ]
    slots = {f"c{i}t1": [("room", "kitchen")] for i in range(3)}
    learned = rephrase_examples(_chains(rows), slots, min_people=3)
    (ex,) = learned
    assert (ex.text, ex.intent, ex.people) == ("lights of in kitchen", "lights_off", 3)
    assert [(s.name, s.value) for s in ex.slots] == [("room", "kitchen")]
    assert {t for _p, _u, t in ex.support} == {"c0t0", "c1t0", "c2t0"}
    assert rephrase_examples(_chains(rows[:2]), slots, min_people=3) == []  # two people: not enough


def test_protected_intents_and_held_back_people_teach_nothing() -> None:
    people = _learners(3)
    unlock = [_chain(i, p, ["open the front", "unlock the front door"], ["door_lock", "door_unlock"])
              for i, p in enumerate(people)]  # fmt: skip
    assert rephrase_examples(_chains(unlock), {}, min_people=1, protected={"door_unlock"}) == []
    held = [p for p in (f"h{i}" for i in range(200)) if held_back(p, 0.2)][:3]
    rows = [_chain(i, p, ["lights of", "lights off"], ["tv_off", "lights_off"]) for i, p in enumerate(held)]
    assert rephrase_examples(_chains(rows), {}, min_people=1) == []
    targets = gate_targets(_chains(rows))
    assert ("lights of", "lights_off") in targets.fixes and ("lights off", "lights_off") in targets.keeps
    assert targets.score({"lights of": "lights_off", "lights off": "tv_off"}) == {
        "fixes": 3,
        "keeps": 0,
        "total": 3,
    }


def test_the_examples_table_keeps_provenance_and_support_is_recounted() -> None:
    from selflearn.contracts.nlu_examples import Example

    people = _learners(3)
    rows = [_chain(i, p, ["lights of", "lights off"], ["tv_off", "lights_off"]) for i, p in enumerate(people)]
    learned = rephrase_examples(_chains(rows), {}, min_people=3)
    table = examples_table([Example("lights on", "lights_on")], learned)
    assert table.num_rows == 1 + 3 and set(table.column("source").to_pylist()) == {"base", "rephrase"}
    base, learned_ex = training_examples(table, min_people=3)
    assert [e.text for e in base] == ["lights on"] and [e.text for e in learned_ex] == ["lights of"]
    # one supporter forgotten: two people left, below the threshold, so the wording is not learned
    fewer = table.filter(pa.array([u != f"u-{people[0]}" for u in table.column("user_id").to_pylist()]))
    assert training_examples(fewer, min_people=3)[1] == []
