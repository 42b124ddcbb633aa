"""The speech cache: stable keys, atomic entries, damaged entries read as misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from selflearn.speech.cache import SpeechCache, default_cache_dir, stable_key


def test_keys_are_stable_and_sensitive() -> None:
    a = stable_key("asr", {"lm": "x", "opts": {"b": 1, "a": 2}}, "turn on", ("en-us", 160))
    b = stable_key("asr", {"opts": {"a": 2, "b": 1}, "lm": "x"}, "turn on", ["en-us", 160])
    assert a == b and len(a) == 64  # key order and tuple/list do not matter
    assert a != stable_key("asr", {"lm": "y", "opts": {"b": 1, "a": 2}}, "turn on", ("en-us", 160))
    assert a != stable_key("asr", {"lm": "x", "opts": {"b": 1, "a": 2}}, "turn on", ("en-us", 161))
    # pinned value: the key must not change between processes or Python versions
    assert stable_key("x", 1) == "59402b0471b497c05ad760c869c511f92a9fbdc78b7f4c51703964d9321bc031"
    with pytest.raises(TypeError):
        stable_key(object())


def test_round_trips_and_misses(tmp_path: Path) -> None:
    cache = SpeechCache(tmp_path)
    key = stable_key("k")
    assert cache.get_recognition(key) is None and cache.get_audio(key) is None
    cache.put_recognition(key, {"nbest": [{"text": "hi", "confidence": 0.5}], "decode_ms": 12.0})
    assert cache.get_recognition(key) == {"nbest": [{"text": "hi", "confidence": 0.5}], "decode_ms": 12.0}
    cache.put_audio(key, b"RIFF....WAVE")
    assert cache.get_audio(key) == b"RIFF....WAVE"
    assert cache.recognition_path(key).parent.name == key[:2]
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []  # atomic writes leave no temp files behind


def test_damaged_entries_are_misses_and_get_overwritten(tmp_path: Path) -> None:
    cache = SpeechCache(tmp_path)
    key = stable_key("damaged")
    path = cache.recognition_path(key)
    path.parent.mkdir(parents=True)
    path.write_text('{"nbest": [', encoding="utf-8")
    assert cache.get_recognition(key) is None
    cache.put_recognition(key, {"nbest": []})
    assert cache.get_recognition(key) == {"nbest": []}
    cache.audio_path(key).parent.mkdir(parents=True, exist_ok=True)
    cache.audio_path(key).write_bytes(b"garbage")
    assert cache.get_audio(key) is None


def test_rejects_keys_that_are_not_digests(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SpeechCache(tmp_path).recognition_path("../../etc/passwd")


def test_default_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SELFLEARN_SPEECH_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("SELFLEARN_SPEECH_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "selflearn" / "speech"
