from __future__ import annotations

from typing import Any

from selflearn.context.features import FEATURE_NAMES, equivalent, featurize, generate_candidates
from selflearn.context.history import HistoryStore
from selflearn.context.signals import Interpretation, PrevTurn, TurnView
from selflearn.logs.records import ResolvedEntity


def test_oven_on_offers_the_oven_and_features_see_it(turn_factory: Any) -> None:
    t = turn_factory(1, "what's the temperature", [("temperature_query", 0.9, {})],
                     action=("temperature_query", {}), oven_on=True)  # fmt: skip
    view = TurnView.from_turn(t)
    cands = generate_candidates(view)
    keys = [c.interp.key for c in cands]
    assert keys[0] == "temperature_query" and cands[0].source == "default"
    assert "temperature_query|device=oven.kitchen" in keys
    x = featurize(cands, view)
    assert x.shape == (len(cands), len(FEATURE_NAMES))
    oven = keys.index("temperature_query|device=oven.kitchen")
    active = FEATURE_NAMES.index("target_active")
    assert x[oven, active] == 1.0 and x[0, active] == 0.0  # the default reads the thermostat


def test_equivalent_candidates_are_dropped(turn_factory: Any) -> None:
    t = turn_factory(
        1, "what's the temperature", [("temperature_query", 0.9, {})], action=("temperature_query", {})
    )
    view = TurnView.from_turn(t)
    keys = [c.interp.key for c in generate_candidates(view)]
    # reading the only thermostat by name does what the default does: not a real alternative
    assert "temperature_query|device=thermostat.hall" not in keys
    a = Interpretation.make("temperature_query", {"device": "thermostat.hall"})
    assert equivalent(a, view.default, view)  # type: ignore[arg-type]


def test_entity_runner_ups_genre_history_and_previous_target(turn_factory: Any) -> None:
    t = turn_factory(
        1,
        "weather in wilkerson",
        [("weather_query", 0.9, {"city": "wilkerson"})],
        action=("weather_query", {"city": "wilkerson_wa"}),
        entities=[
            ResolvedEntity(
                slot="city", value="wilkerson", entity_id="wilkerson_wa", candidates=["wilkerson_ca"]
            )
        ],
    )
    keys = [c.interp.key for c in generate_candidates(TurnView.from_turn(t))]
    assert "weather_query|city=wilkerson_ca" in keys

    hist = HistoryStore()
    hist.add("u1", Interpretation.make("play_music", {"genre": "jazz"}), 18, "speaker")
    m = turn_factory(2, "play music", [("play_music", 0.95, {})], action=("play_music", {}))
    keys = [c.interp.key for c in generate_candidates(TurnView.from_turn(m), hist)]
    assert "play_music|genre=jazz" in keys

    off = turn_factory(3, "turn it off", [("lights_off", 0.5, {}), ("tv_off", 0.3, {})],
                       action=("lights_off", {}), tv_playing=True)  # fmt: skip
    view = TurnView.from_turn(off, prev=PrevTurn("tv_on", ("tv.living_room",), 8.0))
    cands = generate_candidates(view)
    keys = [c.interp.key for c in cands]
    assert "tv_off|room=living_room" in keys
    x = featurize(cands, view)
    col = FEATURE_NAMES.index("target_is_prev")
    assert x[keys.index("tv_off|room=living_room"), col] == 1.0


def test_the_verb_applies_to_what_was_just_used(turn_factory: Any) -> None:
    off = turn_factory(
        3, "shut it off", [("lights_off", 0.7, {})], action=("lights_off", {}), tv_playing=True
    )
    view = TurnView.from_turn(off, prev=PrevTurn("tv_on", ("tv.living_room",), 8.0))
    cands = generate_candidates(view)
    prev = [c for c in cands if c.source == "prev"]
    assert [c.interp.key for c in prev] == ["tv_off|room=living_room"]
    x = featurize(cands, view)
    assert x[cands.index(prev[0]), FEATURE_NAMES.index("target_equals_prev")] == 1.0
