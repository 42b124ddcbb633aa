"""Lights: on, off, dim, brighten, set brightness, set colour."""

from __future__ import annotations

from selflearn.contracts.actions import Change, Outcome
from selflearn.home.devices import COLORS, Device
from selflearn.home.handlers.common import int_arg
from selflearn.home.search import HomeSearch
from selflearn.home.targets import act, fail, names, write
from selflearn.logs.records import StageError

__all__ = ["BRIGHTNESS_STEP", "lights"]

BRIGHTNESS_STEP = 20


def lights(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    if intent == "lights_on":

        def fn(d: Device, ch: list[Change]) -> None:
            write(d, ch, on=True)
            if d.state["brightness"] == 0:
                write(d, ch, brightness=100)

        return act(home, intent, args, fn, lambda ds: f"OK, turning on {names(home, ds, args)}.")
    if intent == "lights_off":
        return act(
            home,
            intent,
            args,
            lambda d, ch: write(d, ch, on=False),
            lambda ds: f"OK, turning off {names(home, ds, args)}.",
        )
    if intent in ("lights_dim", "lights_brighten"):
        up = intent == "lights_brighten"

        def step(d: Device, ch: list[Change]) -> None:
            b = int(d.state["brightness"] or 0)
            if up:
                write(d, ch, brightness=min(100, b + BRIGHTNESS_STEP), on=True)
            else:
                nb = max(0, b - BRIGHTNESS_STEP)
                write(d, ch, brightness=nb)
                if nb == 0:
                    write(d, ch, on=False)

        verb = "Brightening" if up else "Dimming"
        return act(home, intent, args, step, lambda ds: f"{verb} {names(home, ds, args)}.")
    if intent == "lights_set_brightness":
        n = int_arg(args, "brightness")
        if n is None or not 0 <= n <= 100:
            return fail(StageError.ACTION_FAILED, "Sorry, brightness goes from 0 to 100 percent.")
        return act(
            home,
            intent,
            args,
            lambda d, ch: write(d, ch, brightness=n, on=n > 0),
            lambda ds: f"Setting {names(home, ds, args)} to {n} percent.",
        )
    color = args["color"]
    if color not in COLORS:
        return fail(StageError.ACTION_FAILED, f"Sorry, I can't make the lights {color}.")
    return act(
        home,
        intent,
        args,
        lambda d, ch: write(d, ch, color=color, on=True),
        lambda ds: f"Making {names(home, ds, args)} {color}.",
    )
