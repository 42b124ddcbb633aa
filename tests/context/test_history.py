from __future__ import annotations

import json
from pathlib import Path

import pytest

from selflearn.context.history import HistoryStore, value_signature
from selflearn.context.signals import Interpretation
from selflearn.home.domain import simulated_domain

SIM_DOMAIN = simulated_domain()


def _store() -> HistoryStore:
    s = HistoryStore(SIM_DOMAIN)
    for _ in range(4):
        s.add("u1", Interpretation.make("play_music", {"genre": "jazz"}), 20, "speaker")
    s.add("u1", Interpretation.make("play_music", {}), 20, "speaker")
    for _ in range(3):
        s.add("u1", Interpretation.make("coffee_start", {}), 7, "speaker")
    s.add("u1", Interpretation.make("play_media", {"media_title": "audiobook:dune"}), 21, "speaker")
    s.add("u2", Interpretation.make("weather_query", {"city": "wilkerson_ca"}), 9, "screen")
    return s


def test_shares_habits_and_top_values() -> None:
    s = _store()
    h = s.get("u1")
    assert h.n == 9
    assert h.value_share(Interpretation.make("play_music", {"genre": "jazz"}), SIM_DOMAIN) == pytest.approx(
        0.8
    )
    assert h.value_share(Interpretation.make("play_music", {}), SIM_DOMAIN) == pytest.approx(0.2)
    assert h.top_values("play_music", "genre") == ["jazz"]
    assert h.habits(7) == ["coffee_start"]
    assert h.intent_hour_share("coffee_start", 8) == pytest.approx(1.0)  # within an hour of 7
    assert h.media_share("speaker", "audiobook") == pytest.approx(1.0)
    assert s.get("nobody").n == 0


def test_value_signature_keeps_empty_taste_slots() -> None:
    assert value_signature(Interpretation.make("play_music", {}), SIM_DOMAIN) == "play_music|genre=|artist="
    assert value_signature(Interpretation.make("lights_off", {"room": "kitchen"}), SIM_DOMAIN) == "lights_off"


def test_save_load_roundtrip_and_delete(tmp_path: Path) -> None:
    s = _store()
    path = s.save(tmp_path / "h" / "history.json")
    back = HistoryStore.load(path)
    assert back.get("u1").to_json() == s.get("u1").to_json()
    assert back.delete_user("u1") and not back.delete_user("u1")
    assert back.get("u1").n == 0 and len(back) == 1
    back.save(path)
    assert "u1" not in json.loads(path.read_text())["users"]


def test_broken_file_names_the_user(tmp_path: Path) -> None:
    p = tmp_path / "history.json"
    p.write_text(json.dumps({"format": 1, "users": {"u9": {"n": 1}}}))
    with pytest.raises(ValueError, match="u9"):
        HistoryStore.load(p)
    p.write_text(json.dumps({"format": 99, "users": {}}))
    with pytest.raises(ValueError, match="format"):
        HistoryStore.load(p)
