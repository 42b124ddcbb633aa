"""Hand-built logged turns for the context tests: a small home snapshot and a helper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from selflearn.logs.records import (
    ActionStage,
    AsrHypothesis,
    AsrStage,
    Context,
    DeviceInfo,
    DeviceState,
    DeviceType,
    Feedback,
    NluHypothesis,
    NluStage,
    ResolutionStage,
    ResolvedEntity,
    ResponseStage,
    Slot,
    Turn,
)

T0 = datetime(2026, 1, 5, 18, 0, tzinfo=UTC)


def snapshot(oven_on: bool = False, tv_playing: bool = False) -> list[DeviceState]:
    return [
        DeviceState(entity_id="thermostat.hall", kind="thermostat", name="thermostat", room="hallway",
                    state={"target": "70", "current": "70"}),
        DeviceState(entity_id="oven.kitchen", kind="oven", name="oven", room="kitchen",
                    state={"on": "true" if oven_on else "false", "temperature": "350" if oven_on else "0"}),
        DeviceState(entity_id="light.kitchen", kind="light", name="kitchen light", room="kitchen",
                    state={"on": "false", "brightness": "100", "color": "white"}),
        DeviceState(entity_id="speaker.kitchen", kind="speaker", name="kitchen speaker", room="kitchen",
                    state={"volume": "5", "playing": "none", "paused": "false"}),
        DeviceState(entity_id="tv.living_room", kind="tv", name="living room tv", room="living_room",
                    state={"power": "true" if tv_playing else "false", "volume": "5",
                           "playing": "station:mix" if tv_playing else "none", "paused": "false"}),
    ]  # fmt: skip


def make_turn(
    i: int,
    text: str,
    nbest: list[tuple[str, float, dict[str, str]]],
    *,
    user: str = "u1",
    session: str = "s1",
    at: datetime | None = None,
    action: tuple[str, dict[str, str]] | None = None,
    entities: list[ResolvedEntity] | None = None,
    changes: list[str] | None = None,
    barge_in: bool = False,
    oven_on: bool = False,
    tv_playing: bool = False,
    room: str = "kitchen",
    error: str | None = None,
    screen: bool = False,
) -> Turn:
    ts = at or (T0 + timedelta(seconds=10 * i))
    hyps = [
        NluHypothesis(intent=n, confidence=c, slots=[Slot(name=k, value=v) for k, v in s.items()])
        for n, c, s in nbest
    ]
    act = ActionStage()
    if action is not None:
        act = ActionStage(
            name=action[0],
            arguments=action[1],
            status="failed" if error else "ok",
            error=error,
            changes=changes or [],
        )
    return Turn(
        turn_id=f"t{i:04d}-{user}",
        session_id=session,
        user_id=user,
        household_id="h1",
        turn_index=i,
        timestamp=ts,
        device=DeviceInfo(device_id="display.h1.kitchen" if screen else "speaker.kitchen",
                          type=DeviceType.SCREEN if screen else DeviceType.SPEAKER, has_screen=screen),
        context=Context(room=room, local_time=ts.replace(tzinfo=None), location="seattle_wa",
                        device_states=snapshot(oven_on, tv_playing)),
        asr=AsrStage(engine="test", nbest=[AsrHypothesis(text=text, confidence=0.9)]),
        nlu=NluStage(model="test", input_text=text, nbest=hyps),
        resolution=ResolutionStage(entities=entities or []),
        action=act,
        response=ResponseStage(text="ok", duration_ms=1500),
        feedback=Feedback(barge_in=barge_in, barge_in_offset_ms=300 if barge_in else None),
    )  # fmt: skip


@pytest.fixture
def turn_factory() -> Any:
    return make_turn
