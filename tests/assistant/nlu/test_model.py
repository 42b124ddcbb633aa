"""NluModel: learns intents and exact slot spans, calibrated n-best, fast path == sklearn, save/load."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from selflearn.assistant.nlu.model import NluModel, expected_calibration_error, tokenize
from selflearn.contracts.nlu_examples import Example, SpanSlot

TEMPLATES: dict[str, list[str]] = {
    "alarm_set": [
        "wake me up at {time}",
        "set an alarm for {time}",
        "alarm at {time} please",
        "get me up at {time}",
    ],
    "weather_query": [
        "what's the weather in {city}",
        "is it going to rain in {city}",
        "how hot is it in {city} today",
        "weather forecast for {city}",
    ],
    "play_music": [
        "play {artist}",
        "put on some {artist}",
        "i want to hear {artist}",
        "play songs by {artist}",
    ],
    "lights_on": [
        "turn on the lights in the {room}",
        "switch the {room} lights on",
        "lights on in the {room}",
        "can you light up the {room}",
    ],
    "email_send": [
        "send an email to {person}",
        "email {person} that i am late",
        "write to {person}",
        "compose a message for {person}",
    ],
}
VALUES: dict[str, list[str]] = {
    "time": ["six am", "seven thirty", "noon", "five pm", "eight o'clock", "half past nine", "ten am"],
    "city": ["paris", "new york", "london", "san francisco", "tokyo", "berlin", "rome"],
    "artist": ["the beatles", "adele", "miles davis", "taylor swift", "queen", "nina simone", "u two"],
    "room": ["kitchen", "living room", "bedroom", "hallway", "office", "dining room", "garage"],
    "person": ["john", "mary smith", "the boss", "alice", "bob", "my mother", "peter"],
}


def render(template: str, intent: str, value: str) -> Example:
    name = template[template.index("{") + 1 : template.index("}")]
    start = template.index("{")
    text = template.replace("{" + name + "}", value)
    return Example(text, intent, (SpanSlot(name, value, start, start + len(value)),))


def make(n_per_intent: int, seed: int, values: slice = slice(None)) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for intent, templates in TEMPLATES.items():
        for _ in range(n_per_intent):
            t = rng.choice(templates)
            name = t[t.index("{") + 1 : t.index("}")]
            out.append(render(t, intent, rng.choice(VALUES[name][values])))
    return out


@pytest.fixture(scope="module")
def train() -> list[Example]:
    # values 0..4 for training; 5..6 are held out to test generalisation of the tagger
    return make(30, seed=0, values=slice(0, 5))


@pytest.fixture(scope="module")
def model(train: list[Example]) -> NluModel:
    return NluModel().fit(train)


def test_learns_intents_and_exact_slot_spans(model: NluModel) -> None:
    test = make(10, seed=1)  # includes slot values never seen in training
    preds = model.predict_batch([e.text for e in test])
    acc = np.mean([p[0].intent == e.intent for p, e in zip(preds, test, strict=True)])
    assert acc >= 0.97
    exact = np.mean(
        [
            [(s.name, s.value, s.start, s.end) for s in p[0].slots]
            == [(s.name, s.value, s.start, s.end) for s in e.slots]
            for p, e in zip(preds, test, strict=True)
        ]
    )
    assert exact >= 0.9
    top = model.predict("wake me up at half past nine")[0]
    assert top.intent == "alarm_set"
    assert [(s.name, s.value, s.start, s.end) for s in top.slots] == [("time", "half past nine", 14, 28)]


def test_nbest_confidences_are_probabilities(model: NluModel) -> None:
    for text in ["play adele", "turn on the lights in the garage", "blah", "weather", "x y z in paris"]:
        nbest = model.predict(text, n=3)
        assert len(nbest) == 3
        conf = [h.confidence for h in nbest]
        assert all(0.0 <= c <= 1.0 for c in conf)
        assert sum(conf) <= 1.0 + 1e-9
        assert conf == sorted(conf, reverse=True)
        assert len({h.intent for h in nbest}) == 3
        for h in nbest:
            for s in h.slots:
                assert s.start is not None and s.end is not None
                assert text[s.start : s.end] == s.value
    assert len(model.predict("play adele", n=10)) == 5  # no more hypotheses than intents
    assert len(model.predict("play adele", n=1)) == 1
    assert model.predict("") == [] and model.predict("   ") == []
    full = model.intent_proba("play adele")
    assert full.shape == (5,) and abs(full.sum() - 1.0) < 1e-6


def test_each_hypothesis_is_tagged_for_its_own_intent(model: NluModel) -> None:
    # the same words are a different slot under another intent
    assert model.tag("play the beatles", "play_music") == [("artist", "the beatles", 5, 16)]
    for h in model.predict("play the beatles", n=3):
        assert [(s.name, s.value, s.start, s.end) for s in h.slots] == model.tag("play the beatles", h.intent)
        # a hypothesis only carries slots its intent was trained with
        assert {s.name for s in h.slots} <= set(model.intent_slots_[h.intent])
    assert model.intent_slots_["weather_query"] == ["city"]


def test_fast_features_match_sklearn_tfidf(model: NluModel, train: list[Example]) -> None:
    word, char = model._vectorizers()
    texts = [e.text for e in train]
    word.fit(texts)
    char.fit(texts)
    probe = ["Wake me up at NOON!", "unknown words only qqq", "play adele", "the the the kitchen"]
    ref = sp.hstack([word.transform(probe), char.transform(probe)]).tocsr().toarray()
    for i, text in enumerate(probe):
        idx, val = model._features(text)
        dense = np.zeros(ref.shape[1], dtype=np.float32)
        dense[idx] = val
        np.testing.assert_allclose(dense, ref[i], rtol=1e-5, atol=1e-6)


def test_predict_matches_predict_batch(model: NluModel) -> None:
    texts = ["set an alarm for noon", "email peter", "", "lights on in the office", "rain in rome"]
    batch = model.predict_batch(texts)
    for text, b in zip(texts, batch, strict=True):
        one = model.predict(text)
        assert [(h.intent, h.slots) for h in one] == [(h.intent, h.slots) for h in b]
        np.testing.assert_allclose(
            [h.confidence for h in one], [h.confidence for h in b], rtol=1e-4, atol=1e-7
        )


def test_cached_results_are_fresh_objects(model: NluModel) -> None:
    a = model.predict("play queen")
    a[0].slots.clear()
    a[0].intent = "edited"
    b = model.predict("play queen")
    assert b[0].intent == "play_music" and b[0].slots


def test_calibration_report_and_temperature(model: NluModel) -> None:
    cal = model.calibration_
    assert cal["method"] == "temperature" and cal["folds"] == "random"
    assert model.temperature_ > 0 and 0.0 <= cal["oof_ece_calibrated"] <= 1.0
    uncal = NluModel(calibration="none").fit(make(10, seed=3))
    assert uncal.temperature_ == 1.0 and "oof_accuracy" not in uncal.calibration_


def test_calibration_holds_out_whole_phrasings_when_examples_name_them() -> None:
    data = [
        Example(e.text, e.intent, e.slots, template_id=f"{e.intent}/{e.text.split()[0]}")
        for e in make(12, seed=4)
    ]
    m = NluModel().fit(data)
    assert m.calibration_["folds"].startswith("held-out phrasings")


def test_expected_calibration_error() -> None:
    conf = np.array([0.9] * 10 + [0.6] * 10)
    correct = np.array([1] * 9 + [0] + [1] * 6 + [0] * 4)
    assert expected_calibration_error(conf, correct) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(10, 0.95), np.zeros(10)) == pytest.approx(0.95)
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_save_load_round_trip(model: NluModel, tmp_path: Path) -> None:
    d = model.save(tmp_path / "nlu")
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["intents"] == sorted(TEMPLATES) and manifest["n_train"] == model.n_train_
    assert manifest["params"]["C"] == model.C and manifest["version"] == model.version_
    assert {"selflearn", "numpy", "scikit-learn", "python-crfsuite"} <= set(manifest["versions"])
    assert "I-time" in manifest["slot_labels"]
    loaded = NluModel.load(d)
    texts = [e.text for e in make(4, seed=7)] + ["nothing like training", "play"]
    for t in texts:
        assert [h.model_dump() for h in loaded.predict(t)] == [h.model_dump() for h in model.predict(t)]
    # saving again replaces the directory in one rename and leaves no temporary siblings
    model.save(d)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nlu"]
    assert NluModel.load(d).version_ == model.version_


def test_fit_is_deterministic(train: list[Example], model: NluModel) -> None:
    again = NluModel().fit(train)
    assert again.version_ == model.version_
    assert again.crf_model_ == model.crf_model_
    np.testing.assert_array_equal(again.coef_, model.coef_)


def test_tokenize_splits_clitics_with_offsets() -> None:
    text = "what's on john's list, can't say"
    toks = tokenize(text)
    assert [t for t, _, _ in toks] == ["what", "'s", "on", "john", "'s", "list", ",", "ca", "n't", "say"]
    assert all(text[s:e] == t for t, s, e in toks)


def test_bio_scheme_two_intents_and_errors() -> None:
    data = [e for e in make(15, seed=5) if e.intent in ("alarm_set", "play_music")]
    m = NluModel(tag_scheme="bio", classifier="linear_svm", C=0.5).fit(data)
    assert m.predict("play adele")[0].intent == "play_music"
    assert sorted(h.intent for h in m.predict("play adele")) == ["alarm_set", "play_music"]
    assert any(lab.startswith("B-") for lab in m.slot_labels_)
    with pytest.raises(ValueError, match="two intents"):
        NluModel().fit([e for e in data if e.intent == "alarm_set"])
    with pytest.raises(ValueError):
        NluModel(tag_scheme="bilou").fit(data)
    with pytest.raises(NotFittedError):
        NluModel().predict("play adele")


def test_examples_without_slots_train_a_model_that_tags_nothing() -> None:
    data = [Example(e.text, e.intent) for e in make(8, seed=6)]
    m = NluModel(calibration="none").fit(data)
    assert m.crf_model_ is None and m.slot_labels_ == []
    assert all(h.slots == [] for h in m.predict("play adele"))


def test_keeps_the_learner_contract(tmp_path: Path, check_learner: Any) -> None:
    from selflearn.context.reranker import ContextReranker

    data = make(10, seed=3)
    texts = ["play adele", "wake me at seven", "play some jazz please"]
    check_learner(
        NluModel(calibration="none", n_jobs=1),
        lambda est: est.fit(data),
        lambda est: [h.confidence for t in texts for h in est.predict(t)],
        tmp_path,
        other_kind=ContextReranker,
    )


def test_a_model_saved_before_the_learner_base_still_loads(tmp_path: Path) -> None:
    model = NluModel(calibration="none", n_jobs=1).fit(make(10, seed=3))
    saved = model.save(tmp_path / "nlu")
    m = json.loads((saved / "manifest.json").read_text())
    old = {
        k: v for k, v in m.items() if k not in ("params", "format", "feature_version", "selflearn", "written")
    }
    old.update(config=m["params"], format_version=1)  # how NluModel used to write it
    (saved / "manifest.json").write_text(json.dumps(old))
    back = NluModel.load(saved)
    assert back.version_ == model.version_ and back.word_ngrams == (1, 2)
    assert [h.intent for h in back.predict("play adele")] == [h.intent for h in model.predict("play adele")]
