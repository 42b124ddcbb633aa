from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from selflearn.fpi.features import (
    NUMERIC_NAMES,
    TEXT_NAMES,
    build_features,
    interpretation_text,
    word_edit_ratio,
)
from selflearn.logs.flat import flatten_turns
from selflearn.logs.io import read_flat
from selflearn.logs.records import (
    AsrHypothesis,
    AsrStage,
    DeviceInfo,
    DeviceType,
    NluHypothesis,
    NluStage,
    Turn,
)

from .conftest import fake_encoder

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _turn(tid: str, session: str, idx: int, text: str, secs: float, intent: str | None = "x_y") -> Turn:
    nlu = NluStage(input_text=text, nbest=[NluHypothesis(intent=intent, confidence=0.9)] if intent else [])
    return Turn(
        turn_id=tid,
        session_id=session,
        user_id="u1",
        turn_index=idx,
        timestamp=T0 + timedelta(seconds=secs),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
        asr=AsrStage(nbest=[AsrHypothesis(text=text, confidence=0.8)]),
        nlu=nlu,
    )


def _col(feats: object, name: str) -> np.ndarray:
    return feats.numeric[:, NUMERIC_NAMES.index(name)]  # type: ignore[attr-defined]


def test_session_relations_follow_time_order_not_table_order() -> None:
    turns = [
        _turn("c", "s1", 2, "play jazz", 20),
        _turn("a", "s1", 0, "turn of the lights", 0),
        _turn("b", "s1", 1, "turn off the lights", 10),
        _turn("z", "s2", 0, "what time is it", 5),
    ]
    feats = build_features(flatten_turns(turns), encoder=fake_encoder)
    assert feats.turn_ids == ["c", "a", "b", "z"]
    assert feats.numeric.shape == (4, len(NUMERIC_NAMES))
    assert feats.texts.shape == (4, len(TEXT_NAMES), 384)
    a, b, c, z = 1, 2, 0, 3
    assert _col(feats, "session_position")[[a, b, c]].tolist() == [0, 1, 2]
    assert _col(feats, "is_last")[[a, b, c, z]].tolist() == [0, 0, 1, 1]
    # a's next turn is b: one word differs out of four
    assert _col(feats, "next_word_edit")[a] == pytest.approx(0.25)
    assert _col(feats, "next_exists")[c] == 0 and _col(feats, "prev_exists")[a] == 0
    assert _col(feats, "next_same_intent")[a] == 1
    # the next-request text slot holds the next turn's request embedding
    np.testing.assert_allclose(feats.texts[a, TEXT_NAMES.index("next_request")], feats.texts[b, 0])
    assert not feats.texts[c, TEXT_NAMES.index("next_request")].any()
    assert feats.meta["day"][a] == "2026-01-05"


def test_word_edit_ratio_and_interpretation_text() -> None:
    assert word_edit_ratio("a b c", "a b c") == 0.0
    assert word_edit_ratio("a b c d", "a x c d") == 0.25
    assert word_edit_ratio("", "") == 0.0
    assert word_edit_ratio("a", "") == 1.0
    assert interpretation_text("alarm_set|time=five am") == "alarm set time five am"
    assert interpretation_text(None) == ""


def test_missing_columns_and_bad_rows_are_named() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        build_features(pa.table({"turn_id": ["a"]}), encoder=fake_encoder)
    table = flatten_turns([_turn("a", "s1", 0, "hi", 0)])
    table = table.set_column(table.schema.get_field_index("session_id"), "session_id", pa.array([""]))
    with pytest.raises(ValueError, match="turn_id='a'"):
        build_features(table, encoder=fake_encoder)


def test_features_of_a_simulated_log(sim_workspace: Path) -> None:
    flat = read_flat(sim_workspace / "logs")
    feats = build_features(flat, encoder=fake_encoder)
    assert len(feats) == flat.num_rows > 50
    assert np.isfinite(feats.numeric).all()
    # wake scores and confidences are copied, not invented
    np.testing.assert_allclose(_col(feats, "wake_score"), flat["wake_score"].to_numpy(), rtol=1e-6)
    assert feats.flat_matrix().shape == (len(feats), len(NUMERIC_NAMES) + 4 * 384)


def test_learner_modules_never_import_the_simulator() -> None:
    import selflearn.fpi

    for path in Path(selflearn.fpi.__file__).parent.glob("*.py"):
        assert "selflearn.simulate" not in path.read_text(), path
