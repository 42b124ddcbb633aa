"""Places and a deterministic weather service.

Several place names exist in more than one state (Wilkerson CA and WA, five Springfields, Portland
OR and ME, Paris TX and France...): "weather in Wilkerson" is ambiguous, and the assistant's pick
(same state as the household first, then the larger place) can be wrong for a given user.
Forecasts are a pure function of (place, date), so two equal queries always get the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

from selflearn.home.world import stable_hash
from selflearn.text.matching import Match, NameIndex

CONDITIONS = ("sunny", "partly cloudy", "cloudy", "rain", "showers", "thunderstorms", "fog", "windy", "snow")


@dataclass(frozen=True, slots=True)
class Place:
    """A city. `place_id` is the canonical value of city slots (e.g. ``wilkerson_wa``)."""

    place_id: str
    name: str
    region: str  # state or country, as spoken ("washington", "france")
    region_abbr: str  # "wa"; empty where people do not abbreviate
    population: int
    climate: int  # mean yearly high in °F, drives the forecast
    aliases: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        return f"{self.name}, {self.region.title()}"

    @property
    def surfaces(self) -> tuple[str, ...]:
        out = [self.name, f"{self.name} {self.region}", *self.aliases]
        if self.region_abbr:
            out.append(f"{self.name} {self.region_abbr}")
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Forecast:
    place_id: str
    date: date
    condition: str
    high: int
    low: int

    @property
    def key(self) -> str:
        return f"weather:{self.place_id}:{self.date.isoformat()}:{self.condition}:{self.high}"


def _p(pid: str, name: str, region: str, abbr: str, pop: int, climate: int, *aliases: str) -> Place:
    return Place(pid, name, region, abbr, pop, climate, aliases)


PLACES: tuple[Place, ...] = (
    _p("wilkerson_ca", "Wilkerson", "california", "ca", 3200, 74),
    _p("wilkerson_wa", "Wilkerson", "washington", "wa", 2100, 58),
    _p("springfield_il", "Springfield", "illinois", "il", 114000, 62),
    _p("springfield_mo", "Springfield", "missouri", "mo", 169000, 67),
    _p("springfield_ma", "Springfield", "massachusetts", "ma", 155000, 60),
    _p("springfield_or", "Springfield", "oregon", "or", 62000, 63),
    _p("springfield_oh", "Springfield", "ohio", "oh", 58000, 61),
    _p("portland_or", "Portland", "oregon", "or", 652000, 63),
    _p("portland_me", "Portland", "maine", "me", 68000, 55),
    _p("columbus_oh", "Columbus", "ohio", "oh", 906000, 62),
    _p("columbus_ga", "Columbus", "georgia", "ga", 206000, 76),
    _p("paris_fr", "Paris", "france", "", 2100000, 61),
    _p("paris_tx", "Paris", "texas", "tx", 25000, 75),
    _p("kansas_city_mo", "Kansas City", "missouri", "mo", 508000, 65),
    _p("kansas_city_ks", "Kansas City", "kansas", "ks", 156000, 65),
    _p("arlington_tx", "Arlington", "texas", "tx", 394000, 77),
    _p("arlington_va", "Arlington", "virginia", "va", 238000, 67),
    _p("aurora_co", "Aurora", "colorado", "co", 386000, 64),
    _p("aurora_il", "Aurora", "illinois", "il", 180000, 59),
    _p("salem_or", "Salem", "oregon", "or", 175000, 64),
    _p("salem_ma", "Salem", "massachusetts", "ma", 44000, 58),
    _p("rochester_ny", "Rochester", "new york", "ny", 211000, 57),
    _p("rochester_mn", "Rochester", "minnesota", "mn", 121000, 55),
    _p("vancouver_wa", "Vancouver", "washington", "wa", 190000, 63),
    _p("vancouver_bc", "Vancouver", "british columbia", "bc", 662000, 58, "vancouver canada"),
    _p("jackson_ms", "Jackson", "mississippi", "ms", 153000, 77),
    _p("jackson_wy", "Jackson", "wyoming", "wy", 10700, 52, "jackson hole"),
    _p("richmond_va", "Richmond", "virginia", "va", 226000, 70),
    _p("richmond_ca", "Richmond", "california", "ca", 116000, 67),
    _p("glendale_ca", "Glendale", "california", "ca", 196000, 77),
    _p("glendale_az", "Glendale", "arizona", "az", 248000, 86),
    _p("dublin_ie", "Dublin", "ireland", "", 1200000, 56),
    _p("dublin_oh", "Dublin", "ohio", "oh", 49000, 62),
    _p("seattle_wa", "Seattle", "washington", "wa", 737000, 60),
    _p("tacoma_wa", "Tacoma", "washington", "wa", 219000, 60),
    _p("spokane_wa", "Spokane", "washington", "wa", 228000, 58),
    _p("san_francisco_ca", "San Francisco", "california", "ca", 815000, 64, "sf", "frisco"),
    _p("los_angeles_ca", "Los Angeles", "california", "ca", 3800000, 75, "la", "l a"),
    _p("sacramento_ca", "Sacramento", "california", "ca", 525000, 74),
    _p("fresno_ca", "Fresno", "california", "ca", 542000, 77),
    _p("new_york_ny", "New York", "new york", "ny", 8300000, 62, "new york city", "nyc", "manhattan"),
    _p("chicago_il", "Chicago", "illinois", "il", 2700000, 59),
    _p("boston_ma", "Boston", "massachusetts", "ma", 650000, 59),
    _p("austin_tx", "Austin", "texas", "tx", 975000, 80),
    _p("denver_co", "Denver", "colorado", "co", 715000, 64),
    _p("miami_fl", "Miami", "florida", "fl", 450000, 84),
    _p("atlanta_ga", "Atlanta", "georgia", "ga", 500000, 72),
    _p("phoenix_az", "Phoenix", "arizona", "az", 1600000, 87),
    _p("minneapolis_mn", "Minneapolis", "minnesota", "mn", 425000, 55),
    _p("nashville_tn", "Nashville", "tennessee", "tn", 690000, 70),
    _p("new_orleans_la", "New Orleans", "louisiana", "la", 380000, 78),
    _p("las_vegas_nv", "Las Vegas", "nevada", "nv", 650000, 80, "vegas"),
    _p("london_uk", "London", "england", "", 8900000, 59),
    _p("tokyo_jp", "Tokyo", "japan", "", 14000000, 68),
)

# Seasonal swing in °F by month (northern hemisphere).
_SEASON = (-16, -13, -7, 0, 6, 12, 16, 15, 9, 1, -8, -14)


class WeatherService:
    """Place lookup plus forecasts that depend only on (place, date)."""

    def __init__(self, places: tuple[Place, ...] = PLACES) -> None:
        self.places = places
        self.by_id = {p.place_id: p for p in places}

    def get(self, place_id: str) -> Place | None:
        return self.by_id.get(place_id)

    @cached_property
    def index(self) -> NameIndex:
        return NameIndex((s, p.place_id) for p in self.places for s in p.surfaces)

    def find(self, name: str, prefer_region: str | None = None, limit: int = 5) -> list[Match]:
        """Places matching a spoken name; equal scores ordered by same region as `prefer_region`,
        then population (the usual default reading of an ambiguous name)."""
        matches = self.index.match(name, limit=limit * 2)

        def key(m: Match) -> tuple[float, int, int, str]:
            p = self.by_id[m.key]
            return (-round(m.score, 3), 0 if p.region == prefer_region else 1, -p.population, m.key)

        return sorted(matches, key=key)[:limit]

    def forecast(self, place_id: str, day: date) -> Forecast:
        place = self.by_id[place_id]
        h = stable_hash(f"{place_id}|{day.isoformat()}")
        high = place.climate + _SEASON[day.month - 1] + (h % 15) - 7
        low = high - 8 - (h >> 4) % 10
        options = CONDITIONS if high <= 36 else CONDITIONS[:-1]
        condition = options[(h >> 8) % len(options)]
        return Forecast(place_id, day, condition, high, low)
