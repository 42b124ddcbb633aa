"""Context signals of one turn, read from what the log holds (never from the simulator).

A `TurnView` gathers what a context-aware interpretation may look at: the device the user spoke
to (type, screen, room), the local time, a snapshot of every home device's state, the NLU n-best,
what the context-free pipeline executed (or would have), and the user's previous request in the
same session (what it acted on, how long ago). The user's longer history (habits, listening
history) lives in `selflearn.context.history`.

The same view is built at run time (from the turn being processed) and at training time (from the
logged turn), which is what keeps the reranker's features identical in both places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from selflearn.contracts.domain import Domain
from selflearn.logs.records import DeviceState, NluHypothesis, Turn

__all__ = [
    "CONTEXT_ONLY_SLOTS",
    "Interpretation",
    "PrevTurn",
    "TurnView",
    "is_active",
    "targets_of_changes",
]

# Slots whose logged value "" marks a value filled from context, not said (resolve.CONTEXT_VALUE).
CONTEXT_ONLY_SLOTS = ("room",)


def is_active(ds: DeviceState) -> bool:
    """Whether a device is doing something a person could be talking about right now: a light
    or an oven that is on, a player that is playing, a coffee maker brewing, a door open..."""
    s = ds.state
    kind = ds.kind
    if kind in ("light", "oven"):
        return s.get("on") == "true"
    if kind == "tv":
        return s.get("power") == "true" or s.get("playing", "none") not in ("none", "")
    if kind == "speaker":
        return s.get("playing", "none") not in ("none", "") and s.get("paused") != "true"
    if kind == "coffee_maker":
        return s.get("brewing") == "true"
    if kind in ("garage_door", "blinds"):
        return s.get("open") == "true"
    if kind == "lock":
        return s.get("locked") == "false"
    if kind == "security":
        return s.get("armed") == "false"
    return False


def targets_of_changes(changes: list[str]) -> list[str]:
    """Entity ids an action wrote to, from `ActionStage.changes` ("light.k.on=true")."""
    out: list[str] = []
    for ch in changes:
        head = ch.split("=", 1)[0]
        eid = head.rsplit(".", 1)[0] if "." in head else head
        if eid and eid not in out:
            out.append(eid)
    return out


@dataclass(frozen=True)
class Interpretation:
    """An executable meaning: an intent with canonical arguments (entity ids, room ids, genre...).

    `ctx_room` is a room the context-free pipeline filled in from where the user was (logged with
    an empty surface value); it is kept apart from `args` because it was not part of the meaning
    the user expressed, but it still tells which room a meaning acted on.
    """

    intent: str
    args: tuple[tuple[str, str], ...] = ()
    ctx_room: str | None = None

    @staticmethod
    def make(intent: str, args: dict[str, str], ctx_room: str | None = None) -> Interpretation:
        return Interpretation(intent, tuple(sorted((k, v) for k, v in args.items() if v != "")), ctx_room)

    @property
    def arg_dict(self) -> dict[str, str]:
        return dict(self.args)

    @property
    def key(self) -> str:
        return "|".join([self.intent, *(f"{k}={v}" for k, v in self.args)])

    def room(self) -> str | None:
        return self.arg_dict.get("room") or self.ctx_room

    def same_meaning(self, other: Interpretation) -> bool:
        """Whether two interpretations mean the same thing, up to what context completes: equal
        intent and equal arguments (ignoring the room and a spoken media type), and the same room
        where both name one and neither names a device."""
        if self.intent != other.intent:
            return False
        a, b = self.arg_dict, other.arg_dict
        core_a = {k: v for k, v in a.items() if k not in ("room", "media_type")}
        core_b = {k: v for k, v in b.items() if k not in ("room", "media_type")}
        if core_a != core_b:
            return False
        if "device" in core_a:
            return True
        ra, rb = self.room(), other.room()
        return ra is None or rb is None or ra == rb


@dataclass(frozen=True)
class PrevTurn:
    """The user's previous request in the same session: what it meant and what it acted on."""

    intent: str | None
    targets: tuple[str, ...]
    seconds_ago: float


