"""The simulated home: rooms, devices with state, household lists, and the outside world it can
query. `Home.apply(Command)` gives every intent of `intents.INTENTS` its meaning.

How success is judged: the simulator applies the user's *gold* command to a copy of the home and
the assistant's command to another copy, and compares the two `Outcome`s with `same_effect` (ok,
state changes, answer key). So `apply` must be deterministic, and every write is recorded as a
change even when the value does not move: turning on the wrong lamp that was already on is still a
different effect from turning on the right one.

`Command.args` hold resolved canonical values: device -> entity id, room -> room id, numbers as
decimal strings, time "HH:MM", duration in seconds, date ISO, city -> place id, media_title ->
media id, artist -> artist id, other slots canonical lower-case strings.

The parts: `state` (what the home holds), `search` (lookups by name, the vocabulary), `targets`
(which devices an intent acts on), `handlers` (what each intent does); `Home` puts them together.
"""

from __future__ import annotations

from selflearn.contracts.actions import Command, Outcome
from selflearn.home.devices import Cap, Kind
from selflearn.home.handlers import HANDLERS
from selflearn.home.intents import BY_NAME, INTENT_KINDS
from selflearn.home.search import HomeSearch
from selflearn.home.targets import fail, select
from selflearn.logs.records import StageError
from selflearn.text.matching import norm_name

__all__ = ["Home"]


class Home(HomeSearch):
    """A household's home and world. Mutable; copy it (cheap) before trying a command.

    `now` is the local wall clock, set by the caller (naive or aware, used as-is).
    """

    # --------------------------------------------------------------------- what the home supports

    def supports(self, intent: str) -> bool:
        """Whether this home has what `intent` needs (a garage door for garage_open, ...).
        Queries about the world are always supported."""
        kinds = INTENT_KINDS.get(intent)
        if intent not in BY_NAME:
            return False
        if kinds is None:
            return True
        if intent == "lights_set_color":
            return bool(self.devices_of(Kind.LIGHT, cap=Cap.COLOR))
        return bool(self.devices_of(kinds))

    def complete_args(self, intent: str, args: dict[str, str], room: str | None) -> dict[str, str]:
        """Fill the context default: a device intent naming neither device nor room acts in `room`
        (where the user is) when the home has a matching device there. Both the resolver and the
        simulator's gold commands use this, so they agree on what "turn on the lights" means."""
        out = dict(args)
        spec = BY_NAME.get(intent)
        if (
            spec is None
            or room is None
            or room not in self.rooms
            or spec.slot("room") is None
            or out.get("room")
            or out.get("device")
        ):
            return out
        sel = select(self, intent, {**out, "room": room})
        if isinstance(sel, list) and any(d.room == room for d in sel):
            out["room"] = room
        return out

    # -------------------------------------------------------------------------------------- apply

    def apply(self, cmd: Command) -> Outcome:
        """Carry out a command: actions change state, queries read it. Never raises for bad input;
        bad or missing arguments give a failed Outcome with a StageError code."""
        spec = BY_NAME.get(cmd.intent)
        handler = HANDLERS.get(cmd.intent)
        if spec is None or handler is None:
            return fail(StageError.ACTION_UNSUPPORTED, "Sorry, I can't do that.")
        args = {k: v for k, v in cmd.args.items() if v != ""}
        for s in spec.slots:
            if s.required and s.name not in args:
                what = s.name.replace("_", " ")
                return fail(StageError.ACTION_MISSING_SLOT, f"Sorry, I need to know the {what}.")
        return handler(self, cmd.intent, args)


def artist_id(name: str) -> str:
    """Canonical artist value for a display name ("The Beatles" -> "beatles")."""
    return norm_name(name)
