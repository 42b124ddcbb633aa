"""espeak-ng + pocketsphinx as the ASR stage: recognises clear requests with a small LM, fills the
stage with a sane n-best, caches recognitions, decodes in parallel."""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from selflearn.assistant.component import Component, Pipeline, StageFailure, TurnState, Utterance, create
from selflearn.logs.records import AsrStage, DeviceInfo, DeviceType, StageError, Turn
from selflearn.speech.pocketsphinx_asr import (
    ENGINE,
    PocketsphinxAsr,
    nbest_confidences,
)
from selflearn.speech.tts import Voice, voice_for_speaker
from selflearn.text.wer import corpus_word_error_rate

TRAINING = [
    "turn on the kitchen lights",
    "turn off the kitchen lights",
    "turn on the lights in the living room",
    "turn off the living room lights",
    "play some jazz in the living room",
    "play the news",
    "what is the weather like tomorrow",
    "what is the time",
    "set an alarm for seven am",
    "set a timer for ten minutes",
    "pause the music",
    "stop the music",
]
REQUESTS = ["turn on the kitchen lights", "pause the music", "set a timer for ten minutes", "play the news"]
CLEAR = "en-us+klatt/s150"


def _state(text: str, **kw: Any) -> TurnState:
    turn = Turn(
        turn_id="t1",
        session_id="s1",
        user_id="u1",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
    )
    return TurnState(turn=turn, utterance=Utterance(text, **kw))


def test_nbest_confidences_are_bounded_sorted_and_sum_below_one() -> None:
    confs = nbest_confidences(0.7, [-10.0, -10.001, -10.05, -12.0])
    assert confs[0] == 0.7 and len(confs) == 5
    assert all(0.0 <= c <= 1.0 for c in confs)
    assert all(a > b for a, b in itertools.pairwise(confs))
    assert sum(confs) < 1.0
    assert confs[1] > 2 * confs[3]  # a clearly worse path score gets clearly less
    assert nbest_confidences(0.4, []) == [0.4]
    assert sum(nbest_confidences(0.01, [-1.0, -1.0, -1.0])) <= 1.0


def test_needs_a_language_model() -> None:
    with pytest.raises(ValueError, match="language model"):
        PocketsphinxAsr()


def test_voice_choice_follows_speaker_utterance_and_care(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    lm = tmp_path / "x.arpa"
    dic = tmp_path / "x.dict"
    lm.write_text("", encoding="utf-8")
    dic.write_text("", encoding="utf-8")
    asr = PocketsphinxAsr(lm_path=lm, dict_path=dic, use_cache=False, voice_seed=3)
    assert asr.voice_for(Utterance("hi", speaker_id="bob")) == voice_for_speaker("bob", 3)
    assert asr.voice_for(Utterance("hi", speaker_id="bob", voice="en-gb+f2")) == Voice("en-gb", "f2")
    careful = asr.voice_for(Utterance("hi", speaker_id="bob", careful=True))
    assert careful.speed < voice_for_speaker("bob", 3).speed
    k1 = asr.cache_key(Utterance("hi", speaker_id="bob"))
    assert k1 != asr.cache_key(Utterance("hi", speaker_id="bob", careful=True))
    assert k1 != asr.cache_key(Utterance("hi", speaker_id="bob", noise_profile={"snr_db": 10.0}))
    assert k1 == asr.cache_key(Utterance("hi ", speaker_id="bob"))


@pytest.fixture(scope="module")
def asr(tmp_path_factory: pytest.TempPathFactory) -> PocketsphinxAsr:
    pytest.importorskip("pocketsphinx")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from selflearn.speech.lm import build_language_model

    root = tmp_path_factory.mktemp("speech")
    lm = build_language_model(TRAINING, cache_dir=root)
    return PocketsphinxAsr(lm, cache_dir=root, n=3)


def test_registered_and_recognises_clear_requests(asr: PocketsphinxAsr) -> None:
    assert isinstance(asr, Component) and asr.name == "asr"
    pairs = []
    for req in REQUESTS:
        state = asr(_state(req, voice=CLEAR))
        stage = state.turn.asr
        assert stage.engine == ENGINE and stage.error is None and stage.nbest
        confs = [h.confidence for h in stage.nbest]
        assert all(0.0 <= c <= 1.0 for c in confs) and sum(confs) <= 1.0 + 1e-9
        assert confs == sorted(confs, reverse=True)
        assert len({h.text for h in stage.nbest}) == len(stage.nbest)  # no duplicate hypotheses
        pairs.append((req, stage.text))
    assert corpus_word_error_rate(pairs) < 0.5, pairs
    built = create(
        "asr.pocketsphinx.v1", lm_path=str(asr.lm_path), dict_path=str(asr.dict_path), use_cache=False
    )
    assert isinstance(built, PocketsphinxAsr)


def test_recognitions_are_cached(asr: PocketsphinxAsr, monkeypatch: pytest.MonkeyPatch) -> None:
    utt = Utterance("what is the weather like tomorrow", voice=CLEAR)
    first = asr.recognize(utt)
    assert asr.cache is not None
    entry = asr.cache.get_recognition(asr.cache_key(utt))
    assert entry is not None and entry["decode_ms"] > 0

    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("decoded although the recognition was cached")

    monkeypatch.setattr(asr.recognizer, "decode", boom)
    assert asr.recognize(utt) == first


def test_no_words_is_a_stage_failure_recorded_in_the_turn(asr: PocketsphinxAsr) -> None:
    with pytest.raises(StageFailure) as exc:
        asr.recognize(Utterance("  ?! "))
    assert exc.value.code == StageError.ASR_NO_TEXT
    state = Pipeline([asr])(_state("..."))
    assert state.turn.asr.error == StageError.ASR_NO_TEXT and state.turn.asr.engine == ENGINE


def test_decodes_a_wav_file_from_a_real_front_end(asr: PocketsphinxAsr, tmp_path: Path) -> None:
    wav = asr.tts.write("pause the music", tmp_path / "req.wav", Voice.parse(CLEAR))
    stage = asr.recognize(Utterance("", audio_path=str(wav)))
    assert stage.text == "pause the music"


def test_recognize_many_in_processes_matches_one_by_one(asr: PocketsphinxAsr, tmp_path: Path) -> None:
    fresh = PocketsphinxAsr(lm_path=asr.lm_path, dict_path=asr.dict_path, cache_dir=tmp_path, n=3)
    utts = [Utterance(r, speaker_id=f"user{i}") for i, r in enumerate(REQUESTS)] + [Utterance("")]
    many = fresh.recognize_many(utts, processes=2, progress=False)
    assert len(many) == len(utts)
    assert many[-1] == AsrStage(engine=ENGINE, error=StageError.ASR_NO_TEXT)
    one = [fresh.recognize(u) for u in utts[:-1]]  # served from the cache the workers filled
    assert many[:-1] == one
    assert all(fresh.cache is not None and fresh.cache.get_recognition(fresh.cache_key(u)) for u in utts[:-1])