@dataclass
class TurnView:
    """Everything context-aware interpretation reads about one turn (see module docstring)."""

    turn_id: str
    user_id: str
    device_id: str
    device_type: str
    has_screen: bool
    room: str | None
    local_time: datetime
    states: dict[str, DeviceState]
    nbest: list[NluHypothesis]  # sorted by confidence, best first
    default: Interpretation | None  # what the context-free pipeline executed / would execute
    prev: PrevTurn | None = None
    entity_candidates: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # slot -> (id, alts)
    transcript: str = ""  # the top ASR hypothesis: what the user said, as the device heard it
    domain: Domain | None = None  # the deployment's intents and vocabularies (None: unknown)

    @property
    def hour(self) -> int:
        return self.local_time.hour

    @property
    def top_confidence(self) -> float:
        return self.nbest[0].confidence if self.nbest else 0.0

    def said_rooms(self) -> frozenset[str]:
        """Rooms of the home (ids, as the snapshot names them) the transcript says by name: a room
        the user said outranks any room context would suggest, even when the NLU dropped it."""
        words = f" {' '.join(self.transcript.split())} "
        rooms = {d.room for d in self.states.values() if d.room}
        said = {r for r in rooms if f" {r.replace('_', ' ').lower()} " in words}
        if self.room and (" in here " in words or words.endswith(" here ")):
            said.add(self.room)  # "more light in here": the room the device is in
        return frozenset(said)

    def active(self) -> list[DeviceState]:
        return [d for d in self.states.values() if is_active(d)]

    @staticmethod
    def from_turn(
        turn: Turn,
        *,
        prev: PrevTurn | None = None,
        executed: Interpretation | None = None,
        domain: Domain | None = None,
    ) -> TurnView:
        """The view of a turn. `executed` overrides the default interpretation read off the turn
        (at run time the action stage has not run yet, so the resolver's arguments are passed)."""
        nbest = sorted(turn.nlu.nbest, key=lambda h: -h.confidence)
        ctx = turn.context
        local = ctx.local_time or turn.timestamp
        ents = turn.resolution.entities
        ctx_room = next(
            (e.entity_id for e in ents if e.slot in CONTEXT_ONLY_SLOTS and e.value == "" and e.entity_id),
            None,
        )
        default = executed if executed is not None else logged_interpretation(turn)
        alts: dict[str, tuple[str, list[str]]] = {}
        for e in ents:
            if e.entity_id and e.value != "" and e.slot not in alts:
                alts[e.slot] = (e.entity_id, list(e.candidates))
        if default is not None and default.ctx_room is None and ctx_room is not None:
            default = Interpretation(default.intent, default.args, ctx_room)
        return TurnView(
            turn_id=turn.turn_id,
            user_id=turn.user_id,
            device_id=turn.device.device_id,
            device_type=str(turn.device.type),
            has_screen=bool(turn.device.has_screen),
            room=ctx.room,
            local_time=local,
            states={d.entity_id: d for d in ctx.device_states},
            nbest=nbest,
            default=default,
            prev=prev,
            entity_candidates=alts,
            transcript=turn.asr.text.lower(),
            domain=domain,
        )


def logged_interpretation(turn: Turn) -> Interpretation | None:
    """What a logged turn meant to the assistant: the executed command (action stage) if one ran,
    else the top NLU intent with the entities resolution found; None without an NLU hypothesis.
    A room the resolver filled from context is kept as `ctx_room`, not as an argument."""
    top = turn.nlu.top
    if top is None:
        return None
    ents = turn.resolution.entities
    ctx_room = next(
        (e.entity_id for e in ents if e.slot in CONTEXT_ONLY_SLOTS and e.value == "" and e.entity_id), None
    )
    if turn.action.name:
        args = dict(turn.action.arguments)
        intent = turn.action.name
    else:
        args = {}
        for e in ents:
            if e.entity_id and not e.entity_id.startswith("kind:") and e.slot not in args:
                args[e.slot] = e.entity_id
        intent = top.intent
    if ctx_room is not None and args.get("room") == ctx_room:
        args.pop("room")
    return Interpretation.make(intent, args, ctx_room)
