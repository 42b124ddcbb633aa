"""Replayed recognition: answers from a recognition-results file, falls back for unknown or
missing recordings, and reports bad lines by file, line and field while keeping the good ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from selflearn.assistant.asr.noisy_channel import NoisyChannelAsr
from selflearn.assistant.asr.replay import NO_RECORDING, ReplayAsr, read_recognitions
from selflearn.assistant.component import Component, Pipeline, StageFailure, TurnState, Utterance, create
from selflearn.logs.records import DeviceInfo, DeviceType, StageError, Turn


def _state(text: str, **kw: Any) -> TurnState:
    turn = Turn(
        turn_id="t1",
        session_id="s1",
        user_id="u1",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
    )
    return TurnState(turn=turn, utterance=Utterance(text, **kw))


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    return path


GOOD = [
    {"file": "a.flac", "text": "pause the music", "confidence": 0.8},
    {
        "file": "b.flac",
        "text": "close the music",
        "confidence": 0.6,
        "nbest": [
            {"text": "close the music", "confidence": 0.6},
            {"text": "pause the music", "confidence": 0.3},
        ],
    },
    {"file": "c.flac", "text": "Play Jazz"},
    {"file": "d.flac", "text": ""},
    {
        "file": "e.flac",
        "text": "turn on the lights",
        "nbest": [{"text": "turn of the lights", "confidence": 0.4}],
    },
]


def test_answers_from_the_file(tmp_path: Path) -> None:
    asr = ReplayAsr(_write(tmp_path / "r.jsonl", GOOD))
    assert isinstance(asr, Component) and asr.name == "asr" and len(asr) == 5
    st = asr(_state("pause the music", recording="a.flac")).turn.asr
    assert (st.engine, st.text, st.confidence) == ("replay", "pause the music", 0.8)
    st = asr(_state("pause the music", recording="b.flac")).turn.asr
    assert [(h.text, h.confidence) for h in st.nbest] == [("close the music", 0.6), ("pause the music", 0.3)]
    st = asr(_state("play jazz", recording="c.flac")).turn.asr
    assert (st.text, st.confidence) == ("play jazz", 1.0)  # lower-cased; no confidence -> default
    st = asr(_state("x", recording="e.flac")).turn.asr
    assert [h.text for h in st.nbest] == ["turn on the lights", "turn of the lights"]  # 1-best is `text`
    assert ReplayAsr(tmp_path / "r.jsonl", n=1)(_state("x", recording="b.flac")).turn.asr.nbest[1:] == []


def test_empty_recognition_is_no_text(tmp_path: Path) -> None:
    asr = ReplayAsr(_write(tmp_path / "r.jsonl", GOOD))
    with pytest.raises(StageFailure) as exc:
        asr(_state("x", recording="d.flac"))
    assert exc.value.code == StageError.ASR_NO_TEXT
    state = Pipeline([asr])(_state("x", recording="d.flac"))
    assert state.turn.asr.error == StageError.ASR_NO_TEXT and state.turn.asr.engine == "replay"


def test_falls_back_for_missing_or_unknown_recordings(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.jsonl", GOOD)
    asr = ReplayAsr(path, fallback=NoisyChannelAsr(error_rate=0.0))
    for kw in ({}, {"recording": "zzz.flac"}):
        st = asr(_state("Turn on the kitchen lights", **kw)).turn.asr
        assert (st.engine, st.text) == ("noisy_channel", "turn on the kitchen lights")
    # fallback from a config mapping, as a pipeline config file would give it
    built = create(
        "asr.replay.v1", file=str(path), fallback={"component": "asr.noisy_channel.v1", "error_rate": 0.0}
    )
    assert built(_state("play jazz")).turn.asr.engine == "noisy_channel"
    with pytest.raises(ValueError, match="ASR component"):
        ReplayAsr(path, fallback=lambda s: s)  # type: ignore[arg-type]


def test_without_fallback_a_missing_recording_fails_the_stage(tmp_path: Path) -> None:
    asr = ReplayAsr(_write(tmp_path / "r.jsonl", GOOD))
    state = Pipeline([asr])(_state("hello", recording="nope.flac"))
    assert state.turn.asr.error == NO_RECORDING and state.turn.asr.engine == "replay"


def test_bad_lines_are_reported_and_good_lines_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows: list[Any] = [
        GOOD[0],
        "{not json",
        {"text": "no file"},
        {"file": "f.flac"},
        {"file": "g.flac", "text": "hi", "confidence": 1.5},
        {"file": "h.flac", "text": "hi", "nbest": [{"text": "hi"}]},
        {"file": "i.flac", "text": 3},
        ["a", "list"],
        {"file": "a.flac", "text": "duplicate"},
        {"file": "j.flac", "text": "fine", "extra": "ignored"},
    ]
    path = _write(tmp_path / "r.jsonl", rows)
    recs, errors = read_recognitions(path)
    assert sorted(recs) == ["a.flac", "j.flac"] and recs["a.flac"].text == "pause the music"
    where = [(e.line, e.field) for e in errors]
    assert where == [
        (2, "<line>"),
        (3, "file"),
        (4, "text"),
        (5, "confidence"),
        (6, "nbest[0].confidence"),
        (7, "text"),
        (8, "<line>"),
        (9, "file"),
    ]
    assert all(e.path == str(path) for e in errors)
    assert str(errors[3]).startswith(f"{path}:5: field 'confidence'")
    with caplog.at_level("WARNING"):
        asr = ReplayAsr(path)
    assert len(asr.errors_) == 8 and "8 bad line(s)" in caplog.text
    assert asr(_state("x", recording="j.flac")).turn.asr.text == "fine"


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ReplayAsr(tmp_path / "absent.jsonl")
