from __future__ import annotations

from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from selflearn.logs.adapters.home_assistant import turn_from_pipeline_run, turns_from_pipeline_runs
from selflearn.logs.records import StageError, Turn


def _ev(typ: str, second: float, data: dict[str, Any] | None = None) -> dict[str, Any]:
    whole, frac = divmod(second, 1)
    ts = f"2024-03-17T18:09:{int(whole):02d}.{round(frac * 1e6):06d}+00:00"
    return {"type": typ, "data": data, "timestamp": ts}


def _voice_run(
    text: str = "turn on the kitchen lights",
    response: dict[str, Any] | None = None,
    conversation_id: str = "01HS6SP2XD1E5HEHVDZE8R2WMR",
    t0: float = 0.0,
) -> list[dict[str, Any]]:
    response = response or {
        "speech": {"plain": {"speech": "Turned on the lights", "extra_data": None}},
        "card": {},
        "language": "en",
        "response_type": "action_done",
        "data": {
            "targets": [{"name": "Kitchen", "type": "area", "id": "kitchen"}],
            "success": [{"name": "Kitchen Lights", "type": "entity", "id": "light.kitchen"}],
            "failed": [],
        },
    }
    return [
        _ev("run-start", t0, {"pipeline": "01hp2qn3", "language": "en", "runner_data": {"timeout": 300}}),
        _ev("wake_word-start", t0 + 0.01, {"entity_id": "wake_word.openwakeword", "timeout": 3}),
        _ev("wake_word-end", t0 + 1.2, {"wake_word_output": {"wake_word_id": "ok_nabu", "timestamp": 1180}}),
        _ev("stt-start", t0 + 1.21, {"engine": "stt.faster_whisper", "metadata": {"language": "en"}}),
        _ev("stt-vad-start", t0 + 1.3, {"timestamp": 1290}),
        _ev("stt-vad-end", t0 + 2.4, {"timestamp": 2390}),
        _ev("stt-end", t0 + 2.9, {"stt_output": {"text": text}}),
        _ev(
            "intent-start",
            t0 + 2.91,
            {
                "engine": "conversation.home_assistant",
                "language": "en",
                "intent_input": text,
                "conversation_id": None,
                "device_id": "sat-kitchen-01",
            },
        ),
        _ev(
            "intent-end",
            t0 + 3.1,
            {"intent_output": {"response": response, "conversation_id": conversation_id}},
        ),
        _ev(
            "tts-start",
            t0 + 3.11,
            {"engine": "tts.piper", "voice": None, "tts_input": "Turned on the lights"},
        ),
        _ev(
            "tts-end",
            t0 + 3.5,
            {"tts_output": {"media_id": "media-source://tts/x", "mime_type": "audio/mpeg"}},
        ),
        _ev("run-end", t0 + 3.6, None),
    ]


def _error_response(code: str) -> dict[str, Any]:
    return {
        "speech": {"plain": {"speech": "Sorry, I couldn't understand that", "extra_data": None}},
        "card": {},
        "language": "en",
        "response_type": "error",
        "data": {"code": code},
    }


def test_voice_action_done_snapshot(snapshot: SnapshotAssertion) -> None:
    turn = turn_from_pipeline_run(_voice_run(), run_id="01HS6SP2X0RUN", household_id="h1")
    assert turn.to_json_dict() == snapshot
    assert turn.session_id == "01HS6SP2XD1E5HEHVDZE8R2WMR"
    assert turn.asr.text == "turn on the kitchen lights"
    assert turn.nlu.top is not None and turn.nlu.top.intent == "ha:action"
    assert turn.action.status == "ok" and turn.errors == []
    assert turn.latency_ms == pytest.approx(3600.0)


def test_stt_no_text_snapshot(snapshot: SnapshotAssertion) -> None:
    events = [
        *_voice_run()[:6],
        _ev("error", 5.0, {"code": "stt-no-text-recognized", "message": "No text recognized"}),
        _ev("run-end", 5.01, None),
    ]
    turn = turn_from_pipeline_run(events, run_id="run-2")
    assert turn.to_json_dict() == snapshot
    assert turn.asr.error == StageError.ASR_NO_TEXT and turn.asr.nbest == []
    assert turn.errors == ["asr-no-text"]


