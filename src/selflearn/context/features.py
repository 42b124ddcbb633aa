"""Candidate interpretations of a turn and the features that tell them apart in context.

Candidates come from what the turn already holds: the interpretation the context-free pipeline
chose, the other intents of the NLU n-best, the runner-up entities resolution logged (the other
"Hunger Games", the other "Wilkerson"), and fills of an unsaid device, room or genre taken from
context: devices of the intent's kinds that are active or were just used, rooms where such
devices are on, the genres this user listens to, the intents this user habitually has at this
hour. Every candidate is built from the log's contents alone, so training (from logged turns) and
serving (from the turn being processed) see the same candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from selflearn.context.history import HistoryStore, UserHistory, media_type_of
from selflearn.context.signals import Interpretation, TurnView, is_active
from selflearn.contracts.domain import Domain, Effect, SlotType
from selflearn.lexicon.lexicon import lexicon_for
from selflearn.logs.records import DeviceState

__all__ = [
    "FEATURE_NAMES",
    "SOURCES",
    "Candidate",
    "equivalent",
    "featurize",
    "generate_candidates",
    "respects_words",
]

SOURCES = ("default", "nlu", "entity", "device", "room", "genre", "habit", "prev")
_SWAP_TYPES = frozenset(
    {SlotType.MEDIA_TITLE, SlotType.CITY, SlotType.TEAM, SlotType.ARTIST, SlotType.GENRE, SlotType.DEVICE}
)
_SCREEN_MEDIA = frozenset({"movie", "tv", "show", "series"})
_MAX_FILLS = 6
_ALL_WORDS = frozenset({"all", "every", "everything", "everywhere", "both"})
_TITLE_MATCH = 0.85


@dataclass(frozen=True)
class Candidate:
    """One interpretation to score, with where it came from."""

    interp: Interpretation
    source: str
    nlu_rank: int  # rank of the NLU hypothesis with this intent (len(nbest) if none)
    nlu_conf: float  # its confidence (0 if the NLU did not propose the intent)


def _nlu_pos(view: TurnView, intent: str) -> tuple[int, float]:
    for i, h in enumerate(view.nbest):
        if h.intent == intent:
            return i, h.confidence
    return len(view.nbest), 0.0


def _kinds(intent: str, domain: Domain | None) -> frozenset[str]:
    return (domain.device_types_of(intent) if domain is not None else None) or frozenset()


def _switch(intent: str, domain: Domain | None) -> bool | None:
    """True when `intent` leaves its target active, False inactive, None when it does neither."""
    spec = domain.intent(intent) if domain is not None else None
    if spec is None or spec.effect not in (Effect.ON, Effect.OFF):
        return None
    return spec.effect is Effect.ON


def _effect(intent: str, domain: Domain | None) -> Effect | None:
    spec = domain.intent(intent) if domain is not None else None
    return spec.effect if spec is not None else None


def _needs_playing(intent: str, domain: Domain | None) -> bool:
    spec = domain.intent(intent) if domain is not None else None
    return spec is not None and spec.needs_playing


def _reads_without_device(intent: str, domain: Domain | None) -> frozenset[str]:
    spec = domain.intent(intent) if domain is not None else None
    return spec.reads_without_device if spec is not None else frozenset()


def _has_slot(intent: str, slot: str, domain: Domain | None) -> bool:
    spec = domain.intent(intent) if domain is not None else None
    return spec is not None and spec.slot(slot) is not None


def generate_candidates(view: TurnView, history: HistoryStore | None = None) -> list[Candidate]:
    """Candidates of `view`, the context-free default first (absent if the turn has none)."""
    user = history.get(view.user_id) if history is not None else UserHistory()
    domain = view.domain
    known_intents = domain.by_name if domain is not None else {}
    out: list[Candidate] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()

    def add(interp: Interpretation, source: str) -> None:
        key = (interp.intent, interp.args)
        if key in seen or interp.intent not in known_intents:
            return
        seen.add(key)
        rank, conf = _nlu_pos(view, interp.intent)
        out.append(Candidate(interp, source, rank, conf))

    bases: list[Interpretation] = []
    if view.default is not None:
        add(view.default, "default")
        bases.append(view.default)
        # runner-up entities resolution logged for a slot
        args = view.default.arg_dict
        spec = known_intents.get(view.default.intent)
        for slot, (chosen, alts) in view.entity_candidates.items():
            ss = spec.slot(slot) if spec is not None else None
            if ss is None or ss.type not in _SWAP_TYPES or args.get(slot) != chosen:
                continue
            # the resolver's first runner-ups, plus any later one this user has settled on before
            # (the family's Springfield may be the resolver's fifth)
            known = set(user.top_values(view.default.intent, slot, k=8))
            for alt in [a for i, a in enumerate(alts) if i < 3 or a in known]:
                new = {k: v for k, v in args.items() if not (slot == "media_title" and k == "media_type")}
                new[slot] = alt
                add(Interpretation.make(view.default.intent, new), "entity")
    # other intents the NLU proposed without slots ("turn it off": lights_off, tv_off, ...), and
    # titles it heard under another intent ("play gone girl" read as music), looked up in the
    # media catalog (world knowledge, the same at training and at serving time)
    for h in view.nbest[1:]:
        if not h.slots:
            interp = Interpretation.make(h.intent, {})
            add(interp, "nlu")
            bases.append(interp)
        elif domain is not None and h.intent == domain.title_intent and h.slot("media_title"):
            for m in lexicon_for(domain).catalog.find(h.slot("media_title") or "", None, 4):
                if m.score >= _TITLE_MATCH:
                    add(Interpretation.make(domain.title_intent, {"media_title": m.key}), "nlu")
    # the verb of the request applied to what the previous request acted on ("turn on the tv",
    # then "turn it off": lights_off heard, tv_off meant)
    if view.prev is not None:
        prev_devs = [view.states[t] for t in view.prev.targets if t in view.states]
        switches = [
            (spec.name, spec.effect is Effect.ON)
            for spec in (domain.intents if domain is not None else ())
            if spec.effect in (Effect.ON, Effect.OFF)
        ]
        for h in view.nbest[:3]:
            polarity = _switch(h.intent, domain)
            if polarity is None:
                continue
            for d in prev_devs:
                for intent, to_active in switches:
                    if d.kind not in _kinds(intent, domain) or to_active != polarity:
                        continue
                    if _has_slot(intent, "device", domain):
                        add(Interpretation.make(intent, {"device": d.entity_id}), "prev")
                    elif _has_slot(intent, "room", domain) and d.room:
                        add(Interpretation.make(intent, {"room": d.room}), "prev")
                    else:
                        add(Interpretation.make(intent, {}), "prev")
    # intents this user habitually has at this hour ("start brewing" after the alarm)
    # (the most hour-specific first: an intent had at every hour says little about this one)
    proposed = {c.interp.intent for c in out}
    habits = [
        i
        for i in user.habits(view.hour)
        if i not in proposed and i in known_intents and not any(s.required for s in known_intents[i].slots)
    ]
    habits.sort(key=lambda i: -user.intent_hour_share(i, view.hour) / max(user.intent_share(i), 1e-9))
    for intent in habits[:2]:
        interp = Interpretation.make(intent, {})
        add(interp, "habit")
        bases.append(interp)
    # context fills of unsaid slots
    prev_targets = set(view.prev.targets) if view.prev is not None else set()
    for base in bases:
        args = base.arg_dict
        kinds = _kinds(base.intent, domain)
        if not kinds:
            continue
        if _has_slot(base.intent, "device", domain) and "device" not in args and "room" not in args:
            pool = [d for d in view.states.values() if d.kind in kinds]
            picks = [d for d in pool if d.entity_id in prev_targets or is_active(d)]
            if len(pool) <= 4:
                picks = pool
            for d in picks[:_MAX_FILLS]:
                add(Interpretation.make(base.intent, {**args, "device": d.entity_id}), "device")
        if (
            kinds <= (domain.room_device_types if domain is not None else frozenset())
            and _has_slot(base.intent, "room", domain)
            and not {"device", "room"} & set(args)
        ):
            rooms: list[str] = []
            for d in view.states.values():
                hit = d.kind in kinds and (is_active(d) or d.entity_id in prev_targets)
                if hit and d.room and d.room not in rooms:
                    rooms.append(d.room)
            for r in rooms[:_MAX_FILLS]:
                add(Interpretation.make(base.intent, {**args, "room": r}), "room")
        if _has_slot(base.intent, "genre", domain) and not ({"genre", "artist"} & set(args)):
            for g in user.top_values(base.intent, "genre", k=3):
                add(Interpretation.make(base.intent, {**args, "genre": g}), "genre")
    if view.default is not None and out:
        # alternatives that would do exactly what the default does add nothing to choose from
        keep = [out[0]] + [c for c in out[1:] if not equivalent(c.interp, view.default, view)]
        out = [out[0]] + [c for c in keep[1:] if respects_words(c, view)]
    return out


def _spoken(view: TurnView) -> dict[str, str]:
    """Slots of the default the top NLU hypothesis tagged with words (not filled from context)."""
    if view.default is None or not view.nbest:
        return {}
    args = view.default.arg_dict
    top = view.nbest[0]
    if top.intent != view.default.intent:
        return {}
    return {s.name: args[s.name] for s in top.slots if s.value and s.name in args}


def _target_rooms(interp: Interpretation, view: TurnView) -> set[str]:
    rooms = {view.states[t].room or "" for t in _targets(interp, view) if t in view.states}
    room = interp.arg_dict.get("room")
    return (rooms | {room}) - {""} if room else rooms - {""}


def respects_words(cand: Candidate, view: TurnView) -> bool:
    """Whether an alternative keeps what the user explicitly said: context may fill what was left
    unsaid and pick among the resolver's readings of the same words (source "entity"), but never
    replaces a slot value the NLU tagged, drops a spoken room or device, acts in another room
    than the one the transcript names (an NLU that dropped "bedroom" is no licence to pick the
    lit kitchen), or narrows "all the ..." down to one device."""
    if cand.source == "entity":
        return True
    args = cand.interp.arg_dict
    for slot, value in _spoken(view).items():
        if slot in args and args[slot] != value:
            return False
        if slot not in args and slot in ("room", "device"):
            return False
    said = view.said_rooms()
    if said:
        rooms = _target_rooms(cand.interp, view)
        if rooms and not rooms & said:
            return False
    if view.default is not None and _ALL_WORDS & set(view.transcript.split()):
        # "lock all the doors": a single device out of the default's several is not what was said
        if "device" in cand.interp.arg_dict and "device" not in view.default.arg_dict:
            return False
        mine, default = set(_targets(cand.interp, view)), set(_targets(view.default, view))
        if mine and mine < default:
            return False
    return True


def _playing(d: DeviceState) -> bool:
    return (
        d.kind in ("tv", "speaker")
        and d.state.get("playing", "none") not in ("none", "")
        and (d.state.get("paused") != "true")
    )


def _targets(interp: Interpretation, view: TurnView) -> list[str]:
    """The devices an interpretation would act on, as far as the snapshot tells: the named device,
    else devices of its kinds in the named (or context) room, else all devices of its kinds."""
    args = interp.arg_dict
    if "device" in args:
        return [args["device"]] if args["device"] in view.states else []
    kinds = _reads_without_device(interp.intent, view.domain) or _kinds(interp.intent, view.domain)
    pool = [d for d in view.states.values() if d.kind in kinds]
    room = args.get("room") or interp.ctx_room or view.room
    here = [d for d in pool if d.room == room]
    return [d.entity_id for d in (here or pool)]


def equivalent(a: Interpretation, b: Interpretation, view: TurnView) -> bool:
    """Whether two interpretations would do the same thing here: same intent, same arguments
    apart from device and room, and the same target devices in the snapshot ("volume up" in the
    kitchen and "volume up on the kitchen speaker")."""
    if a.intent != b.intent:
        return False
    drop = ("device", "room", "media_type")
    if {k: v for k, v in a.args if k not in drop} != {k: v for k, v in b.args if k not in drop}:
        return False
    return sorted(_targets(a, view)) == sorted(_targets(b, view))


FEATURE_NAMES: tuple[str, ...] = (
    "nlu_conf",
    "nlu_rank",
    "nlu_top_conf",
    "nlu_gap",
    "in_nbest",
    *(f"src_{s}" for s in SOURCES),
    "n_args",
    "n_candidates",
    "has_device_arg",
    "has_room_arg",
    "target_active",
    "target_all_active",
    "target_in_user_room",
    "target_is_prev",
    "target_equals_prev",
    "prev_kind_fits",
    "prev_same_intent",
    "prev_seconds_log",
    "n_active_kinds",
    "n_active_kinds_here",
    "n_active_rooms",
    "would_change",
    "needs_playing_ok",
    "target_playing",
    "n_playing",
    "default_would_change",
    "default_target_active",
    "has_screen",
    "media_needs_screen",
    "screen_match",
    "hour_sin",
    "hour_cos",
    "hist_n_log",
    "hist_intent_share",
    "hist_intent_hour_share",
    "hist_value_share",
    "hist_interp_share",
    "hist_media_share",
    "hist_has_values",
    "hist_value_lift",
    "hist_interp_lift",
    "said_room_match",
    "said_room_other",
    "n_targets_log",
    "narrows_default",
)


def featurize(cands: list[Candidate], view: TurnView, history: HistoryStore | None = None) -> np.ndarray:
    """One row of `FEATURE_NAMES` per candidate."""
    user = history.get(view.user_id) if history is not None else UserHistory()
    rows: list[list[float]] = []
    prev = view.prev
    prev_kinds = {view.states[t].kind for t in prev.targets if t in view.states} if prev else set()
    active_ids = {d.entity_id for d in view.active()}
    playing_ids = {d.entity_id for d in view.states.values() if _playing(d)}
    d_change, d_active = 0.0, 0.0
    d_targets: set[str] = set()
    d_value = user.value_share(cands[0].interp, view.domain) if cands else 0.0
    d_interp = user.interp_share(cands[0].interp) if cands else 0.0
    said = view.said_rooms()
    angle = 2.0 * math.pi * (view.hour + view.local_time.minute / 60.0) / 24.0
    for c in cands:
        it = c.interp
        args = it.arg_dict
        kinds = _kinds(it.intent, view.domain)
        targets = _targets(it, view)
        n_active_kinds = sum(1 for d in view.states.values() if d.kind in kinds and d.entity_id in active_ids)
        n_active_here = sum(
            1
            for d in view.states.values()
            if d.kind in kinds and d.entity_id in active_ids and d.room == view.room
        )
        t_active = [t in active_ids for t in targets]
        active_rooms = {d.room for d in view.states.values() if d.kind in kinds and d.entity_id in active_ids}
        would_change = 0.0
        to_active = _switch(it.intent, view.domain)
        if to_active is not None and targets:
            would_change = float(any(a != to_active for a in t_active))
        elif _effect(it.intent, view.domain) is Effect.RESUME:
            would_change = float(
                any(
                    view.states[t].state.get("paused") == "true"
                    for t in targets
                    if t in view.states and view.states[t].kind in kinds
                )
            )
        needs_playing_ok = 1.0
        if _needs_playing(it.intent, view.domain):
            needs_playing_ok = float(any(t in playing_ids for t in targets))
        if not rows:  # row 0 is the default: its fit to the context is context for every row
            d_change, d_active = would_change, float(any(t_active))
            d_targets = set(targets)
        title = args.get("media_title", "")
        mtype = media_type_of(title) if title else ""
        needs_screen = mtype in _SCREEN_MEDIA
        vs = user.value_share(it, view.domain)
        t_rooms = _target_rooms(it, view)
        rows.append(
            [
                c.nlu_conf,
                float(c.nlu_rank),
                view.top_confidence,
                view.top_confidence - c.nlu_conf,
                float(c.nlu_rank < len(view.nbest)),
                *(float(c.source == s) for s in SOURCES),
                float(len(it.args)),
                float(len(cands)),
                float("device" in args),
                float("room" in args),
                float(any(t_active)),
                float(bool(t_active) and all(t_active)),
                float(any(view.states[t].room == view.room for t in targets if t in view.states)),
                float(bool(prev) and any(t in prev.targets for t in targets) if prev else 0.0),
                float(prev is not None and bool(targets) and set(targets) == set(prev.targets)),
                float(bool(prev_kinds & kinds)),
                float(prev is not None and prev.intent == it.intent),
                math.log1p(prev.seconds_ago) if prev is not None else -1.0,
                float(n_active_kinds),
                float(n_active_here),
                float(len(active_rooms)),
                would_change,
                needs_playing_ok,
                float(any(t in playing_ids for t in targets)),
                float(len(playing_ids)),
                d_change,
                d_active,
                float(view.has_screen),
                float(needs_screen) if title else -1.0,
                float(view.has_screen == needs_screen) if title else -1.0,
                math.sin(angle),
                math.cos(angle),
                math.log1p(user.n),
                user.intent_share(it.intent),
                user.intent_hour_share(it.intent, view.hour),
                vs,
                user.interp_share(it),
                user.media_share(view.device_type, mtype) if title else -1.0,
                float(user.intents[it.intent] > 0),
                vs - d_value,
                user.interp_share(it) - d_interp,
                float(bool(t_rooms & said)) if said else -1.0,
                float(bool(t_rooms - said)) if said else -1.0,
                math.log1p(len(targets)),
                float(len(d_targets) > 1 and bool(targets) and set(targets) < d_targets),
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(cands), len(FEATURE_NAMES))
