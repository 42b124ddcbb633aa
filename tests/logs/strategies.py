"""Hypothesis strategies for the log contract: arbitrary valid `Turn`s, covering every field.

Every optional field is sometimes None and sometimes set, lists are sometimes empty, texts include
non-ASCII and control characters, and timestamps carry assorted UTC offsets (the model stores UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from selflearn.logs.records import (
    ActionStage,
    AsrHypothesis,
    AsrStage,
    Context,
    DeviceInfo,
    DeviceState,
    DeviceType,
    Feedback,
    FeedbackKind,
    NluHypothesis,
    NluStage,
    ResolutionStage,
    ResolvedEntity,
    ResponseStage,
    RewriteStage,
    Slot,
    Turn,
    WakeStage,
)

texts = st.text(max_size=12)
names = st.text(min_size=1, max_size=10)
confidences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
_lo, _hi = datetime(1990, 1, 1), datetime(2100, 1, 1)
aware = st.datetimes(_lo, _hi, timezones=st.one_of(st.just(UTC), offsets))
wall_clock = st.one_of(st.datetimes(_lo, _hi), aware)  # local_time: naive or aware
opt_text = st.none() | texts
counts = st.integers(min_value=0, max_value=10**9)
errors = st.none() | st.sampled_from(["asr-no-text", "nlu-no-intent", "action-failed", ""]) | texts

device_infos = st.builds(
    DeviceInfo,
    device_id=names,
    type=st.sampled_from(DeviceType),
    has_screen=st.booleans(),
    capabilities=st.lists(texts, max_size=3),
)
device_states = st.builds(
    DeviceState,
    entity_id=names,
    kind=texts,
    name=texts,
    room=opt_text,
    state=st.dictionaries(texts, texts, max_size=3),
)
contexts = st.builds(
    Context,
    room=opt_text,
    local_time=st.none() | wall_clock,
    location=opt_text,
    device_states=st.lists(device_states, max_size=3),
)
wakes = st.builds(WakeStage, detected=st.booleans(), score=confidences, threshold=confidences, error=errors)
asrs = st.builds(
    AsrStage,
    engine=texts,
    nbest=st.lists(st.builds(AsrHypothesis, text=texts, confidence=confidences), max_size=3),
    error=errors,
)
rewrites = st.builds(
    RewriteStage,
    original=texts,
    rewritten=texts,
    rule_id=texts,
    source=st.sampled_from(["precomputed", "online-global", "online-personal"]),
    score=confidences,
    table_version=opt_text,
)
slots = st.builds(
    Slot,
    name=names,
    value=texts,
    start=st.none() | counts,
    end=st.none() | counts,
)
nlus = st.builds(
    NluStage,
    model=texts,
    input_text=texts,
    nbest=st.lists(
        st.builds(NluHypothesis, intent=names, confidence=confidences, slots=st.lists(slots, max_size=3)),
        max_size=3,
    ),
    error=errors,
)
resolutions = st.builds(
    ResolutionStage,
    entities=st.lists(
        st.builds(
            ResolvedEntity,
            slot=texts,
            value=texts,
            entity_id=opt_text,
            score=confidences,
            candidates=st.lists(texts, max_size=3),
        ),
        max_size=3,
    ),
    error=errors,
)
actions = st.builds(
    ActionStage,
    name=opt_text,
    arguments=st.dictionaries(texts, texts, max_size=3),
    status=st.sampled_from(["ok", "failed", "none"]),
    error=errors,
    changes=st.lists(texts, max_size=3),
)
responses = st.builds(ResponseStage, text=texts, has_visual=st.booleans(), duration_ms=counts)
feedbacks = st.builds(
    Feedback,
    barge_in=st.booleans(),
    barge_in_offset_ms=st.none() | counts,
    explicit=st.none() | st.sampled_from(FeedbackKind),
    teaching=opt_text,
)


@st.composite
def turns(draw: st.DrawFn, turn_id: st.SearchStrategy[str] = names) -> Turn:
    """One arbitrary valid turn."""
    return Turn(
        schema_version=draw(st.sampled_from(["1.0"])),
        turn_id=draw(turn_id),
        session_id=draw(names),
        user_id=draw(names),
        household_id=draw(opt_text),
        turn_index=draw(st.integers(min_value=0, max_value=2**31 - 1)),
        timestamp=draw(aware),
        device=draw(device_infos),
        context=draw(contexts),
        wake=draw(wakes),
        asr=draw(asrs),
        rewrite=draw(st.none() | rewrites),
        nlu=draw(nlus),
        resolution=draw(resolutions),
        action=draw(actions),
        response=draw(responses),
        feedback=draw(feedbacks),
        latency_ms=draw(st.floats(min_value=0.0, max_value=1e7, allow_nan=False)),
    )


def turn_lists(max_size: int = 8) -> st.SearchStrategy[list[Turn]]:
    """Lists of turns with distinct turn ids (as a valid log file has)."""
    return st.lists(turns(), max_size=max_size, unique_by=lambda t: t.turn_id)


def make_turn(i: int = 0, **update: object) -> Turn:
    """A small, fully populated, deterministic turn (for example-based tests)."""
    t = Turn.model_validate(
        {
            "turn_id": f"t{i:05d}",
            "session_id": f"s{i // 3:04d}",
            "user_id": f"u{i % 7}",
            "household_id": "h1",
            "turn_index": i % 3,
            "timestamp": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=17 * i),
            "device": {"device_id": "kitchen-speaker", "type": "speaker", "capabilities": ["audio"]},
            "context": {
                "room": "kitchen",
                "local_time": "2025-01-01T08:00:00",
                "device_states": [
                    {"entity_id": "light.kitchen", "kind": "light", "state": {"on": "true", "bri": "40"}}
                ],
            },
            "asr": {
                "engine": "noisy",
                "nbest": [
                    {"text": f"Turn ON the lights {i % 11}!", "confidence": 0.9},
                    {"text": "turn on the flights", "confidence": 0.4},
                ],
            },
            "rewrite": (
                {"original": "turn on the flights", "rewritten": "turn on the lights", "rule_id": "r1"}
                if i % 4 == 0
                else None
            ),
            "nlu": {
                "model": "crf",
                "input_text": "" if i % 5 == 0 else f"turn on the lights {i % 11}",
                "nbest": [
                    {
                        "intent": "light_on",
                        "confidence": 0.8,
                        "slots": [{"name": "device", "value": "lights", "start": 12, "end": 18}],
                    },
                    {"intent": "light_off", "confidence": 0.1},
                ]
                if i % 6
                else [],
                "error": None if i % 6 else "nlu-no-intent",
            },
            "resolution": {
                "entities": [
                    {"slot": "device", "value": "lights", "entity_id": "light.kitchen", "score": 0.7},
                    {"slot": "room", "value": "kitchen", "entity_id": None, "score": 0.2},
                ]
                if i % 2
                else []
            },
            "action": {
                "name": "light_on",
                "arguments": {"device": "light.kitchen"},
                "status": "ok",
                "changes": ["light.kitchen.on=true"],
            },
            "response": {"text": "Done.", "duration_ms": 800},
            "feedback": {
                "barge_in": i % 3 == 1,
                "barge_in_offset_ms": 300 if i % 3 == 1 else None,
                "explicit": "negative" if i % 9 == 4 else None,
            },
            "latency_ms": 123.5,
        }
    )
    return t.model_copy(update=update) if update else t
