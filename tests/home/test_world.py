"""Sports results, restaurants and the clock: deterministic world answers."""

from __future__ import annotations

from datetime import date, datetime

from selflearn.home.world import CUISINES, TEAMS, Clock, World

W = World()
TODAY = date(2026, 11, 24)


def test_last_result_is_deterministic() -> None:
    r = W.last_result("seattle_seahawks", TODAY)
    assert r == W.last_result("seattle_seahawks", TODAY)
    assert r.day < TODAY and (TODAY - r.day).days <= 3
    opp = W.by_id[r.opponent_id]
    assert opp.league == "nfl" and opp.team_id != "seattle_seahawks"
    assert r.key.startswith(f"score:seattle_seahawks:{r.day.isoformat()}:")
    keys = {W.last_result(t.team_id, TODAY).key for t in TEAMS}
    assert len(keys) == len(TEAMS)


def test_ambiguous_nicknames() -> None:
    giants = W.find_team("giants")
    assert {m.key for m in giants[:2]} == {"new_york_giants", "san_francisco_giants"}
    assert W.find_team("giants", prefer=("san_francisco_giants",))[0].key == "san_francisco_giants"
    assert W.find_team("seattle seahawks")[0].key == "seattle_seahawks"


def test_restaurants() -> None:
    a = W.restaurants("seattle_wa", "thai")
    assert a == W.restaurants("seattle_wa", "thai") and len(a) == 3 and len(set(a)) == 3
    assert a != W.restaurants("boston_ma", "thai")
    assert len(W.restaurants("seattle_wa", "any")) == 3
    assert W.cuisine_index.match("bbq")[0].key == "barbecue"
    assert W.cuisine_index.match("chinese food")[0].key == "chinese"
    assert all(W.restaurants("x", c) for c in CUISINES)


def test_clock() -> None:
    c = Clock(datetime(2026, 1, 1, 8, 0))
    assert c.advance(90) == datetime(2026, 1, 1, 8, 1, 30)
    c.set(datetime(2026, 2, 1))
    assert c.now == datetime(2026, 2, 1)
