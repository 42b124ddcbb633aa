"""The transformer understanding model: the learner contract, the same n-best shape as today's
model, slots decoded onto the request's own characters, and a few examples learned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selflearn.assistant.nlu.model import NluModel, tokenize
from selflearn.assistant.nlu.transformer import TransformerNlu, _decode, _word_labels
from selflearn.contracts.nlu_examples import Example, SpanSlot


def _ex(text: str, intent: str, slot: tuple[str, str] | None = None) -> Example:
    slots = ()
    if slot is not None:
        start = text.index(slot[1])
        slots = (SpanSlot(slot[0], slot[1], start, start + len(slot[1])),)
    return Example(text, intent, slots)


ROOMS = ("kitchen", "bedroom", "living room", "hallway", "garage", "office")
TOY = (
    [_ex(f"turn on the {r} lights", "lights_on", ("room", r)) for r in ROOMS]
    + [_ex(f"switch off the lights in the {r}", "lights_off", ("room", r)) for r in ROOMS]
    + [
        _ex(f"what is the weather like in {c}", "weather_query", ("place", c))
        for c in ("paris", "rome", "oslo", "lima", "cairo", "tokyo")
    ]
)


@pytest.fixture(scope="module")
def fitted() -> TransformerNlu:
    return TransformerNlu(
        epochs=8, batch_size=8, lr=1e-4, head_lr=5e-3, calibration_fraction=0.0, threads=2
    ).fit(TOY)


def test_bio_labels_and_decoding_round_trip() -> None:
    ex = _ex("turn on the living room lights", "lights_on", ("room", "living room"))
    words = tokenize(ex.text)
    labels = _word_labels(ex, words)
    assert labels == ["O", "O", "O", "B-room", "I-room", "O"]
    assert _decode(ex.text, words, labels) == [("room", "living room", 12, 23)]
    # an I- after O, or after another slot, starts a span of its own
    assert [s[0] for s in _decode("a b c", tokenize("a b c"), ["I-x", "I-y", "I-y"])] == ["x", "y"]


def test_learns_intents_and_slots_and_keeps_the_nbest_shape(fitted: TransformerNlu) -> None:
    hyps = fitted.predict("turn on the garage lights", n=3)
    assert hyps[0].intent == "lights_on" and len(hyps) == 3
    assert sum(h.confidence for h in hyps) <= 1.0 + 1e-6
    assert [(s.name, s.value) for s in hyps[0].slots] == [("room", "garage")]
    # the weather reading never carries a room: slots its intent never had are dropped
    weather = next(h for h in hyps if h.intent == "weather_query")
    assert all(s.name != "room" for s in weather.slots)
    assert fitted.predict("   ") == []
    batch = fitted.predict_batch(["what is the weather like in oslo", ""], n=2)
    assert batch[0][0].intent == "weather_query" and batch[1] == []
    assert batch[0][0].slots[0].value == "oslo"


def test_keeps_the_learner_contract(tmp_path: Path, check_learner: Any) -> None:
    texts = ["turn on the office lights", "what is the weather like in rome"]

    def predict(model: TransformerNlu) -> Any:
        return np.round(model.intent_proba_batch(texts), 5)

    check_learner(
        TransformerNlu(epochs=1, batch_size=8, calibration_fraction=0.0, threads=2),
        lambda m: m.fit(TOY),
        predict,
        tmp_path,
        other_kind=NluModel,
    )


def test_calibration_holds_out_examples_and_bad_parameters_are_refused() -> None:
    model = TransformerNlu(epochs=1, batch_size=8, calibration_fraction=0.25, threads=2).fit(TOY)
    assert model.calibration_["method"] == "temperature" and model.calibration_["n"] == 4
    assert model.n_train_ == len(TOY) - 4
    with pytest.raises(ValueError, match="two intents"):
        TransformerNlu(epochs=1).fit([_ex("hi", "greet")])
    with pytest.raises(ValueError, match="calibration_fraction"):
        TransformerNlu(calibration_fraction=1.0).fit(TOY)


def test_either_model_loads_by_its_manifest(fitted: TransformerNlu, small_nlu: Any, tmp_path: Path) -> None:
    from selflearn.assistant.nlu.load import load_nlu

    fitted.save(tmp_path / "transformer")
    small_nlu.save(tmp_path / "tfidf")
    back = load_nlu(tmp_path / "transformer")
    assert isinstance(back, TransformerNlu) and back.version_ == fitted.version_
    np.testing.assert_allclose(
        back.intent_proba("turn on the kitchen lights"),
        fitted.intent_proba("turn on the kitchen lights"),
        atol=1e-5,
    )
    assert isinstance(load_nlu(tmp_path / "tfidf"), NluModel)
    with pytest.raises(FileNotFoundError, match="no understanding model"):
        load_nlu(tmp_path / "nothing")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "manifest.json").write_text('{"kind": "selflearn.context.Reranker"}')
    with pytest.raises(ValueError, match="field 'kind'"):
        load_nlu(tmp_path / "odd")


def test_self_training_reads_unlabelled_requests_it_is_sure_of() -> None:
    model = TransformerNlu(
        epochs=6,
        batch_size=8,
        lr=1e-4,
        head_lr=5e-3,
        calibration_fraction=0.0,
        threads=2,
        self_training_threshold=0.05,
        self_training_epochs=1,
    ).fit(
        TOY,
        unlabelled=[
            "turn on the attic lights",
            "what is the weather like in bern",
            "turn on the attic lights",
            " ",
        ],
    )
    assert model.n_self_trained_ == 2  # distinct, non-blank, and above the (low) threshold
    strict = TransformerNlu(epochs=1, calibration_fraction=0.0, self_training_threshold=1.0, threads=2)
    assert strict.fit(TOY, unlabelled=["turn on the attic lights"]).n_self_trained_ == 0
    with pytest.raises(ValueError, match="self_training_threshold"):
        TransformerNlu(self_training_threshold=0.0).fit(TOY)
