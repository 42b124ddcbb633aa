from __future__ import annotations

import re

import pytest

from selflearn.contracts.domain import (
    Domain,
    DomainError,
    Effect,
    IntentKind,
    SlotType,
    intent_words,
    protected_by_default,
)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("door_unlock", {"door", "unlock"}),
        ("HassLockUnlock", {"hass", "lock", "unlock"}),
        ("takeaway-order", {"takeaway", "order"}),
        ("iot.garageOpen", {"iot", "garage", "open"}),
    ],
)
def test_intent_words(name: str, words: set[str]) -> None:
    assert intent_words(name) == words


def test_default_policy_protects_unlocking_opening_disarming_and_spending() -> None:
    names = [
        "door_unlock", "door_lock", "garage_open", "garage_close", "security_disarm", "purchase",
        "takeaway_order", "HassLockUnlock", "lights_on", "alarm_set", "shopping_add", "blinds_open",
    ]  # fmt: skip
    assert protected_by_default(names) == {
        "door_unlock", "garage_open", "security_disarm", "purchase", "takeaway_order", "HassLockUnlock",
    }  # fmt: skip


def test_the_simulated_home_marks_what_the_default_policy_would() -> None:
    """The simulated home names its protected intents itself; they agree with the policy a fresh
    deployment gets, so the simulator measures the guard real installs run with."""
    from selflearn.home.intents import INTENTS, PROTECTED

    assert protected_by_default(i.name for i in INTENTS) == PROTECTED


# ------------------------------------------------------------------------- the domain as data


def _minimal() -> dict[str, object]:
    return {
        "name": "my-house",
        "intents": [
            {"name": "HassTurnOn", "slots": [{"name": "name", "type": "device"}], "device_types": ["light"]},
            {"name": "HassLockUnlock"},
            {"name": "HassGetWeather", "kind": "query", "slots": [{"name": "city", "type": "city"}]},
        ],
        "colors": ["red"],
    }


def test_a_hand_written_domain_reads_with_defaults_and_the_default_protection() -> None:
    d = Domain.from_dict(_minimal())
    assert [i.name for i in d.intents] == ["HassTurnOn", "HassLockUnlock", "HassGetWeather"]
    assert d.intent("HassGetWeather") is not None and d.intent("HassGetWeather").kind is IntentKind.QUERY
    assert d.intent("HassTurnOn").slot("name").type is SlotType.DEVICE  # type: ignore[union-attr]
    assert d.device_types_of("HassTurnOn") == frozenset({"light"})
    assert d.device_types_of("HassGetWeather") is None  # names no device type: any
    assert d.protected == frozenset({"HassLockUnlock"})  # by the default policy
    opted_out = Domain.from_dict({**_minimal(), "protect_by_default": False})
    assert opted_out.protected == frozenset()


def test_a_domain_round_trips_and_its_digest_is_its_content() -> None:
    d = Domain.from_dict(_minimal())
    again = Domain.from_dict(d.to_dict())
    assert again.to_dict() == d.to_dict() and again.digest == d.digest
    other = Domain.from_dict({**_minimal(), "colors": ["blue"]})
    assert other.digest != d.digest


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"name": 3}, "domain.name: expected str"),
        ({"intents": [{"slots": []}]}, "intents[0]: field 'name' is missing"),
        (
            {"intents": [{"name": "a", "slots": [{"name": "s", "type": "colour"}]}]},
            "intents[0].slots[0].type",
        ),
        ({"intents": [{"name": "a", "kind": "wish"}]}, "intents[0].kind: 'wish'"),
        ({"colors": ["red", 7]}, "domain.colors[1]: expected a string"),
        (
            {"media": [{"media_id": "m", "title": "t", "type": "song", "popularity": "high"}]},
            "media[0].popularity",
        ),
        ({"intents": [{"name": "a"}, {"name": "a"}]}, "intent 'a' is listed twice"),
        ({"intents": [{"name": "a", "effect": "toggle"}]}, "intents[0].effect: 'toggle' is not one of on"),
        ({"title_intent": "PlayMovie"}, "title_intent 'PlayMovie' is not an intent"),
        ({"format_version": 99}, "newer than this selflearn reads"),
    ],
)
def test_a_broken_domain_names_the_field(patch: dict[str, object], where: str) -> None:
    with pytest.raises(DomainError, match=re.escape(where)):
        Domain.from_dict({**_minimal(), **patch})


def test_a_domain_from_intent_names_alone() -> None:
    d = Domain.from_intents("logs", ["b", "door_unlock", "b"])
    assert [i.name for i in d.intents] == ["b", "door_unlock"] and d.protected == frozenset({"door_unlock"})


def test_how_intents_meet_the_home_state_is_data_a_deployment_can_give() -> None:
    raw = _minimal()
    raw["intents"][0] = {**raw["intents"][0], "effect": "on"}  # type: ignore[index]
    raw["room_device_types"] = ["light"]
    d = Domain.from_dict(raw)
    assert d.intent("HassTurnOn").effect is Effect.ON  # type: ignore[union-attr]
    assert d.intent("HassGetWeather").effect is None  # type: ignore[union-attr]
    assert d.room_device_types == frozenset({"light"}) and d.title_intent is None
    assert Domain.from_dict(d.to_dict()).digest == d.digest


def test_the_simulated_home_says_what_its_switches_do() -> None:
    from selflearn.home.domain import simulated_domain

    d = simulated_domain()
    on_off = {i.name: i.effect for i in d.intents if i.effect in (Effect.ON, Effect.OFF)}
    assert on_off["lights_off"] is Effect.OFF and on_off["tv_on"] is Effect.ON
    # every switch acts on one device type, so "turn it off" maps onto one intent per device
    assert all(len(d.intent(n).device_types) == 1 for n in on_off)  # type: ignore[union-attr]
    assert d.title_intent == "play_media" and "light" in d.room_device_types
