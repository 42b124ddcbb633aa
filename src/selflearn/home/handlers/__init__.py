"""What each intent does to a home: one module per domain, and the intent -> handler table.

A handler is a plain function `(home, intent, args) -> Outcome`; `args` are the command's
non-empty arguments, with the intent's required slots present (`Home.apply` checks). Handlers
take the home as `HomeSearch` (its state and lookups), not as `Home`, so that `home.py` can
import this table without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable

from selflearn.contracts.actions import Outcome
from selflearn.home.handlers.appliances import SIMPLE, simple
from selflearn.home.handlers.climate import temperature_query, thermostat
from selflearn.home.handlers.clock import alarm, timer
from selflearn.home.handlers.lights import lights
from selflearn.home.handlers.lists import lists
from selflearn.home.handlers.media import media
from selflearn.home.handlers.queries import query
from selflearn.home.intents import BY_NAME, INTENT_KINDS
from selflearn.home.search import HomeSearch
from selflearn.home.targets import MEDIA_INTENTS

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[[HomeSearch, str, dict[str, str]], Outcome]

HANDLERS: dict[str, Handler] = {}
for _name in INTENT_KINDS:
    if _name.startswith("lights_"):
        HANDLERS[_name] = lights
for _name in ("thermostat_set", "thermostat_raise", "thermostat_lower"):
    HANDLERS[_name] = thermostat
for _name in SIMPLE:
    HANDLERS[_name] = simple
for _name in MEDIA_INTENTS:
    HANDLERS[_name] = media
for _name in ("alarm_set", "alarm_cancel"):
    HANDLERS[_name] = alarm
for _name in ("timer_set", "timer_cancel"):
    HANDLERS[_name] = timer
for _name in ("shopping_add", "shopping_remove", "shopping_query", "purchase", "reminder_create"):
    HANDLERS[_name] = lists
for _name in ("time_query", "weather_query", "sports_score", "restaurant_find", "device_status"):
    HANDLERS[_name] = query
HANDLERS["temperature_query"] = temperature_query

_missing = {i.name for i in BY_NAME.values()} - set(HANDLERS)
if _missing:  # every intent in the catalog must have a meaning
    raise AssertionError(f"intents without semantics: {sorted(_missing)}")
