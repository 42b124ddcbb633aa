"""Questions: the time, the weather, sports scores, restaurants nearby, a device's status."""

from __future__ import annotations

from datetime import date

from selflearn.contracts.actions import Outcome
from selflearn.home.devices import Device, Kind, fmt_value
from selflearn.home.handlers.common import say_time
from selflearn.home.search import HomeSearch
from selflearn.home.targets import fail
from selflearn.home.world import CUISINES
from selflearn.logs.records import StageError
from selflearn.text.numbers import render_date

__all__ = ["FORECAST_DAYS", "query"]

FORECAST_DAYS = 10


def query(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    if intent == "time_query":
        hhmm = home.now.strftime("%H:%M")
        return Outcome(True, None, (), f"time:{hhmm}", f"It's {say_time(hhmm)}.")
    if intent == "weather_query":
        place = home.weather.get(args.get("city", home.location))
        if place is None:
            return fail(StageError.ACTION_FAILED, "Sorry, I don't know that place.")
        try:
            day = date.fromisoformat(args["date"]) if "date" in args else home.today
        except ValueError:
            return fail(StageError.ACTION_FAILED, "Sorry, I didn't get the day.")
        if not 0 <= (day - home.today).days < FORECAST_DAYS:
            return fail(StageError.ACTION_FAILED, "Sorry, I only have a ten-day forecast.")
        f = home.weather.forecast(place.place_id, day)
        when = render_date(day, home.today)
        msg = f"In {place.display} {when}: {f.condition}, high of {f.high}, low of {f.low}."
        return Outcome(True, None, (), f.key, msg)
    if intent == "sports_score":
        team_id = args.get("team", home.favorite_team or "")
        team = home.world.by_id.get(team_id)
        if team is None:
            if "team" in args:
                return fail(StageError.ACTION_FAILED, "Sorry, I don't know that team.")
            return fail(StageError.ACTION_MISSING_SLOT, "Sorry, which team?")
        r = home.world.last_result(team_id, home.today)
        opp = home.world.by_id[r.opponent_id]
        us, them = r.score, r.opponent_score
        verb = "beat" if us > them else "lost to" if us < them else "tied"
        msg = f"The {team.nickname} {verb} the {opp.nickname} {us} to {them}."
        return Outcome(True, None, (), r.key, msg)
    if intent == "restaurant_find":
        cuisine = args.get("cuisine", "any")
        if cuisine != "any" and cuisine not in CUISINES:
            return fail(StageError.ACTION_FAILED, f"Sorry, I don't know {cuisine} food.")
        names = home.world.restaurants(home.location, cuisine)
        label = "" if cuisine == "any" else f"{cuisine} "
        return Outcome(
            True,
            None,
            (),
            f"restaurants:{home.location}:{cuisine}:" + "|".join(names),
            f"Some {label}places nearby: " + ", ".join(names) + ".",
        )
    # device_status
    dev_id = args.get("device")
    if not dev_id:
        return fail(StageError.ACTION_MISSING_SLOT, "Sorry, which device?")
    d = home.devices.get(dev_id)
    if d is None:
        return fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that device.")
    summary = ",".join(f"{k}={fmt_value(v)}" for k, v in sorted(d.state.items()))
    return Outcome(True, None, (), f"status:{d.entity_id}:{summary}", _describe(d), (d.entity_id,))


def _describe(d: Device) -> str:
    s = d.state
    if d.kind is Kind.LIGHT:
        return f"The {d.name} is " + (f"on at {s['brightness']} percent." if s["on"] else "off.")
    if d.kind in (Kind.GARAGE_DOOR, Kind.BLINDS):
        return f"The {d.name} {'are' if d.name.endswith('s') else 'is'} {'open' if s['open'] else 'closed'}."
    if d.kind is Kind.LOCK:
        return f"The {d.name} is {'locked' if s['locked'] else 'unlocked'}."
    if d.kind is Kind.THERMOSTAT:
        return f"The {d.name} is set to {s['target']} degrees; it's {s['current']} now."
    if d.kind is Kind.OVEN:
        return f"The oven is at {s['temperature']} degrees." if s["on"] else "The oven is off."
    if d.kind is Kind.SECURITY:
        return f"The {d.name} is {'armed' if s['armed'] else 'disarmed'}."
    if d.kind is Kind.COFFEE_MAKER:
        return f"The {d.name} is {'brewing' if s['brewing'] else 'idle'}."
    if s.get("playing"):
        return f"The {d.name} is {'paused' if s['paused'] else 'playing'}."
    return f"The {d.name} is {'on' if s.get('power', True) else 'off'} and not playing anything."
