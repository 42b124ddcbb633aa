"""A recognition-results file for a SLURP-format file: one synthetic voice per recording, decoded
by pocketsphinx, readable by the replay component."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from selflearn.simulate.recognize_slurp import make_recognitions, recording_utterances
from selflearn.speech.tts import voice_for_speaker


def _record(slurp_id: int, sentence: str, scenario: str, action: str, files: list[str]) -> dict[str, Any]:
    words = sentence.split()
    return {
        "slurp_id": slurp_id,
        "sentence": sentence,
        "sentence_annotation": sentence,
        "intent": f"{scenario}_{action}",
        "scenario": scenario,
        "action": action,
        "tokens": [{"surface": w, "id": i, "lemma": w, "pos": "NN"} for i, w in enumerate(words)],
        "entities": [],
        "recordings": [{"file": f, "wer": 0.0, "ent_wer": 0.0, "status": "correct"} for f in files],
    }


@pytest.fixture()
def slurp_file(tmp_path: Path) -> Path:
    rows = [
        _record(1, "pause the music", "music", "pause", ["audio-1.flac", "audio-1-headset.flac"]),
        _record(2, "turn on the kitchen lights", "iot", "hue_lighton", ["audio-2.flac"]),
        _record(3, "what is the time", "datetime", "query", ["audio-3.flac"]),
    ]
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    return path


def test_one_voice_per_recording_seeded_by_its_name(slurp_file: Path) -> None:
    items = recording_utterances(slurp_file, limit=3)
    assert [u.recording for _, u in items] == ["audio-1.flac", "audio-1-headset.flac", "audio-2.flac"]
    assert items[0][1].voice == voice_for_speaker("audio-1.flac").spec
    assert items[0][1].voice != items[1][1].voice  # two readings of one request sound different
    assert items[0][0] == items[1][0] == "pause the music"


def test_make_recognitions_writes_a_replayable_file(slurp_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    from selflearn.assistant.asr.replay import read_recognitions

    training = [
        "pause the music",
        "stop the music",
        "turn on the kitchen lights",
        "what is the time",
        "play jazz",
    ]
    out = tmp_path / "recognitions.jsonl"
    summary = make_recognitions(
        slurp_file, out, training, processes=1, cache_dir=tmp_path / "cache", progress=False
    )
    assert summary.recordings == 4 and summary.requests == 3 and summary.decoded == 4
    assert len(summary.errors) == 1 and ":4:" in summary.errors[0]  # the broken SLURP line
    assert 0.0 <= summary.wer < 1.0 and summary.mean_decode_ms is not None and summary.mean_decode_ms > 0
    assert summary.lm_overlap == 1.0  # this test trains on its own requests; the summary says so
    recs, errors = read_recognitions(out)
    assert errors == [] and set(recs) == {
        "audio-1.flac",
        "audio-1-headset.flac",
        "audio-2.flac",
        "audio-3.flac",
    }
    assert all(r.nbest and r.nbest[0].text == r.text for r in recs.values() if r.text)

    again = make_recognitions(
        slurp_file, out, training, processes=1, cache_dir=tmp_path / "cache", progress=False
    )
    assert again.decoded == 0 and again.wer == summary.wer  # the second run is served by the cache
