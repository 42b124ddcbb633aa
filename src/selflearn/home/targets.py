"""Which devices an intent acts on, and acting on them.

"Turn on the lights" in a room means every light there, "set the thermostat" the one thermostat
wherever the user is, "pause" whatever is playing: `select` turns a device intent's arguments into
its devices, or into a failed `Outcome` saying why there are none. `act` runs a per-device write
over the selection and records every write as a change, which is what the simulator compares
(see `home.py`). The completion of a context room (`Home.complete_args`) uses the same choice.
"""

from __future__ import annotations

from collections.abc import Callable

from selflearn.contracts.actions import Change, Outcome
from selflearn.home.catalog import MediaItem
from selflearn.home.devices import Cap, Device, Kind, StateValue, fmt_value
from selflearn.home.intents import INTENT_KINDS
from selflearn.home.search import HomeSearch
from selflearn.logs.records import StageError

__all__ = ["MEDIA_INTENTS", "act", "fail", "names", "select", "write"]

MEDIA_INTENTS = frozenset(
    {"volume_up", "volume_down", "volume_set", "media_pause", "media_resume", "play_music", "play_media"}
)
_PLAYERS = frozenset({Kind.SPEAKER, Kind.TV})
_KIND_WORDS: dict[Kind | None, str] = {
    Kind.LIGHT: "light", Kind.THERMOSTAT: "thermostat", Kind.OVEN: "oven", Kind.GARAGE_DOOR: "garage door",
    Kind.LOCK: "lock", Kind.BLINDS: "blinds", Kind.SPEAKER: "speaker", Kind.TV: "TV",
    Kind.COFFEE_MAKER: "coffee maker", Kind.SECURITY: "security system",
}  # fmt: skip
_PLURAL_WORDS: dict[Kind, str] = {Kind.LIGHT: "lights", Kind.LOCK: "doors", Kind.BLINDS: "blinds"}


def fail(code: StageError, message: str) -> Outcome:
    return Outcome(ok=False, error=str(code), message=message)


# ---------------------------------------------------------------------------------- target choosing


def select(home: HomeSearch, intent: str, args: dict[str, str]) -> list[Device] | Outcome:
    """The devices a device intent acts on, or a failed Outcome saying why there are none."""
    kinds = INTENT_KINDS.get(intent)
    if kinds is None:
        return []
    if intent == "temperature_query" and not args.get("device"):
        kinds = frozenset({Kind.THERMOSTAT})  # "how warm is it in the bedroom" reads the thermostat
    if intent in MEDIA_INTENTS:
        return _select_player(home, intent, args)
    cap = Cap.COLOR if intent == "lights_set_color" else None
    multi = intent.startswith("lights_") or intent.startswith("blinds_")
    dev_id = args.get("device")
    if dev_id:
        d = home.devices.get(dev_id)
        if d is None:
            return fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that device.")
        if d.kind not in kinds or (cap and not d.has(cap)):
            return fail(StageError.ACTION_UNSUPPORTED, f"Sorry, the {d.name} can't do that.")
        return [d]
    pool = home.devices_of(kinds, cap=cap)
    what = _KIND_WORDS.get(next(iter(kinds)) if len(kinds) == 1 else None, "device")
    room = args.get("room")
    if room:
        if room not in home.rooms:
            return fail(StageError.ACTION_FAILED, "Sorry, I don't know that room.")
        here = [d for d in pool if d.room == room]
        if here:
            return here if multi else here[:1]
        # one thermostat heats the whole house, one oven cooks for every room
        if not multi and len(pool) == 1 and intent != "tv_on" and intent != "tv_off":
            return pool
        where = home.room_name(room)
        return fail(StageError.ACTION_UNSUPPORTED, f"Sorry, there's no {what} in the {where}.")
    if not pool:
        return fail(StageError.ACTION_UNSUPPORTED, f"Sorry, there's no {what} here.")
    if len(pool) == 1 or intent == "door_lock":  # "lock the doors" locks them all
        return pool
    return fail(StageError.ACTION_MISSING_SLOT, f"Sorry, which {what} do you mean?")


def _select_player(home: HomeSearch, intent: str, args: dict[str, str]) -> list[Device] | Outcome:
    """`select` for the media intents: the speaker or TV to play on, pause or turn up."""
    item: MediaItem | None = None
    cap = Cap.MEDIA
    if intent == "play_media":
        item = home.catalog.get(args.get("media_title", ""))
        if item is not None and item.needs_screen:
            cap = Cap.SCREEN
    dev_id = args.get("device")
    if dev_id:
        d = home.devices.get(dev_id)
        if d is None:
            return fail(StageError.ACTION_FAILED, "Sorry, I couldn't find that device.")
        if not d.has(cap):
            return fail(StageError.ACTION_UNSUPPORTED, f"Sorry, the {d.name} can't play that.")
        return [d]
    pool = home.devices_of(_PLAYERS, cap=cap)
    if intent == "media_pause":
        pool = [d for d in pool if d.state["playing"] is not None and not d.state["paused"]]
    elif intent == "media_resume":
        pool = [d for d in pool if d.state["playing"] is not None and d.state["paused"]]
    room = args.get("room")
    if room:
        if room not in home.rooms:
            return fail(StageError.ACTION_FAILED, "Sorry, I don't know that room.")
        pool = [d for d in pool if d.room == room]
    if not pool:
        if intent in ("media_pause", "media_resume"):
            return fail(StageError.ACTION_FAILED, "Sorry, nothing is playing.")
        where = f" in the {home.room_name(room)}" if room else ""
        return fail(StageError.ACTION_UNSUPPORTED, f"Sorry, there's nothing to play that on{where}.")

    def rank(d: Device) -> tuple[int, int]:
        active = d.state["playing"] is not None and not d.state["paused"]
        return (0 if active else 1, 0 if d.kind is Kind.SPEAKER else 1)

    if intent in ("media_pause", "media_resume") and not room:
        return pool  # pause everything that plays
    if room:
        return [min(pool, key=rank)]
    if len(pool) == 1:
        return pool
    if intent in ("volume_up", "volume_down", "volume_set"):
        active = [d for d in pool if d.state["playing"] is not None and not d.state["paused"]]
        if len(active) == 1:
            return active
    return fail(StageError.ACTION_MISSING_SLOT, "Sorry, on which device?")


# ------------------------------------------------------------------------------------------ acting


def write(d: Device, changes: list[Change], **values: StateValue) -> None:
    """Set state fields of a device, recording each write as a change (even when it does not move)."""
    for k, v in values.items():
        d.state[k] = v
        changes.append((d.entity_id, k, fmt_value(v)))


def act(
    home: HomeSearch,
    intent: str,
    args: dict[str, str],
    fn: Callable[[Device, list[Change]], None],
    say: Callable[[list[Device]], str],
) -> Outcome:
    """Select the intent's devices, run `fn` on each, and say what was done (`say`)."""
    sel = select(home, intent, args)
    if isinstance(sel, Outcome):
        return sel
    changes: list[Change] = []
    for d in sel:
        fn(d, changes)
    return Outcome(True, None, tuple(sorted(changes)), None, say(sel), tuple(d.entity_id for d in sel))


def names(home: HomeSearch, devs: list[Device], args: dict[str, str]) -> str:
    """How a reply names the devices acted on: "the kitchen light", "the lights in the kitchen"."""
    if len(devs) == 1:
        return f"the {devs[0].name}"
    room = args.get("room")
    what = _PLURAL_WORDS.get(devs[0].kind, "devices") if devs else "devices"
    return f"the {what} in the {home.room_name(room)}" if room else f"the {what}"
