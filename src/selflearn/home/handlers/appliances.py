"""Appliances with one field to set: oven, garage door, locks, blinds, TV power, coffee maker,
security system."""

from __future__ import annotations

from selflearn.contracts.actions import Outcome
from selflearn.home.devices import StateValue
from selflearn.home.handlers.common import int_arg
from selflearn.home.search import HomeSearch
from selflearn.home.targets import act, fail, names, write
from selflearn.logs.records import StageError

__all__ = ["OVEN_RANGE", "SIMPLE", "simple"]

OVEN_RANGE = (150, 550)
# intent -> (state field, value, what to say)
SIMPLE: dict[str, tuple[str, StateValue, str]] = {
    "oven_preheat": ("on", True, ""),
    "oven_off": ("on", False, "Turning off {what}."),
    "garage_open": ("open", True, "Opening {what}."),
    "garage_close": ("open", False, "Closing {what}."),
    "door_lock": ("locked", True, "Locking {what}."),
    "door_unlock": ("locked", False, "Unlocking {what}."),
    "blinds_open": ("open", True, "Opening {what}."),
    "blinds_close": ("open", False, "Closing {what}."),
    "tv_on": ("power", True, "Turning on {what}."),
    "tv_off": ("power", False, "Turning off {what}."),
    "coffee_start": ("brewing", True, "Starting {what}."),
    "security_disarm": ("armed", False, "Disarming {what}."),
}


def simple(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    """Single-field actions: oven off, garage, locks, blinds, TV power, coffee, security."""
    field_, value, say = SIMPLE[intent]
    if intent == "oven_preheat":
        n = int_arg(args, "temperature")
        lo, hi = OVEN_RANGE
        if n is None or not lo <= n <= hi:
            return fail(StageError.ACTION_FAILED, f"Sorry, the oven goes from {lo} to {hi} degrees.")
        return act(
            home,
            intent,
            args,
            lambda d, ch: write(d, ch, on=True, temperature=n),
            lambda ds: f"Preheating the oven to {n} degrees.",
        )
    return act(
        home,
        intent,
        args,
        lambda d, ch: write(d, ch, **{field_: value}),
        lambda ds: say.format(what=names(home, ds, args)),
    )
