"""The simulated wake-word detector: scores, rates at the default threshold, halting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from selflearn.assistant.component import Component, Pipeline, TurnState, Utterance, create
from selflearn.assistant.wake import WakeWord
from selflearn.logs.records import DeviceInfo, DeviceType, Turn

N = 4000


def _state(turn_id: str, directed: bool = True, **kw: object) -> TurnState:
    turn = Turn(
        turn_id=turn_id,
        session_id="s1",
        user_id="u1",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
    )
    return TurnState(turn=turn, utterance=Utterance("turn on the lights", is_directed=directed, **kw))  # type: ignore[arg-type]


def _detect_rate(wake: WakeWord, directed: bool, **kw: object) -> float:
    u = Utterance("x", is_directed=directed, **kw)  # type: ignore[arg-type]
    return sum(wake.score(u, f"t{i}") >= wake.threshold for i in range(N)) / N


def test_registered_with_the_component_protocol() -> None:
    wake = create("wake.score_model.v1", threshold=0.6)
    assert isinstance(wake, WakeWord) and isinstance(wake, Component)
    assert wake.name == "wake" and wake.threshold == 0.6
    with pytest.raises(ValueError):
        WakeWord(threshold=1.5)


def test_deterministic_under_seed_and_turn_id() -> None:
    u = Utterance("x")
    a = [WakeWord().score(u, f"t{i}") for i in range(50)]
    assert a == [WakeWord().score(u, f"t{i}") for i in range(50)]
    assert a != [WakeWord(seed=7).score(u, f"t{i}") for i in range(50)]
    assert len(set(a)) == 50


def test_rates_at_the_default_threshold_are_realistic() -> None:
    wake = WakeWord()
    missed = 1.0 - _detect_rate(wake, directed=True)
    false_wake = _detect_rate(wake, directed=False)
    assert 0.005 <= missed <= 0.035  # ~2% of requests missed
    assert 0.04 <= false_wake <= 0.11  # ~7% of overheard speech wakes the device


def test_noise_and_care_move_the_miss_rate() -> None:
    wake = WakeWord()
    base = 1.0 - _detect_rate(wake, True)
    noisy = 1.0 - _detect_rate(wake, True, noise_profile={"rate": 3.0})
    careful = 1.0 - _detect_rate(wake, True, careful=True)
    assert noisy > 2 * base
    assert careful < base
    assert _detect_rate(WakeWord(threshold=0.0), False) == 1.0
    assert _detect_rate(WakeWord(wake_like_share=0.0), False) < 0.01


class _Marker:
    name = "asr"

    def __call__(self, state: TurnState) -> TurnState:
        state.extensions["test.ran"] = True
        return state


def test_missed_wake_halts_the_turn_and_a_false_wake_carries_on() -> None:
    pipe = Pipeline([WakeWord(), _Marker()])
    halted = detected_background = 0
    for i in range(300):
        s = pipe(_state(f"h{i}", directed=False))
        assert s.turn.wake.threshold == 0.5 and 0.0 <= s.turn.wake.score <= 1.0
        assert s.turn.wake.detected == (s.turn.wake.score >= 0.5)
        assert s.turn.wake.error is None  # the device cannot know a wake was false
        if s.turn.wake.detected:
            detected_background += 1
            assert not s.halted and s.extensions.get("test.ran")
        else:
            halted += 1
            assert s.halted and "test.ran" not in s.extensions
    assert halted > 200 and detected_background > 5
