"""espeak-ng rendering: 16 kHz mono 16-bit WAV, deterministic, one stable voice per person."""

from __future__ import annotations

import io
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from selflearn.speech.cache import SpeechCache
from selflearn.speech.tts import (
    SAMPLE_RATE,
    EspeakNotFoundError,
    EspeakTts,
    Voice,
    mix_noise,
    pcm_to_wav,
    voice_for_speaker,
    wav_to_pcm,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def test_voice_spec_round_trips_and_validates() -> None:
    v = Voice("en-gb", "f3", speed=150, pitch=70, gap=1)
    assert v.espeak_name == "en-gb+f3"
    assert Voice.parse(v.spec) == v
    assert Voice.parse("en-us") == Voice()
    assert Voice.parse("en-us+klatt").variant == "klatt"
    with pytest.raises(ValueError):
        Voice(pitch=120)
    with pytest.raises(ValueError):
        Voice.parse("en-us/x12")
    with pytest.raises(ValueError):
        Voice("en-us -s 999")  # nothing that could smuggle options into the command line


def test_voice_per_speaker_is_stable_and_varied() -> None:
    assert voice_for_speaker("alice") == voice_for_speaker("alice")
    assert len({voice_for_speaker("alice", seed=s) for s in range(10)}) > 1  # the seed matters
    voices = {voice_for_speaker(f"user{i}") for i in range(60)}
    assert len(voices) == 60
    assert len({v.language for v in voices}) >= 3 and len({v.variant for v in voices}) >= 8
    assert all(140 <= v.speed <= 190 and 25 <= v.pitch <= 75 for v in voices)


def test_careful_voice_is_slower_with_longer_gaps() -> None:
    v = Voice(speed=170, gap=0)
    slow = v.slower()
    assert slow.speed == 136 and slow.gap == 2 and slow.language == v.language and slow.variant == v.variant


def test_wav_round_trip_and_streamed_header() -> None:
    pcm = (np.sin(np.arange(1600) / 5.0) * 8000).astype(np.int16)
    back, rate = wav_to_pcm(pcm_to_wav(pcm))
    assert rate == SAMPLE_RATE and np.array_equal(back, pcm)
    # espeak-ng --stdout writes placeholder sizes: the data chunk runs to the end of the bytes
    streamed = bytearray(pcm_to_wav(pcm, 22050))
    streamed[4:8] = b"\xff\xff\xff\x7f"
    streamed[40:44] = b"\xff\xff\xff\x7f"
    back, rate = wav_to_pcm(bytes(streamed))
    assert rate == 22050 and np.array_equal(back, pcm)
    with pytest.raises(ValueError):
        wav_to_pcm(b"not a wav file at all")


def test_noise_is_seeded_and_at_the_asked_snr() -> None:
    pcm = (np.sin(np.arange(16000) / 3.0) * 10000).astype(np.int16)
    a, b = mix_noise(pcm, 20.0, seed=3), mix_noise(pcm, 20.0, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, mix_noise(pcm, 20.0, seed=4))
    noise = a.astype(np.float64) - pcm
    snr = 10 * np.log10(np.mean(pcm.astype(np.float64) ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(20.0, abs=0.3)
    assert np.array_equal(mix_noise(np.zeros(100, np.int16), 10.0, 0), np.zeros(100, np.int16))


def test_missing_binary_says_how_to_install() -> None:
    with pytest.raises(EspeakNotFoundError, match="apt-get install espeak-ng"):
        EspeakTts("/nonexistent/espeak-ng")


@needs_espeak
def test_renders_16khz_mono_16bit_deterministically(tmp_path: Path) -> None:
    tts = EspeakTts()
    voice = Voice("en-us", "klatt", speed=160)
    wav = tts.render("turn on the kitchen lights", voice)
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        frames = w.getnframes()
    assert 0.8 * SAMPLE_RATE < frames < 4 * SAMPLE_RATE  # about 1.5 s of speech plus padding
    pcm = wav_to_pcm(wav)[0]
    assert np.abs(pcm).max() > 3000  # actual speech, not silence
    assert tts.render("turn on the kitchen lights", voice) == wav  # deterministic
    assert tts.render("turn on the kitchen lights", Voice("en-gb", "f2")) != wav
    out = tts.write("turn on the kitchen lights", tmp_path / "a.wav", voice)
    assert out.read_bytes() == wav


@needs_espeak
def test_slower_voice_gives_longer_audio_and_leading_dash_is_text() -> None:
    tts = EspeakTts(pad_ms=0)
    v = Voice(speed=180)
    fast = tts.synthesize("set a timer for ten minutes", v)
    slow = tts.synthesize("set a timer for ten minutes", v.slower())
    assert len(slow) > 1.15 * len(fast)
    assert len(tts.synthesize("-v what", v)) > 0.2 * SAMPLE_RATE  # spoken, not parsed as an option


@needs_espeak
def test_audio_cache_serves_the_same_samples(tmp_path: Path) -> None:
    cache = SpeechCache(tmp_path)
    tts = EspeakTts(cache=cache)
    first = tts.synthesize("pause the music")
    key = tts.audio_key("pause the music", Voice())
    assert cache.audio_path(key).exists()
    assert np.array_equal(EspeakTts(cache=cache).synthesize("pause the music"), first)
