from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selflearn.logs.flat import FLAT_SCHEMA, flatten_turns, interpretation
from selflearn.logs.records import NluHypothesis, ResolvedEntity, Slot, Turn
from selflearn.logs.schema import flatten_table, turns_to_table

from .strategies import make_turn


def hyp(intent: str, **slots: str) -> NluHypothesis:
    return NluHypothesis(
        intent=intent, confidence=0.9, slots=[Slot(name=k, value=v) for k, v in slots.items()]
    )


def ent(slot: str, entity_id: str | None, value: str = "x") -> ResolvedEntity:
    return ResolvedEntity(slot=slot, value=value, entity_id=entity_id)


def with_nlu(i: int, top: NluHypothesis | None, entities: list[ResolvedEntity]) -> Turn:
    t = make_turn(i)
    nlu = t.nlu.model_copy(update={"nbest": [top] if top else []})
    return t.model_copy(
        update={"nlu": nlu, "resolution": t.resolution.model_copy(update={"entities": entities})}
    )


def test_interpretation_signature() -> None:
    # surface values are normalized, slots sorted by name
    assert interpretation(hyp("lights_on", room="The Kitchen!", device="Lights")) == (
        "lights_on|device=lights|room=the kitchen"
    )
    assert interpretation(hyp("time_query")) == "time_query"
    assert interpretation(None) is None
    # resolved slots use the entity id: two wordings of one lamp are one interpretation
    lamp = interpretation(hyp("lights_on", device="kitchen lamp"), [ent("device", "light.kitchen")])
    lights = interpretation(hyp("lights_on", device="the kitchen lights"), [ent("device", "light.kitchen")])
    assert lamp == lights == "lights_on|device=light.kitchen"
    # ... but another room is another interpretation
    bedroom = interpretation(hyp("lights_on", device="bedroom lamp"), [ent("device", "light.bedroom")])
    assert bedroom != lamp
    # unresolved (null id) keeps the surface value; the first resolved entity of the slot wins;
    # entities without an NLU slot (a room from context) are not part of it
    got = interpretation(
        hyp("lights_on", device="Lamp", room="kitchen"),
        [ent("device", None), ent("room", None), ent("room", "kitchen"), ent("room", "hall"), ent("x", "y")],
    )
    assert got == "lights_on|device=lamp|room=kitchen"


def test_flat_views_agree_on_interpretations() -> None:
    cases = [
        (hyp("lights_on", room="Kitchen", device="the Lamp"), [ent("device", "light.kitchen")]),
        (hyp("lights_on", device="lamp"), [ent("device", None), ent("device", "light.a")]),
        (hyp("play_media", title="Hello", artist="Adele"), []),
        (hyp("time_query"), [ent("room", "kitchen")]),
        (None, [ent("device", "light.kitchen")]),
        (hyp("set", b="2", a="1", **{"a!": "0"}), [ent("a!", "z"), ent("b", "")]),  # sort by name
        (hyp("ünï", é="É", e="e"), [ent("é", None)]),
    ]
    turns = [with_nlu(i, top, ents) for i, (top, ents) in enumerate(cases)]
    flat = flatten_table(turns_to_table(turns))
    assert flat.schema.equals(FLAT_SCHEMA) and FLAT_SCHEMA.names[-1] == "nlu_interpretation"
    assert flat.equals(flatten_turns(turns))
    assert flat["nlu_interpretation"].to_pylist() == [
        "lights_on|device=light.kitchen|room=kitchen",
        "lights_on|device=light.a",
        "play_media|artist=adele|title=hello",
        "time_query",
        None,
        "set|a=1|a!=z|b=",
        "ünï|e=e|é=é",
    ]


names = st.sampled_from(["a", "a!", "b", "é", "room", "device"])
slot_lists = st.lists(st.builds(Slot, name=names, value=st.text(max_size=6)), max_size=4)
entity_lists = st.lists(
    st.builds(ResolvedEntity, slot=names, value=st.just(""), entity_id=st.none() | st.text(max_size=4)),
    max_size=4,
)
tops = st.none() | st.builds(
    NluHypothesis, intent=st.sampled_from(["x", "y|z"]), confidence=st.just(0.5), slots=slot_lists
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(tops, entity_lists), max_size=6))
def test_flat_views_agree_when_slots_and_entities_collide(cases: list) -> None:
    turns = [with_nlu(i, top, ents) for i, (top, ents) in enumerate(cases)]
    flat = flatten_table(turns_to_table(turns))
    assert flat["nlu_interpretation"].to_pylist() == [interpretation(top, ents) for top, ents in cases]
    assert flat.to_pylist() == flatten_turns(turns).to_pylist()
