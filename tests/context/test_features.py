from __future__ import annotations

from typing import Any

from selflearn.context.features import (
    FEATURE_NAMES,
    Candidate,
    equivalent,
    featurize,
    generate_candidates,
    respects_words,
)
from selflearn.context.history import HistoryStore
from selflearn.context.signals import Interpretation, PrevTurn, TurnView
from selflearn.home.domain import simulated_domain
from selflearn.logs.records import ResolvedEntity

SIM_DOMAIN = simulated_domain()


def test_oven_on_offers_the_oven_and_features_see_it(turn_factory: Any) -> None:
    t = turn_factory(1, "what's the temperature", [("temperature_query", 0.9, {})],
                     action=("temperature_query", {}), oven_on=True)  # fmt: skip
    view = TurnView.from_turn(t, domain=SIM_DOMAIN)
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
    view = TurnView.from_turn(t, domain=SIM_DOMAIN)
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
    keys = [c.interp.key for c in generate_candidates(TurnView.from_turn(t, domain=SIM_DOMAIN))]
    assert "weather_query|city=wilkerson_ca" in keys

    hist = HistoryStore(SIM_DOMAIN)
    hist.add("u1", Interpretation.make("play_music", {"genre": "jazz"}), 18, "speaker")
    m = turn_factory(2, "play music", [("play_music", 0.95, {})], action=("play_music", {}))
    keys = [c.interp.key for c in generate_candidates(TurnView.from_turn(m, domain=SIM_DOMAIN), hist)]
    assert "play_music|genre=jazz" in keys

    off = turn_factory(3, "turn it off", [("lights_off", 0.5, {}), ("tv_off", 0.3, {})],
                       action=("lights_off", {}), tv_playing=True)  # fmt: skip
    view = TurnView.from_turn(off, prev=PrevTurn("tv_on", ("tv.living_room",), 8.0), domain=SIM_DOMAIN)
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
    view = TurnView.from_turn(off, prev=PrevTurn("tv_on", ("tv.living_room",), 8.0), domain=SIM_DOMAIN)
    cands = generate_candidates(view)
    prev = [c for c in cands if c.source == "prev"]
    assert [c.interp.key for c in prev] == ["tv_off|room=living_room"]
    x = featurize(cands, view)
    assert x[cands.index(prev[0]), FEATURE_NAMES.index("target_equals_prev")] == 1.0


def test_a_room_the_user_said_is_never_overridden(turn_factory: Any) -> None:
    # "turn off the living room tv": the NLU tagged the room, so the verb applied to what was just
    # used (the kitchen light) must not replace it
    t = turn_factory(4, "turn off the living room tv", [("tv_off", 0.8, {"room": "living room"}),
                     ("lights_off", 0.1, {})], action=("tv_off", {"room": "living_room"}),
                     entities=[ResolvedEntity(slot="room", value="living room", entity_id="living_room")],
                     tv_playing=True)  # fmt: skip
    view = TurnView.from_turn(t, prev=PrevTurn("lights_on", ("light.kitchen",), 5.0), domain=SIM_DOMAIN)
    assert view.said_rooms() == frozenset({"living_room"})
    cands = generate_candidates(view)
    assert all(respects_words(c, view) for c in cands[1:])
    assert not any(c.interp.key.startswith("lights_off") for c in cands)
    # the NLU dropped the room the user said: context may not pick a room the words contradict
    d = turn_factory(5, "turn off the living room lights", [("lights_off", 0.9, {})],
                     action=("lights_off", {}))  # fmt: skip
    dv = TurnView.from_turn(d, domain=SIM_DOMAIN)
    kitchen = Candidate(Interpretation.make("lights_off", {"room": "kitchen"}), "room", 0, 0.9)
    assert not respects_words(kitchen, dv)
    x = featurize([generate_candidates(dv)[0], kitchen], dv)
    assert x[1, FEATURE_NAMES.index("said_room_other")] == 1.0
    assert x[1, FEATURE_NAMES.index("said_room_match")] == 0.0
    # nothing said about rooms: the features say so and a context fill is allowed
    q = turn_factory(6, "turn off the lights", [("lights_off", 0.9, {})], action=("lights_off", {}))
    qv = TurnView.from_turn(q, domain=SIM_DOMAIN)
    assert qv.said_rooms() == frozenset() and respects_words(kitchen, qv)
    assert featurize([generate_candidates(qv)[0]], qv)[0, FEATURE_NAMES.index("said_room_match")] == -1.0


def test_resolver_runner_ups_of_the_same_words_stay_allowed(turn_factory: Any) -> None:
    t = turn_factory(7, "weather in wilkerson", [("weather_query", 0.9, {"city": "wilkerson"})],
                     action=("weather_query", {"city": "wilkerson_wa"}),
                     entities=[ResolvedEntity(slot="city", value="wilkerson", entity_id="wilkerson_wa",
                                              candidates=["wilkerson_ca"])])  # fmt: skip
    view = TurnView.from_turn(t, domain=SIM_DOMAIN)
    swap = Candidate(Interpretation.make("weather_query", {"city": "wilkerson_ca"}), "entity", 0, 0.9)
    other = Candidate(Interpretation.make("weather_query", {"city": "wilkerson_ca"}), "habit", 0, 0.9)
    assert respects_words(swap, view) and not respects_words(other, view)


def test_here_and_all_are_words_context_must_respect(turn_factory: Any) -> None:
    t = turn_factory(8, "more light in here", [("lights_on", 0.9, {})], action=("lights_on", {}),
                     room="living_room")  # fmt: skip
    view = TurnView.from_turn(t, domain=SIM_DOMAIN)
    assert view.said_rooms() == frozenset({"living_room"})
    kitchen = Candidate(Interpretation.make("lights_on", {"device": "light.kitchen"}), "device", 0, 0.9)
    assert not respects_words(kitchen, view)
    a = turn_factory(9, "turn all the lights on", [("lights_on", 0.9, {})], action=("lights_on", {}))
    av = TurnView.from_turn(a, domain=SIM_DOMAIN)
    assert not respects_words(kitchen, av)  # one lamp is not "all the lights"
    b = turn_factory(10, "turn the lights on", [("lights_on", 0.9, {})], action=("lights_on", {}))
    assert respects_words(kitchen, TurnView.from_turn(b, domain=SIM_DOMAIN))


def test_a_late_runner_up_the_user_settled_on_before_is_offered(turn_factory: Any) -> None:
    alts = ["springfield_ma", "springfield_il", "springfield_or", "springfield_oh"]
    t = turn_factory(11, "weather in springfield", [("weather_query", 0.9, {"city": "springfield"})],
                     action=("weather_query", {"city": "springfield_mo"}),
                     entities=[ResolvedEntity(slot="city", value="springfield", entity_id="springfield_mo",
                                              candidates=alts)])  # fmt: skip
    view = TurnView.from_turn(t, domain=SIM_DOMAIN)
    assert "weather_query|city=springfield_oh" not in [c.interp.key for c in generate_candidates(view)]
    hist = HistoryStore(SIM_DOMAIN)
    hist.add("u1", Interpretation.make("weather_query", {"city": "springfield_oh"}), 9, "speaker")
    keys = [c.interp.key for c in generate_candidates(view, hist)]
    assert "weather_query|city=springfield_oh" in keys
