"""Places with ambiguous names and forecasts that are a pure function of (place, date)."""

from __future__ import annotations

from datetime import date, timedelta

from selflearn.home.weather import CONDITIONS, PLACES, WeatherService

W = WeatherService()


def test_ambiguous_place_names() -> None:
    names: dict[str, list[str]] = {}
    for p in PLACES:
        names.setdefault(p.name.lower(), []).append(p.place_id)
    assert sorted(names["wilkerson"]) == ["wilkerson_ca", "wilkerson_wa"]
    assert len(names["springfield"]) >= 3
    assert sorted(names["portland"]) == ["portland_me", "portland_or"]
    assert len({p.place_id for p in PLACES}) == len(PLACES)


def test_find_prefers_region_then_population() -> None:
    assert W.find("wilkerson")[0].key == "wilkerson_ca"  # larger
    assert W.find("wilkerson", prefer_region="washington")[0].key == "wilkerson_wa"
    assert [m.key for m in W.find("wilkerson")][:2] == ["wilkerson_ca", "wilkerson_wa"]
    assert W.find("wilkerson washington")[0].key == "wilkerson_wa"
    assert W.find("portland maine")[0].key == "portland_me"
    assert W.find("portland me")[0].key == "portland_me"
    assert W.find("portland")[0].key == "portland_or"
    assert W.find("nyc")[0].key == "new_york_ny"
    assert W.find("seatle")[0].key == "seattle_wa"


def test_forecast_is_deterministic_and_plausible() -> None:
    d = date(2026, 11, 25)
    assert W.forecast("wilkerson_wa", d) == W.forecast("wilkerson_wa", d)
    assert W.forecast("wilkerson_wa", d).key != W.forecast("wilkerson_ca", d).key
    seen = set()
    for p in PLACES:
        for k in range(0, 365, 7):
            f = W.forecast(p.place_id, d + timedelta(days=k))
            assert f.condition in CONDITIONS and f.low < f.high
            assert f.condition != "snow" or f.high <= 36
            seen.add(f.condition)
    assert seen == set(CONDITIONS)
    assert W.forecast("miami_fl", date(2026, 7, 1)).high > W.forecast("minneapolis_mn", date(2026, 1, 1)).high
