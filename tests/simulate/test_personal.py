from __future__ import annotations

import random
from collections import Counter

import pytest

from selflearn.simulate.personal import NICKNAME_SLOTS, PersonalPatterns, attach
from selflearn.simulate.traffic import SimConfig, Simulator


def _first_attempts(sim: Simulator, limit: int = 400) -> list[tuple[str, str, str]]:
    """(user, goal key, first-attempt text) for each user's favourite goals."""
    out = []
    for hh in sim.households:
        menu = sim.menus[hh.household_id]
        for u in hh.users:
            for i in u.favourite_goals:
                goal = menu.goals[i]
                rng = random.Random(f"{u.user_id}:{goal.goal_key}")
                out.append((u.user_id, goal.goal_key, sim.phrasing.first(u, goal, rng).text))
    return out[:limit]


def test_default_keeps_ordinary_traffic_identical() -> None:
    plain = Simulator(SimConfig(users=20, seed=4))
    off = Simulator(SimConfig(users=20, seed=4, personal_share=0.0))
    assert attach(off) is None and off.phrasing.personal is None
    assert _first_attempts(plain) == _first_attempts(off)


def test_people_with_patterns_use_private_names_habitually() -> None:
    on = Simulator(SimConfig(users=20, seed=4, personal_share=0.5))
    assert on.phrasing.personal is not None  # the constructor turns the knob on
    patterns = attach(on)
    assert patterns is not None and on.phrasing.personal is patterns
    base = {(u, g): t for u, g, t in _first_attempts(Simulator(SimConfig(users=20, seed=4)))}
    changed = [(u, g, t) for u, g, t in _first_attempts(on) if base[(u, g)] != t]
    assert changed, "some first attempts use a private name"
    users = {u.user_id: u for u in on.users}
    for u, _g, _t in changed:
        assert patterns.has_patterns(users[u])  # only people with patterns change
    share = sum(patterns.has_patterns(u) for u in on.users) / len(on.users)
    assert 0.2 < share < 0.8
    # habitual: asking again gives the same words
    again = {(u, g): t for u, g, t in _first_attempts(on)}
    assert all(again[(u, g)] == t for u, g, t in changed)


def test_private_names_are_rarely_shared() -> None:
    from selflearn.simulate.population import make_user

    users = [make_user(random.Random(i), f"u{i:06d}", "h0") for i in range(200)]
    p = PersonalPatterns(share=1.0, seed=1, value_rate=1.0)
    names: Counter[str] = Counter()
    for u in users:
        nick = p.nickname(u, "device", "kitchen light")
        assert nick is not None
        names[nick] += 1
    # far fewer than k = 3 people share a typical nickname for the same thing
    assert sum(c for c in names.values() if c >= 3) / len(users) < 0.2
    assert p.nickname(users[0], "time", "seven am") is None  # only names get nicknames
    assert "device" in NICKNAME_SLOTS


def test_rejects_bad_shares() -> None:
    with pytest.raises(ValueError):
        PersonalPatterns(share=1.5)
