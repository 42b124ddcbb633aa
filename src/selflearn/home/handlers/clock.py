"""Alarms and timers: the home's clock (`home.now`) decides what is still pending."""

from __future__ import annotations

from datetime import date, time, timedelta

from selflearn.contracts.actions import Outcome
from selflearn.home.handlers.common import clock_time, int_arg, say_time
from selflearn.home.search import HomeSearch
from selflearn.home.targets import fail
from selflearn.logs.records import StageError
from selflearn.text.numbers import render_date, render_duration

__all__ = ["alarm", "timer"]


def alarm(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    now_key = home.now.strftime("%Y-%m-%dT%H:%M")
    home.alarms = {a for a in home.alarms if a > now_key}  # rung alarms are gone
    if intent == "alarm_set":
        t = args["time"]
        try:
            at = time.fromisoformat(t)
            if "date" in args:
                day = date.fromisoformat(args["date"])
            else:
                later_today = at > home.now.time().replace(tzinfo=None)
                day = home.today if later_today else home.today + timedelta(days=1)
        except ValueError:
            return fail(StageError.ACTION_FAILED, "Sorry, I didn't get the time.")
        key = f"{day.isoformat()}T{at.strftime('%H:%M')}"
        if key <= now_key:
            return fail(StageError.ACTION_FAILED, "Sorry, that time has already passed.")
        home.alarms.add(key)
        when = render_date(day, home.today)
        return Outcome(
            True, None, (("alarms", key, "set"),), None, f"Alarm set for {say_time(key[-5:])} {when}."
        )
    t2 = args.get("time")
    if t2 is not None and clock_time(t2) is None:
        return fail(StageError.ACTION_FAILED, "Sorry, I didn't get the time.")
    hits = sorted(a for a in home.alarms if t2 is None or a.endswith("T" + t2))
    if not hits:
        return fail(
            StageError.ACTION_FAILED,
            "Sorry, you don't have an alarm" + (f" at {say_time(t2)}." if t2 else "."),
        )
    hits = hits if t2 else hits[:1]
    for a in hits:
        home.alarms.discard(a)
    changes = tuple(sorted(("alarms", a, "cancelled") for a in hits))
    return Outcome(True, None, changes, None, f"Cancelled your {say_time(hits[0][-5:])} alarm.")


def timer(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    home.timers = {k: v for k, v in home.timers.items() if v[1] > home.now}
    if intent == "timer_set":
        n = int_arg(args, "duration")
        if n is None or not 1 <= n <= 86400:
            return fail(StageError.ACTION_FAILED, "Sorry, timers can run from one second to one day.")
        home._timer_seq += 1
        tid = f"timer{home._timer_seq}"
        home.timers[tid] = (n, home.now + timedelta(seconds=n))
        msg = f"Timer set for {render_duration(n)}."
        return Outcome(True, None, (("timers", tid, str(n)),), None, msg)
    if not home.timers:
        return fail(StageError.ACTION_FAILED, "Sorry, there's no timer running.")
    tid = next(reversed(home.timers))
    del home.timers[tid]
    return Outcome(True, None, (("timers", tid, "cancelled"),), None, "Timer cancelled.")
