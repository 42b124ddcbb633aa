from __future__ import annotations

import pytest

from selflearn.contracts.domain import intent_words, protected_by_default


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