def test_text_pipeline_query_answer_snapshot(snapshot: SnapshotAssertion) -> None:
    # A typed request (start_stage=intent): no wake/stt events. Websocket frames are unwrapped.
    events = [
        _ev("run-start", 0.0, {"pipeline": "p", "language": "en", "runner_data": {"timeout": 300}}),
        _ev(
            "intent-start",
            0.01,
            {"engine": "conversation.home_assistant", "intent_input": "What is the weather today?"},
        ),
        _ev(
            "intent-end",
            1.5,
            {
                "intent_output": {
                    "response": {
                        "speech": {"plain": {"speech": "The weather today is rainy.", "extra_data": None}},
                        "card": {},
                        "language": "en",
                        "response_type": "query_answer",
                        "data": {
                            "targets": [],
                            "success": [{"name": "Home", "type": "entity", "id": "weather.home"}],
                            "failed": [],
                        },
                    },
                    "conversation_id": "conv-9",
                }
            },
        ),
        _ev("run-end", 1.51, None),
    ]
    frames = [{"id": 45, "type": "event", "event": e} for e in events]
    turn = turn_from_pipeline_run({"pipeline_run_id": "01HRUN", "events": frames}, user_id="alice")
    assert turn.to_json_dict() == snapshot
    assert (turn.turn_id, turn.user_id, turn.asr.engine) == ("01HRUN", "alice", "text")
    assert turn.nlu.top is not None and turn.nlu.top.intent == "ha:query"


@pytest.mark.parametrize(
    ("code", "stage", "expected"),
    [
        ("no_intent_match", "nlu", StageError.NLU_NO_INTENT),
        ("no_valid_targets", "resolution", StageError.ER_UNRESOLVED),
        ("failed_to_handle", "action", StageError.ACTION_FAILED),
    ],
)
def test_intent_error_responses_map_to_stage_errors(code: str, stage: str, expected: StageError) -> None:
    turn = turn_from_pipeline_run(_voice_run(response=_error_response(code)))
    assert getattr(turn, stage).error == expected
    assert turn.errors == [expected.value]
    assert turn.response.text == "Sorry, I couldn't understand that"
    assert (turn.nlu.top is None) == (code == "no_intent_match")
    assert turn.action.status == ("failed" if code == "failed_to_handle" else "none")


def test_failed_targets_are_an_action_failure() -> None:
    response = {
        "speech": {"plain": {"speech": "Failed to turn on the fan", "extra_data": None}},
        "response_type": "action_done",
        "data": {
            "targets": [],
            "success": [],
            "failed": [{"name": "Fan", "type": "entity", "id": "fan.attic"}],
        },
    }
    turn = turn_from_pipeline_run(_voice_run(response=response))
    assert (turn.action.status, turn.action.error) == ("failed", StageError.ACTION_FAILED)


def test_pipeline_errors() -> None:
    timeout = [
        _ev("run-start", 0.0, {"pipeline": "p"}),
        _ev("wake_word-start", 0.1, {"entity_id": "wake_word.x"}),
        _ev("error", 3.1, {"code": "wake-word-timeout", "message": "Wake word was not detected"}),
        _ev("run-end", 3.2, None),
    ]
    t = turn_from_pipeline_run(timeout)
    assert (t.wake.detected, t.wake.score, t.wake.error) == (False, 0.0, "ha:wake-word-timeout")
    assert t.user_id == "ha-device:ha-unknown-device" and t.asr.nbest == []

    intent_failed = [*_voice_run()[:8], _ev("error", 4.0, {"code": "intent-failed", "message": "boom"})]
    t = turn_from_pipeline_run(intent_failed)
    assert t.nlu.error == StageError.NLU_NO_INTENT and t.nlu.nbest == [] and t.action.name is None
    assert t.latency_ms == pytest.approx(4000.0)  # no run-end: up to the last event

    stt_failed = [*_voice_run()[:4], _ev("error", 2.0, {"code": "stt-stream-failed", "message": "x"})]
    assert turn_from_pipeline_run(stt_failed).asr.error == "ha:stt-stream-failed"


def test_same_run_same_id_and_validation() -> None:
    a, b = turn_from_pipeline_run(_voice_run()), turn_from_pipeline_run(_voice_run())
    assert a.turn_id == b.turn_id and a.turn_id.startswith("ha-")
    assert Turn.model_validate(a.to_json_dict()) == a  # the output is a valid record
    with pytest.raises(ValueError, match="empty pipeline run"):
        turn_from_pipeline_run([])
    with pytest.raises(ValueError, match="'events' list"):
        turn_from_pipeline_run({"pipeline_run_id": "x"})


def test_runs_of_one_conversation_are_numbered() -> None:
    runs = [
        _voice_run("play jazz", conversation_id="c1", t0=20.0),
        _voice_run("turn on the lights", conversation_id="c1", t0=0.0),
        _voice_run("what time is it", conversation_id="c2", t0=10.0),
    ]
    turns = turns_from_pipeline_runs(runs, household_id="h1")
    assert [(t.session_id, t.turn_index, t.asr.text) for t in turns] == [
        ("c1", 0, "turn on the lights"),
        ("c2", 0, "what time is it"),
        ("c1", 1, "play jazz"),
    ]
