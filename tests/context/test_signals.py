from __future__ import annotations

from typing import Any

from selflearn.context.signals import (
    Interpretation,
    TurnView,
    is_active,
    logged_interpretation,
    targets_of_changes,
)
from selflearn.home.domain import simulated_domain
from selflearn.logs.records import DeviceState, ResolvedEntity

SIM_DOMAIN = simulated_domain()


def test_is_active_reads_each_kind() -> None:
    on = DeviceState(entity_id="oven.k", kind="oven", state={"on": "true"})
    off = DeviceState(entity_id="oven.k", kind="oven", state={"on": "false"})
    paused = DeviceState(entity_id="s", kind="speaker", state={"playing": "song:x", "paused": "true"})
    playing = DeviceState(entity_id="s", kind="speaker", state={"playing": "song:x", "paused": "false"})
    assert is_active(on) and not is_active(off)
    assert is_active(playing) and not is_active(paused)


def test_targets_of_changes_keeps_order_and_dedups() -> None:
    assert targets_of_changes(
        ["light.kitchen.on=true", "light.kitchen.brightness=100", "tv.x.power=false"]
    ) == [
        "light.kitchen",
        "tv.x",
    ]


def test_same_meaning_ignores_context_room_but_not_a_named_one() -> None:
    a = Interpretation.make("lights_off", {}, ctx_room="kitchen")
    b = Interpretation.make("lights_off", {"room": "bedroom"})
    c = Interpretation.make("lights_off", {"room": "kitchen"})
    assert not a.same_meaning(b)
    assert a.same_meaning(c)
    assert Interpretation.make("lights_off", {}).same_meaning(b)  # no room known: a wildcard
    assert not a.same_meaning(Interpretation.make("tv_off", {}))


def test_logged_interpretation_separates_the_context_room(turn_factory: Any) -> None:
    t = turn_factory(
        1,
        "lights off",
        [("lights_off", 0.9, {})],
        action=("lights_off", {"room": "kitchen"}),
        entities=[ResolvedEntity(slot="room", value="", entity_id="kitchen", score=1.0)],
    )
    interp = logged_interpretation(t)
    assert interp is not None
    assert interp.args == () and interp.ctx_room == "kitchen"
    view = TurnView.from_turn(t, domain=SIM_DOMAIN)
    assert view.default == interp and view.hour == 18 and view.room == "kitchen"


def test_no_nlu_no_interpretation(turn_factory: Any) -> None:
    assert logged_interpretation(turn_factory(1, "", [])) is None
