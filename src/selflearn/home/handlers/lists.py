"""The household's lists: shopping (add, remove, read), purchases, reminders."""

from __future__ import annotations

from selflearn.contracts.actions import Outcome
from selflearn.home.handlers.common import clock_time, say_time
from selflearn.home.search import HomeSearch
from selflearn.home.targets import fail
from selflearn.logs.records import StageError
from selflearn.text.items import canonical_item

__all__ = ["lists"]


def lists(home: HomeSearch, intent: str, args: dict[str, str]) -> Outcome:
    if intent == "shopping_query":
        items = "|".join(home.shopping)
        msg = (
            ("Your shopping list has " + ", ".join(home.shopping) + ".")
            if home.shopping
            else ("Your shopping list is empty.")
        )
        return Outcome(True, None, (), f"shopping:{items}", msg)
    item = canonical_item(args["item"])
    if not item:
        return fail(StageError.ACTION_MISSING_SLOT, "Sorry, what should I add?")
    if intent == "shopping_add":
        if item not in home.shopping:
            home.shopping.append(item)
        msg = f"Added {item} to your shopping list."
        return Outcome(True, None, (("shopping", item, "added"),), None, msg)
    if intent == "shopping_remove":
        if item not in home.shopping:
            return fail(StageError.ACTION_FAILED, f"Sorry, {item} isn't on your shopping list.")
        home.shopping.remove(item)
        return Outcome(True, None, (("shopping", item, "removed"),), None, f"Removed {item}.")
    if intent == "purchase":
        home.orders.append(item)
        return Outcome(True, None, (("orders", item, "ordered"),), None, f"OK, I've ordered {item}.")
    # reminder_create
    t = args.get("time", "")
    if t and clock_time(t) is None:
        return fail(StageError.ACTION_FAILED, "Sorry, I didn't get the time.")
    home.reminders.append((item, t))
    when = f" at {say_time(t)}" if t else ""
    msg = f"I'll remind you to {item}{when}."
    return Outcome(True, None, (("reminders", item, t or "anytime"),), None, msg)
