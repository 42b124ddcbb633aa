"""Teachable moments found in a user's recent turns (log records only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from selflearn.logs.records import (
    AsrHypothesis,
    AsrStage,
    DeviceInfo,
    DeviceType,
    NluHypothesis,
    NluStage,
    ResolutionStage,
    ResolvedEntity,
    Slot,
    StageError,
    Turn,
)
from selflearn.teach.moments import MomentDetector, preference_slot
from selflearn.teach.store import PreferenceKind

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _turn(
    i: int,
    text: str,
    intent: str,
    slots: dict[str, str] | None = None,
    resolved: dict[str, str | None] | None = None,
    error: str | None = None,
    session: str = "s1",
    gap_s: float = 10.0,
) -> Turn:
    t = Turn(
        turn_id=f"t{i}",
        session_id=session,
        user_id="u1",
        timestamp=T0 + timedelta(seconds=gap_s * i),
        device=DeviceInfo(device_id="speaker.k", type=DeviceType.SPEAKER),
        asr=AsrStage(nbest=[AsrHypothesis(text=text, confidence=0.9)]),
        nlu=NluStage(
            nbest=[
                NluHypothesis(
                    intent=intent,
                    confidence=0.9,
                    slots=[Slot(name=k, value=v) for k, v in (slots or {}).items()],
                )
            ]
        ),
        resolution=ResolutionStage(
            entities=[ResolvedEntity(slot=k, value=k, entity_id=v) for k, v in (resolved or {}).items()],
            error=error if error and error.startswith("er-") else None,
        ),
    )
    return t


def _never(_k: PreferenceKind, _key: str) -> bool:
    return False


def test_a_repeated_request_asks_for_the_missing_preference() -> None:
    turns = [_turn(0, "how did my team do", "sports_score"), _turn(1, "how did my team do", "sports_score")]
    m = MomentDetector().detect(turns, _never)
    assert m is not None and (m.reason, m.kind, m.value) == (
        "repeated_request",
        PreferenceKind.FAVORITE_TEAM,
        None,
    )
    assert MomentDetector().detect(turns, lambda k, key: True) is None  # already known: nothing to ask


def test_requests_far_apart_or_in_other_sessions_are_not_one_episode() -> None:
    far = [
        _turn(0, "find a restaurant", "restaurant_find"),
        _turn(1, "find a restaurant", "restaurant_find", gap_s=600),
    ]
    assert MomentDetector().detect(far, _never) is None
    other = [
        _turn(0, "find a restaurant", "restaurant_find"),
        _turn(1, "find a restaurant", "restaurant_find", session="s2"),
    ]
    assert MomentDetector().detect(other, _never) is None


def test_rephrasing_a_device_name_offers_an_alias() -> None:
    first = _turn(
        0, "turn on moonlight", "lights_on", {"device": "moonlight"}, {"device": None}, "er-unresolved"
    )
    first.resolution.error = StageError.ER_UNRESOLVED
    second = _turn(
        1, "turn on the bedroom lamp", "lights_on", {"device": "bedroom lamp"}, {"device": "light.bedroom"}
    )
    m = MomentDetector().detect([first, second], _never)
    assert m is not None and (m.kind, m.key, m.value) == (PreferenceKind.ALIAS, "moonlight", "light.bedroom")


def test_rephrasing_a_team_offers_the_working_value() -> None:
    first = _turn(0, "how did the giants do", "sports_score", {"team": "giants"}, {"team": "new_york_giants"})
    first.feedback.barge_in = True  # the user cut the wrong answer short
    second = _turn(
        1, "how did the san francisco giants do", "sports_score", {"team": "san francisco giants"},
        {"team": "san_francisco_giants"},
    )  # fmt: skip
    m = MomentDetector().detect([first, second], _never)
    assert m is not None and (m.reason, m.value) == ("slot_rephrase", "san_francisco_giants")


def test_dissatisfaction_asks_about_what_the_last_turn_needed() -> None:
    prev = _turn(0, "play some music", "play_music")
    m = MomentDetector.after_dissatisfaction(prev)
    assert m is not None and m.kind is PreferenceKind.MUSIC_GENRE
    assert MomentDetector.after_dissatisfaction(_turn(0, "what time is it", "time_query")) is None
    assert preference_slot("restaurant_find") == ("cuisine", PreferenceKind.CUISINE)
