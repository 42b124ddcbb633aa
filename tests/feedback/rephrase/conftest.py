from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from selflearn.feedback.pairs import PAIRS_SCHEMA


def pair_row(a: str, b: str, text_a: str, text_b: str, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "turn_id_a": a,
        "turn_id_b": b,
        "session_id": kw.pop("session_id", "s"),
        "user_id": "u",
        "hop": 1,
        "pos_a": 0,
        "gap_s": 4.0,
        "text_a": text_a,
        "text_b": text_b,
        "barge_in_a": False,
        "barge_in_offset_ms_a": None,
        "response_duration_ms_a": 2000,
        "has_error_a": False,
        "nlu_confidence_a": 0.9,
        "asr_confidence_a": 0.9,
        "nlu_intent_a": "lights_on",
        "nlu_intent_b": "lights_on",
        "nlu_confidence_b": 0.9,
        "response_text_a": "OK, turning on the light.",
    }
    row.update(kw)
    return row


def toy_pairs(n_sessions: int = 8) -> tuple[pa.Table, list[bool]]:
    """Sessions of (failed request, retry within seconds, unrelated request much later): the
    retry is a rephrase, the later request is not."""
    rows: list[dict[str, Any]] = []
    labels: list[bool] = []
    for k in range(n_sessions):
        s = f"s{k}"
        bad = dict(barge_in_a=True, barge_in_offset_ms_a=300, has_error_a=True, nlu_intent_a=None)
        rows.append(
            pair_row(
                f"{s}-1",
                f"{s}-2",
                "turn on the kitchen lice",
                "turn on the kitchen light",
                session_id=s,
                **bad,
            )
        )
        rows.append(
            pair_row(
                f"{s}-1",
                f"{s}-3",
                "turn on the kitchen lice",
                "what time is it",
                session_id=s,
                hop=2,
                gap_s=50.0,
                **bad,
            )
        )
        rows.append(
            pair_row(
                f"{s}-2", f"{s}-3", "turn on the kitchen light", "what time is it", session_id=s, gap_s=46.0
            )
        )
        labels += [True, False, False]
    return pa.Table.from_pylist(rows, schema=PAIRS_SCHEMA), labels


@pytest.fixture(scope="session")
def toy() -> tuple[pa.Table, list[bool]]:
    return toy_pairs()
