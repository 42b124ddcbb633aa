"""Home Assistant Assist pipeline runs -> `Turn` records.

Input: the event list of one pipeline run, as Home Assistant emits it over the websocket
(`assist_pipeline/run`) and keeps for the debug view (`assist_pipeline/pipeline_debug/get`
returns `{"events": [...]}`). Each event is `{"type", "data", "timestamp"}`; websocket frames
`{"id", "type": "event", "event": {...}}` are unwrapped. The events used:

  run-start        {pipeline, language, conversation_id?, runner_data}
  wake_word-start  {entity_id | engine, metadata, timeout}
  wake_word-end    {wake_word_output: {wake_word_id, wake_word_phrase?, timestamp?}}  ({} = none)
  stt-start        {engine, metadata}              stt-end {stt_output: {text}}
  intent-start     {engine, language, intent_input, conversation_id, device_id}
  intent-end       {intent_output: {response: {speech: {plain: {speech}}, response_type,
                    data: {targets, success, failed} | {code}}, conversation_id}}
  tts-start        {engine, language, voice, tts_input}            tts-end {tts_output}
  run-end          null
  error            {code, message}
Other events (stt-vad-*, intent-progress) are ignored.

Assumptions (HA's events do not carry everything a `Turn` holds):
  * turn_id: the run id when given (`pipeline_run_id` of the debug listing, or `run_id=`), else a
    stable hash of the events, so converting the same run twice gives the same turn.
  * session_id: HA's `conversation_id` (it groups the follow-ups of one dialogue); else turn_id.
  * user_id: not in the events; `user_id=` or `ha-device:<device_id>`.
  * device: `device_id` from intent-start (the satellite), type `device_type=` (speaker).
  * timestamp: run-start's; latency_ms: run-end minus run-start (HA timestamps, UTC assumed when
    naive).
  * wake: HA reports a detection, not a score: detected -> score 1.0, not detected -> 0.0. Runs
    that start at stt/intent have no wake events and keep the default (detected).
  * asr: one hypothesis, the STT text, with confidence `asr_confidence=` (HA reports none); for
    text pipelines (start at intent) the typed `intent_input`, engine "text", confidence 1.0.
  * nlu: HA does not name the recognised intent. The response type stands in for it, in the
    vocabulary of `home.intents.IntentKind`: action_done -> "ha:action", query_answer ->
    "ha:query"; an error after a match (no_valid_targets, failed_to_handle, unknown) -> "ha:intent".
    Confidence 1.0 (HA's default agent matches templates). No match -> empty n-best.
  * resolution: the response's `targets` (type, name, id) as resolved entities, score 1.0.
  * action: name = the stand-in intent when something ran; status "failed" if any target failed.
    `changes` stays empty: HA does not say which attribute changed to what.
  * response: the plain speech (else the tts_input); no duration (HA does not report one).

Error mapping (HA code -> stage, `StageError` where one fits, else `ha:<code>` kept verbatim):
  stt-no-text-recognized -> asr  asr-no-text       intent-failed     -> nlu  nlu-no-intent
  response no_intent_match -> nlu nlu-no-intent    no_valid_targets  -> resolution er-unresolved
  response failed_to_handle, failed targets -> action action-failed; response unknown (or any
  other response code) -> action ha:<code>
  intent-failed is an unexpected agent error rather than "no match", but to the user (and to the
  learners) the NLU stage produced no intent, so it shares nlu-no-intent.
  wake-word-timeout, wake-*, duplicate_wake_up_detected -> wake ha:<code> (detected=False for
  the timeout); stt-* -> asr ha:<code>; intent-* -> nlu ha:<code>; other codes -> the stage that
  was running. tts-* errors have no field in the contract (ResponseStage has no error) and are not
  recorded; the turn is still produced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from selflearn.logs.records import (
    ActionStage,
    AsrHypothesis,
    AsrStage,
    DeviceInfo,
    DeviceType,
    NluHypothesis,
    NluStage,
    ResolutionStage,
    ResolvedEntity,
    ResponseStage,
    StageError,
    Turn,
    WakeStage,
)

__all__ = [
    "HA_ERROR_CODES",
    "HA_RESPONSE_ERROR_CODES",
    "turn_from_pipeline_run",
    "turns_from_pipeline_runs",
]

ACTION_INTENT = "ha:action"
QUERY_INTENT = "ha:query"
MATCHED_INTENT = "ha:intent"

# Pipeline `error` event codes -> (stage, code recorded in the turn).
HA_ERROR_CODES: dict[str, tuple[str, str]] = {
    "wake-engine-missing": ("wake", "ha:wake-engine-missing"),
    "wake-provider-missing": ("wake", "ha:wake-provider-missing"),
    "wake-stream-failed": ("wake", "ha:wake-stream-failed"),
    "wake-word-timeout": ("wake", "ha:wake-word-timeout"),
    "duplicate_wake_up_detected": ("wake", "ha:duplicate_wake_up_detected"),
    "stt-provider-missing": ("asr", "ha:stt-provider-missing"),
    "stt-provider-unsupported-metadata": ("asr", "ha:stt-provider-unsupported-metadata"),
    "stt-stream-failed": ("asr", "ha:stt-stream-failed"),
    "stt-no-text-recognized": ("asr", StageError.ASR_NO_TEXT.value),
    "intent-not-supported": ("nlu", "ha:intent-not-supported"),
    "intent-failed": ("nlu", StageError.NLU_NO_INTENT.value),
    "tts-not-supported": ("tts", "ha:tts-not-supported"),
    "tts-failed": ("tts", "ha:tts-failed"),
}

# Intent response `data.code` of an `error` response -> (stage, code recorded in the turn).
HA_RESPONSE_ERROR_CODES: dict[str, tuple[str, str]] = {
    "no_intent_match": ("nlu", StageError.NLU_NO_INTENT.value),
    "no_valid_targets": ("resolution", StageError.ER_UNRESOLVED.value),
    "failed_to_handle": ("action", StageError.ACTION_FAILED.value),
    "unknown": ("action", "ha:unknown"),
}

_PREFIX_STAGE = {"wake": "wake", "stt": "asr", "intent": "nlu", "tts": "tts"}
_START_STAGE = {"wake_word-start": "wake", "stt-start": "asr", "intent-start": "nlu", "tts-start": "tts"}


def _parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    ts = datetime.fromisoformat(value)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _events_of(
    run: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], str | None]:
    run_id: str | None = None
    if isinstance(run, Mapping):
        run_id = run.get("pipeline_run_id") or run.get("run_id")
        events = run.get("events")
        if not isinstance(events, list):
            raise ValueError("a pipeline run mapping needs an 'events' list")
    else:
        events = list(run)
    out = []
    for ev in events:
        if not isinstance(ev, Mapping):
            raise ValueError(f"pipeline event must be a mapping, got {type(ev).__name__}")
        if ev.get("type") == "event" and isinstance(ev.get("event"), Mapping):  # websocket frame
            ev = ev["event"]
        if not isinstance(ev.get("type"), str):
            raise ValueError(f"pipeline event without a type: {ev!r}")
        out.append(dict(ev))
    if not out:
        raise ValueError("empty pipeline run")
    return out, run_id


def _stable_id(events: list[dict[str, Any]]) -> str:
    blob = json.dumps(events, sort_keys=True, default=str).encode()
    return "ha-" + hashlib.sha1(blob).hexdigest()[:20]


def _stage_of(code: str, current: str | None) -> str:
    if code in HA_ERROR_CODES:
        return HA_ERROR_CODES[code][0]
    prefix = code.split("-", 1)[0].split("_", 1)[0]
    return _PREFIX_STAGE.get(prefix) or current or "action"


def turn_from_pipeline_run(
    run: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    run_id: str | None = None,
    user_id: str | None = None,
    household_id: str | None = None,
    device_id: str | None = None,
    device_type: DeviceType = DeviceType.SPEAKER,
    turn_index: int = 0,
    asr_confidence: float = 1.0,
) -> Turn:
    """One Assist pipeline run (event list, or `{"events": [...]}`) -> a validated `Turn`.

    Keyword arguments fill what HA's events lack; see the module docstring for every mapping.
    """
    events, listed_id = _events_of(run)
    stamps = [t for t in (_parse_ts(ev.get("timestamp")) for ev in events) if t is not None]
    if not stamps:
        raise ValueError("pipeline run has no event timestamps")

    start_ts = end_ts = None
    conversation_id: str | None = None
    dev: str | None = device_id
    current: str | None = None
    wake_seen = wake_detected = False
    stt_seen = False
    stt_engine = ""
    stt_text: str | None = None
    intent_engine = ""
    intent_input: str | None = None
    intent_output: dict[str, Any] | None = None
    tts_input: str | None = None
    errors: dict[str, str] = {}  # stage -> first error code

    for ev in events:
        typ, data = ev["type"], ev.get("data") or {}
        ts = _parse_ts(ev.get("timestamp"))
        current = _START_STAGE.get(typ, current)
        if typ == "run-start":
            start_ts = ts
            conversation_id = data.get("conversation_id") or conversation_id
        elif typ == "run-end":
            end_ts = ts
        elif typ == "wake_word-start":
            wake_seen = True
        elif typ == "wake_word-end":
            wake_detected = bool(data.get("wake_word_output"))
        elif typ == "stt-start":
            stt_seen, stt_engine = True, str(data.get("engine") or "")
        elif typ == "stt-end":
            stt_text = (data.get("stt_output") or {}).get("text")
        elif typ == "intent-start":
            intent_engine = str(data.get("engine") or "")
            intent_input = data.get("intent_input")
            conversation_id = data.get("conversation_id") or conversation_id
            dev = dev or data.get("device_id")
        elif typ == "intent-end":
            intent_output = data.get("intent_output") or {}
            conversation_id = intent_output.get("conversation_id") or conversation_id
        elif typ == "tts-start":
            tts_input = data.get("tts_input")
        elif typ == "error":
            code = str(data.get("code") or "unknown")
            stage = _stage_of(code, current)
            errors.setdefault(stage, HA_ERROR_CODES.get(code, (stage, f"ha:{code}"))[1])

    # --- response of the conversation agent
    response = (intent_output or {}).get("response") or {}
    response_type = response.get("response_type")
    rdata = response.get("data") or {}
    speech = ((response.get("speech") or {}).get("plain") or {}).get("speech")
    if response_type == "error":
        code = str(rdata.get("code") or "unknown")
        stage, mapped = HA_RESPONSE_ERROR_CODES.get(code, ("action", f"ha:{code}"))
        errors.setdefault(stage, mapped)

    # --- stages
    wake = WakeStage()
    if wake_seen or "wake" in errors:
        if errors.get("wake") == HA_ERROR_CODES["wake-word-timeout"][1]:
            wake_detected = False
        elif not wake_seen:  # a wake error without wake events: only a duplicate wake-up fired
            wake_detected = errors.get("wake") == HA_ERROR_CODES["duplicate_wake_up_detected"][1]
        wake = WakeStage(
            detected=wake_detected, score=1.0 if wake_detected else 0.0, error=errors.get("wake")
        )

    if stt_seen:
        nbest = [AsrHypothesis(text=stt_text, confidence=asr_confidence)] if stt_text else []
        asr = AsrStage(engine=stt_engine, nbest=nbest, error=errors.get("asr"))
        if not stt_text and asr.error is None and stt_text is not None:
            asr = asr.model_copy(update={"error": StageError.ASR_NO_TEXT.value})
    elif intent_input is not None:
        asr = AsrStage(engine="text", nbest=[AsrHypothesis(text=intent_input, confidence=1.0)])
    else:
        asr = AsrStage(error=errors.get("asr"))

    nlu_error = errors.get("nlu")
    matched = intent_output is not None and nlu_error is None
    intent = {"action_done": ACTION_INTENT, "query_answer": QUERY_INTENT}.get(
        str(response_type), MATCHED_INTENT
    )
    nlu = NluStage(
        model=intent_engine,
        input_text=intent_input or "",
        nbest=[NluHypothesis(intent=intent, confidence=1.0)] if matched else [],
        error=nlu_error,
    )

    targets = (rdata.get("targets") or []) if response_type != "error" else []
    resolution = ResolutionStage(
        entities=[
            ResolvedEntity(
                slot=str(t.get("type") or ""),
                value=str(t.get("name") or ""),
                entity_id=t.get("id"),
                score=1.0,
            )
            for t in targets
            if isinstance(t, Mapping)
        ],
        error=errors.get("resolution"),
    )

    failed = (rdata.get("failed") or []) if response_type != "error" else []
    action_error = errors.get("action") or (StageError.ACTION_FAILED.value if failed else None)
    ran = matched and "resolution" not in errors
    action = ActionStage(
        name=intent if ran else None,
        status=("failed" if action_error else "ok") if ran else ("failed" if action_error else "none"),
        error=action_error,
    )

    text = speech if isinstance(speech, str) else (tts_input or "")
    start = start_ts or min(stamps)
    end = end_ts or max(stamps)
    turn_id = run_id or listed_id or _stable_id(events)
    device = dev or "ha-unknown-device"
    return Turn(
        turn_id=turn_id,
        session_id=conversation_id or turn_id,
        user_id=user_id or f"ha-device:{device}",
        household_id=household_id,
        turn_index=turn_index,
        timestamp=start,
        device=DeviceInfo(
            device_id=device,
            type=device_type,
            has_screen=device_type in (DeviceType.SCREEN, DeviceType.TV, DeviceType.PHONE),
        ),
        wake=wake,
        asr=asr,
        nlu=nlu,
        resolution=resolution,
        action=action,
        response=ResponseStage(text=text),
        latency_ms=max((end - start).total_seconds() * 1000.0, 0.0),
    )


def turns_from_pipeline_runs(
    runs: Iterable[Mapping[str, Any] | Sequence[Mapping[str, Any]]], **kwargs: Any
) -> list[Turn]:
    """Convert many runs; number the turns of each conversation (session) by time.

    Returns turns ordered by (timestamp, session); keyword arguments as `turn_from_pipeline_run`.
    """
    turns = [turn_from_pipeline_run(r, **kwargs) for r in runs]
    turns.sort(key=lambda t: (t.timestamp, t.session_id, t.turn_id))
    seen: dict[str, int] = {}
    out = []
    for t in turns:
        i = seen.get(t.session_id, 0)
        seen[t.session_id] = i + 1
        out.append(t.model_copy(update={"turn_index": i}))
    return out
