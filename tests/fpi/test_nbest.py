from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from selflearn.fpi.features import NUMERIC_NAMES, TEXT_NAMES, FeatureSet
from selflearn.fpi.gbm import GbmFpi
from selflearn.fpi.nbest import NBEST_NAMES, add_nbest, nbest_features, nlu_probe
from selflearn.logs.records import (
    AsrHypothesis,
    AsrStage,
    DeviceInfo,
    DeviceType,
    NluHypothesis,
    NluStage,
    Slot,
    Turn,
)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _turn(
    tid: str,
    session: str,
    idx: int,
    hyps: list[tuple[str, float]],
    secs: float,
    slots: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> Turn:
    top = NluHypothesis(intent="play_music", confidence=0.9, slots=[Slot(name=n, value=v) for n, v in slots])
    return Turn(
        turn_id=tid,
        session_id=session,
        user_id="u1",
        turn_index=idx,
        timestamp=T0 + timedelta(seconds=secs),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
        asr=AsrStage(nbest=[AsrHypothesis(text=t, confidence=c) for t, c in hyps]),
        nlu=NluStage(input_text=hyps[0][0] if hyps else "", nbest=[top]),
    )


def _col(values: np.ndarray, name: str) -> np.ndarray:
    return values[:, NBEST_NAMES.index(name)]


def test_slot_words_the_alternatives_disagree_on_lower_the_slot_mass() -> None:
    turns = [
        # the alternatives hear the slot ("jazz") differently: recognition evidence
        _turn(
            "a",
            "s1",
            0,
            [("play jazz", 0.5), ("play chess", 0.3), ("play jass", 0.2)],
            0,
            [("genre", "jazz")],
        ),
        # the alternatives differ only outside the slot
        _turn(
            "b",
            "s2",
            0,
            [("play jazz", 0.5), ("pay jazz", 0.3), ("play jazz now", 0.2)],
            0,
            [("genre", "jazz")],
        ),
        _turn("c", "s3", 0, [], 0),
    ]
    block = nbest_features(turns)
    assert block.turn_ids == ["a", "b", "c"]
    assert _col(block.values, "nb_slot_mass").tolist() == pytest.approx([0.5, 1.0, 0.0])
    assert _col(block.values, "nb_slot_alt_differs").tolist() == [1.0, 0.0, 0.0]
    assert _col(block.values, "nb_has_slots").tolist() == [1.0, 1.0, 0.0]
    assert _col(block.values, "nb_top_share")[0] == pytest.approx(0.5)
    assert _col(block.values, "nb_probe_used").tolist() == [0.0, 0.0, 0.0]


def test_next_request_matching_an_alternative_is_seen_in_time_order() -> None:
    turns = [
        _turn("b", "s1", 1, [("play chess", 0.9)], 10),  # logged first, said second
        _turn("a", "s1", 0, [("play jazz", 0.6), ("play chess", 0.4)], 0),
        _turn("z", "s2", 0, [("play jazz", 0.6), ("play chess", 0.4)], 0),
    ]
    v = nbest_features(turns).values
    assert _col(v, "nb_next_matches_alt").tolist() == [0.0, 1.0, 0.0]
    assert _col(v, "nb_next_alt_gain")[1] == pytest.approx(0.5)  # 1.0 (alternative) - 0.5 (top)


def test_the_deployed_nlu_probe_flags_alternatives_read_as_another_intent() -> None:
    def probe(texts: list[str]) -> tuple[list[str], np.ndarray]:
        return ["game" if "chess" in t else "music" for t in texts], np.full(len(texts), 0.8, np.float32)

    turns = [_turn("a", "s1", 0, [("play jazz", 0.6), ("play chess", 0.3), ("play jazz please", 0.1)], 0)]
    v = nbest_features(turns, probe).values
    assert _col(v, "nb_probe_used")[0] == 1.0
    assert _col(v, "nb_alt_intent_mass")[0] == pytest.approx(0.3)
    assert _col(v, "nb_alt_intent_max_conf")[0] == pytest.approx(0.8)

    def wrong(texts: list[str]) -> tuple[list[str], np.ndarray]:
        return [], np.zeros(0, np.float32)

    with pytest.raises(ValueError, match="probe returned 0 answers"):
        nbest_features(turns, wrong)
    with pytest.raises(TypeError, match="not a fitted NluModel"):
        nlu_probe(object())


def _features(ids: list[str]) -> FeatureSet:
    n = len(ids)
    numeric = np.zeros((n, len(NUMERIC_NAMES)), dtype=np.float32)
    numeric[:, NUMERIC_NAMES.index("nlu_confidence")] = np.linspace(0.2, 0.9, n)
    return FeatureSet(ids, numeric, np.zeros((n, len(TEXT_NAMES), 384), dtype=np.float32))


def test_add_nbest_aligns_by_turn_id_and_names_a_missing_turn() -> None:
    turns = [
        _turn("a", "s1", 0, [("play jazz", 0.5), ("play chess", 0.5)], 0),
        _turn("b", "s2", 0, [("x", 1.0)], 0),
    ]
    block = nbest_features(turns)
    feats = add_nbest(_features(["b", "a"]), block)
    assert feats.numeric_names[-len(NBEST_NAMES) :] == NBEST_NAMES
    share = feats.numeric[:, list(feats.numeric_names).index("nb_top_share")]
    assert share.tolist() == pytest.approx([1.0, 0.5])  # rows follow the feature set's order
    with pytest.raises(ValueError, match="turn q has no n-best row"):
        add_nbest(_features(["q"]), block)
    with pytest.raises(ValueError, match="already carry"):
        add_nbest(feats, block)


def test_gbm_keeps_only_the_chosen_neighbour_classes_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 240
    y = rng.integers(0, 3, n)
    feats = _features([f"t{i}" for i in range(n)])
    feats.numeric[:, NUMERIC_NAMES.index("asr_confidence")] = y + rng.normal(0, 0.1, n)
    feats.texts[:] = rng.standard_normal(feats.texts.shape).astype(np.float32) * 0.05
    feats.texts[:, 0, 0] += y
    labels = [["correct", "false_wake", "nlu"][i] for i in y]
    feats.meta["session_id"] = [f"s{i // 2}" for i in range(n)]
    model = GbmFpi(
        n_estimators=20,
        n_jobs=1,
        neighbour_classes=("false_wake",),
        text_components=2,
        calibrate_fraction=0.25,
    )
    model.fit(feats, labels)
    assert model.bias_.shape == (3,)  # decision offsets chosen on held-out training sessions
    width = model._matrix(feats).shape[1]
    assert width == len(NUMERIC_NAMES) + 2 + len(TEXT_NAMES) * 2  # one class: vote + best similarity
    assert (model.predict(feats) == np.array(labels)).mean() > 0.9
    loaded = GbmFpi.load(model.save(tmp_path / "m"))
    assert loaded.neighbour_classes == ("false_wake",)
    np.testing.assert_allclose(loaded.bias_, model.bias_)
    assert (loaded.predict(feats) == model.predict(feats)).all()
    np.testing.assert_allclose(loaded.predict_proba(feats), model.predict_proba(feats), atol=1e-6)
