"""Entity resolution: turn the NLU's surface slot values into the canonical values the home
executes ("the kitchen lamp" -> light.kitchen, "seventy two" -> "72", "wilkerson" -> a place id).

Reads `state.turn.nlu.top` and `state.home`; writes `state.turn.resolution` (one ResolvedEntity
per slot, with score and runner-up candidates) and `state.resolved_args`. Names are
matched exactly (names and aliases), then fuzzily (rapidfuzz) and by sound (metaphone); numbers,
times, durations and dates are parsed by `selflearn.text.numbers`. A device intent that names no
device or room acts in the room the user is in, when the home has such a device there.

Logged `ResolvedEntity.entity_id` is the canonical value of every slot type (an entity id, a room
id, "72", "07:30", a place id...), None when unresolved, the room id when a kind word became a room
target ("the lights" -> every light in the living room), and "kind:<kind>" when a kind word was
left to the executor ("lock the doors"). A room filled from context is logged with value "".

An ambiguous name ("wilkerson", "harry potter") resolves to its default reading (same state as the
household, most popular title) with the other readings listed as candidates: the pick can be wrong
for a user, and that is what the self-learning loop is for. Only a device name that stays tied
after using the room raises `er-ambiguous`; a name nothing matches raises `er-unresolved`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from selflearn.assistant.component import StageFailure, TurnState, register
from selflearn.assistant.home_api import HomeApi
from selflearn.assistant.state import PersonalPreferences, Unresolved
from selflearn.contracts.domain import Domain, SlotType
from selflearn.lexicon.lexicon import Lexicon, lexicon_for
from selflearn.logs.records import NluHypothesis, ResolutionStage, ResolvedEntity, StageError
from selflearn.text.items import canonical_item
from selflearn.text.matching import Match, norm_name
from selflearn.text.numbers import parse_date, parse_duration, parse_number, parse_time

__all__ = ["EntityResolver", "PersonalPreferences", "SlotResolution"]

# Slots resolved first: the room narrows device names, the media type narrows titles.
_ORDER = {SlotType.ROOM: 0, SlotType.MEDIA_TYPE: 0}
_MULTI_PREFIXES = ("lights_", "blinds_")
_DEVICE_LEADING = ("all the ", "all of the ", "all ", "both ", "every ")
CONTEXT_VALUE = ""  # ResolvedEntity.value of a slot filled from context, not said by the user


@dataclass
class SlotResolution:
    """How one slot resolved: `value` canonical (None: unresolved), plus what to log."""

    value: str | None
    score: float = 0.0
    candidates: list[str] = field(default_factory=list)
    error: StageError | None = None  # set when value is None
    args: dict[str, str] = field(default_factory=dict)  # args to set instead of the slot itself
    logged: str | None = None  # what the log shows as entity_id when `value` is None


def _unresolved(
    candidates: list[str] | None = None, code: StageError = StageError.ER_UNRESOLVED
) -> SlotResolution:
    return SlotResolution(None, 0.0, candidates or [], code)


@register("resolution.home.v1")
class EntityResolver:
    """Resolves the NLU top hypothesis's slots against the home (see module docstring).

    threshold: lowest match score accepted for names (0..1); tie_margin: device-name scores this
    close to the best count as tied (the user's room decides; if it cannot, `er-ambiguous`).
    Other lookups order equal scores by their own preference (region, popularity). The intents'
    slot types and the vocabularies come from the home's domain; `domain` serves turns that come
    without a home (then only what needs no household resolves).
    """

    name = "resolution"
    assigns = ("resolved_args", "unresolved")

    def __init__(
        self, threshold: float = 0.8, tie_margin: float = 0.02, domain: Domain | None = None
    ) -> None:
        self.threshold = threshold
        self.tie_margin = tie_margin
        self.domain = domain

    def _domain(self, home: HomeApi | None) -> Domain | None:
        return home.domain if home is not None else self.domain

    # ------------------------------------------------------------------------------- component

    def __call__(self, state: TurnState) -> TurnState:
        hyp = state.turn.nlu.top
        if hyp is None:
            return state
        home = state.home
        ctx_room = self.context_room(state)
        today = self._today(state)
        prefs = state.preferences
        if ctx_room is None and prefs is not None:
            ctx_room = prefs.default(hyp.intent, "room", SlotType.ROOM, {})
        args, entities, failure = self.resolve(hyp, home, ctx_room, today, prefs=prefs)
        if home is not None and failure is None:
            completed = home.complete_args(hyp.intent, args, ctx_room)
            if completed.get("room") and not args.get("room"):
                entities.append(
                    ResolvedEntity(slot="room", value=CONTEXT_VALUE, entity_id=completed["room"], score=1.0)
                )
            args = completed
        state.turn.resolution = ResolutionStage(entities=entities)
        state.resolved_args = args
        if failure is not None:
            slot, stype, value, code = failure
            state.unresolved = Unresolved(slot, str(stype), value)
            raise StageFailure(code, f"could not resolve {slot}={value!r}")
        return state

    def resolve(
        self,
        hyp: NluHypothesis,
        home: HomeApi | None,
        ctx_room: str | None,
        today: date,
        prefs: PersonalPreferences | None = None,
    ) -> tuple[dict[str, str], list[ResolvedEntity], tuple[str, SlotType, str, StageError] | None]:
        """Resolve every slot of `hyp`: (args, log entities, first failure or None). With `prefs`,
        the user's own names win over the household's, and unsaid slots get the user's defaults."""
        domain = self._domain(home)
        spec = domain.intent(hyp.intent) if domain is not None else None
        typed: list[tuple[str, SlotType, str]] = []
        seen: set[str] = set()
        for s in hyp.slots:
            if s.name in seen:
                continue
            seen.add(s.name)
            ss = spec.slot(s.name) if spec else None
            if ss is not None:
                typed.append((s.name, ss.type, s.value))
        typed = self._join_room_into_device(typed, home)
        typed.sort(key=lambda t: _ORDER.get(t[1], 1))
        args: dict[str, str] = {}
        entities: list[ResolvedEntity] = []
        failure: tuple[str, SlotType, str, StageError] | None = None
        for slot, stype, value in typed:
            personal = prefs.lookup(stype, value) if prefs is not None else None
            if personal is not None and (
                stype is not SlotType.DEVICE or (home is not None and personal in home.devices)
            ):
                res = SlotResolution(personal, 1.0)
            else:
                res = self.resolve_slot(
                    stype, value, intent=hyp.intent, home=home, args=args, ctx_room=ctx_room, today=today
                )
            entities.append(
                ResolvedEntity(
                    slot=slot,
                    value=value,
                    entity_id=res.value if res.value is not None else res.logged,
                    score=round(min(1.0, max(0.0, res.score)), 4),
                    candidates=res.candidates,
                )
            )
            if res.value is not None:
                args[slot] = res.value
            elif res.args:
                args.update(res.args)
            elif res.error is not None and failure is None:
                failure = (slot, stype, value, res.error)
        if prefs is not None and spec is not None and failure is None:
            said = {s.name for s in hyp.slots} | set(args)
            for ss in spec.slots:
                if ss.name in said or ss.type is SlotType.ROOM:
                    continue
                filled = prefs.default(hyp.intent, ss.name, ss.type, args)
                if filled is not None:
                    args[ss.name] = filled
                    entities.append(
                        ResolvedEntity(slot=ss.name, value=CONTEXT_VALUE, entity_id=filled, score=1.0)
                    )
        return args, entities, failure

    # ---------------------------------------------------------------------------------- context

    @staticmethod
    def context_room(state: TurnState) -> str | None:
        """The room the user is in: the turn's context room (id or name), else the room of the
        home device the user spoke to."""
        home = state.home
        room = state.turn.context.room
        if home is None:
            return room
        if room:
            if room in home.rooms:
                return room
            ms = home.find_rooms(room, limit=1)
            if ms and ms[0].score >= 0.9:
                return ms[0].key
        dev = home.devices.get(state.turn.device.device_id)
        return dev.room if dev is not None else None

    @staticmethod
    def _today(state: TurnState) -> date:
        if state.home is not None:
            return state.home.today
        lt = state.turn.context.local_time
        return (lt or state.turn.timestamp).date()

    # ------------------------------------------------------------------------------ per slot type

    @staticmethod
    def _join_room_into_device(
        typed: list[tuple[str, SlotType, str]], home: HomeApi | None
    ) -> list[tuple[str, SlotType, str]]:
        """Saying "turn off the kitchen lamp", the tagger may split a device's name into a room and a
        kind word. When room + device together are exactly one device's name, that device is
        meant, not every lamp in the room."""
        names = {slot for slot, _t, _v in typed}
        if home is None or not {"room", "device"} <= names:
            return typed
        room = next(v for slot, _t, v in typed if slot == "room")
        device = next(v for slot, _t, v in typed if slot == "device")
        joined = norm_name(f"{room} {device}")
        if len(home.exact_devices(joined)) != 1:
            return typed
        return [(slot, t, joined if slot == "device" else v) for slot, t, v in typed if slot != "room"]

    def resolve_slot(
        self,
        stype: SlotType,
        value: str,
        *,
        intent: str,
        home: HomeApi | None,
        args: dict[str, str],
        ctx_room: str | None,
        today: date,
    ) -> SlotResolution:
        """Resolve one surface value of a slot type to its canonical value."""
        if stype is SlotType.NUMBER:
            return self._parsed(parse_number(value))
        if stype is SlotType.TIME:
            return self._parsed(parse_time(value))
        if stype is SlotType.DURATION:
            return self._parsed(parse_duration(value))
        if stype is SlotType.DATE:
            d = parse_date(value, today)
            return self._parsed(d.isoformat() if d else None)
        if stype is SlotType.ITEM:
            return self._parsed(canonical_item(value) or None)
        domain = self._domain(home)
        if domain is None:
            return _unresolved()
        lex = lexicon_for(domain)
        if stype is SlotType.COLOR:
            return self._pick(lex.colors.match(value))
        if stype is SlotType.MEDIA_TYPE:
            return self._pick(lex.media_types.match(value))
        catalog = home.catalog if home is not None else lex.catalog
        if stype is SlotType.GENRE:
            return self._pick(catalog.genre_index.match(value))
        if stype is SlotType.ARTIST:
            return self._pick(catalog.artist_index.match(value))
        if home is None:
            return _unresolved()
        if stype is SlotType.ROOM:
            return self._pick(home.find_rooms(value))
        if stype is SlotType.CITY:
            return self._pick(home.find_places(value))
        if stype is SlotType.TEAM:
            return self._pick(home.find_teams(value))
        if stype is SlotType.CUISINE:
            return self._pick(lex.cuisines.match(value))
        if stype is SlotType.MEDIA_TITLE:
            return self._media(home, value, args.get("media_type"))
        if stype is SlotType.DEVICE:
            return self._device(home, lex, intent, value, args.get("room") or ctx_room)
        return _unresolved()

    @staticmethod
    def _parsed(value: object) -> SlotResolution:
        if value is None:
            return _unresolved()
        return SlotResolution(str(value), 1.0)

    def _pick(self, matches: list[Match]) -> SlotResolution:
        """Best match above threshold. Lookups already order equal scores by their own preference
        (household region, popularity), so the first is the default reading of an ambiguous name;
        the others above threshold are logged as candidates."""
        ok = [m for m in matches if m.score >= self.threshold]
        if not ok:
            return _unresolved([m.key for m in matches[:3]])
        chosen = ok[0]
        return SlotResolution(chosen.key, chosen.score, [m.key for m in ok[1:5]])

    def _media(self, home: HomeApi, value: str, media_type: str | None) -> SlotResolution:
        """A title, honouring a media type said in the title itself ("the dune audiobook")."""
        title = norm_name(value)
        type_words = home.domain.media_type_words
        exact = home.catalog.titles.exact(title)
        if exact and not media_type:
            return self._pick(
                home.find_media(title),
            )
        words = title.split()
        for n in (2, 1):  # "audio book" is two words
            tail = " ".join(words[-n:])
            if len(words) > n and tail in type_words:
                media_type = media_type or type_words[tail]
                title = " ".join(words[:-n])
                break
        if media_type is not None:
            typed = self._pick(
                home.find_media(title, media_type),
            )
            if typed.value is not None:
                return typed
        return self._pick(
            home.find_media(title),
        )

    def _device(
        self, home: HomeApi, lex: Lexicon, intent: str, value: str, room: str | None
    ) -> SlotResolution:
        kinds = lex.domain.device_types_of(intent)
        generic = lex.domain.generic_device_names
        v = norm_name(value)
        for lead in _DEVICE_LEADING:
            if v.startswith(lead):
                v = v[len(lead) :]
                break
        # 1. a name or alias of this household
        exact = [Match(k, 1.0, v) for k in home.exact_devices(v)]
        if exact:
            fitting = [m for m in exact if kinds is None or home.devices[m.key].kind in kinds] or exact
            return self._by_room(home, fitting, room)
        # 2. "the lights", "lamp": a kind, narrowed by the room
        if v in generic:
            return self._generic(home, intent, generic[v], room)
        # 3. "bedroom lights": a room plus a kind
        for gname, kind in lex.generic_names_longest_first:
            if v.endswith(" " + gname):
                head = v[: -len(gname) - 1].removesuffix(" in the").removesuffix(" in")
                rooms = [m for m in home.find_rooms(head, limit=1) if m.score >= 0.9]
                if rooms:
                    return self._generic(home, intent, kind, rooms[0].key, room_named=True)
        # 4. fuzzy and sound-alike names, kinds that fit the intent first
        matches = home.find_devices(v, kinds=kinds, limit=5) if kinds else []
        if not matches or matches[0].score < self.threshold:
            matches = home.find_devices(v, limit=5)
        ok = [m for m in matches if m.score >= self.threshold]
        if not ok:
            return _unresolved([m.key for m in matches[:3]])
        best = ok[0].score
        tied = [m for m in ok if best - m.score <= self.tie_margin]
        return self._by_room(home, tied, room, others=ok)

    def _by_room(
        self, home: HomeApi, tied: list[Match], room: str | None, others: list[Match] | None = None
    ) -> SlotResolution:
        """Pick among equally good devices: the one in `room` wins; a tie that the room does not
        break is ambiguous."""
        pool = tied
        if len(pool) > 1 and room is not None:
            here = [m for m in pool if home.devices[m.key].room == room]
            pool = here or pool
        rest = [m.key for m in (others or tied) if m.key != pool[0].key][:4]
        if len(pool) > 1:
            return SlotResolution(None, pool[0].score, [m.key for m in pool][:5], StageError.ER_AMBIGUOUS)
        return SlotResolution(pool[0].key, pool[0].score, rest)

    def _generic(
        self, home: HomeApi, intent: str, kind: str, room: str | None, *, room_named: bool = False
    ) -> SlotResolution:
        """A kind word instead of a name: the device of that kind in the room; several lights or
        blinds in the room become a room target; with no room to narrow, leave it to the executor
        (which acts on the only such device, or all locks, or asks)."""
        multi = intent.startswith(_MULTI_PREFIXES)
        if room is not None:
            here = home.devices_of(kind, room=room)
            if len(here) == 1:
                return SlotResolution(here[0].entity_id, 1.0 if not room_named else 0.95)
            if len(here) > 1:
                if multi:
                    ids = [d.entity_id for d in here]
                    return SlotResolution(None, 1.0, ids, None, {"room": room}, logged=room)
                return SlotResolution(here[0].entity_id, 0.9, [d.entity_id for d in here[1:]])
            if room_named:
                return _unresolved([d.entity_id for d in home.devices_of(kind)][:5])
        anywhere = home.devices_of(kind)
        if len(anywhere) == 1:
            return SlotResolution(anywhere[0].entity_id, 0.95)
        if not anywhere:
            return _unresolved()
        # several and no room: no device argument; the executor decides
        ids = [d.entity_id for d in anywhere][:5]
        return SlotResolution(None, 1.0, ids, None, {}, logged=f"kind:{kind}")
