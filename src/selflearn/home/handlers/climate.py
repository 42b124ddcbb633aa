"""The thermostat (set, raise, lower) and temperature questions (a room's, or the oven's)."""

from __future__ import annotations

from selflearn.contracts.actions import Change, Outcome
from selflearn.home.devices import Device, Kind
from selflearn.home.handlers.common import int_arg
from selflearn.home.search import HomeSearch
from selflearn.home.targets import act, fail, select, write
from selflearn.logs.records import StageError

__all__ = ["THERMOSTAT_RANGE", "THERMOSTAT_STEP", "temperature_query", "thermostat"]

THERMOSTAT_STEP = 2
THERMOSTAT_RANGE = (45, 90)


def thermostat(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    lo, hi = THERMOSTAT_RANGE
    if intent == "thermostat_set":
        n = int_arg(args, "temperature")
        if n is None or not lo <= n <= hi:
            return fail(StageError.ACTION_FAILED, f"Sorry, I can set {lo} to {hi} degrees.")
        target = n
    else:
        target = 0  # computed per device below
    delta = {"thermostat_raise": THERMOSTAT_STEP, "thermostat_lower": -THERMOSTAT_STEP}.get(intent, 0)
    result: list[int] = []

    def fn(d: Device, ch: list[Change]) -> None:
        cur = int(d.state["target"] or 0)
        t = target if intent == "thermostat_set" else min(hi, max(lo, cur + delta))
        result.append(t)
        write(d, ch, target=t)

    return act(home, intent, args, fn, lambda ds: f"Setting the {ds[0].name} to {result[0]} degrees.")


def temperature_query(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    """How warm it is: the thermostat of a room (or the house), or a named device (the oven)."""
    sel = select(home, "temperature_query", args)
    if isinstance(sel, Outcome):
        return sel
    d = sel[0]
    if d.kind is Kind.OVEN:
        value = str(d.state["temperature"]) if d.state["on"] else "off"
        msg = f"The oven is at {value} degrees." if d.state["on"] else "The oven is off."
    else:
        value = str(d.state["current"])
        where = f" in the {home.room_name(args['room'])}" if args.get("room") else ""
        msg = f"It's {value} degrees{where}."
    return Outcome(True, None, (), f"temp:{d.entity_id}:{value}", msg, (d.entity_id,))
