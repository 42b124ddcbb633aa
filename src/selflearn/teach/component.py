"""Runtime components that make the assistant teachable.

* `TeachComponent` (stage "teach", registered "teach.intercept.v1", placed before the NLU):
  intercepts teaching turns and sub-dialogue turns and answers them itself (the pipeline halts
  after it); for every other turn it hands the speaking user's preferences to entity resolution
  (`state.preferences`) and rewrites the user's own device names into the household's
  ("turn on moonlight" -> "turn on the bedroom lamp"), so the very next turn uses what was taught.
* `TeachResponder` (stage "response", registered "response.teach.v1", replaces the template
  responder): says what the inner responder says, then looks for a teachable moment in the user's
  recent turns and, if there is one, asks its question in the same response.

Both share one `TeachRuntime` (store, parser, dialogue states, recent turns per user). Everything
is keyed by `turn.user_id`: one user's preferences or dialogue never touch another's. Nothing is
cached across turns, so a deletion takes effect on the very next turn.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jellyfish
from rapidfuzz import fuzz

from selflearn.assistant.component import TurnState, register
from selflearn.assistant.home_api import HomeApi
from selflearn.assistant.respond import Responder, speech_ms
from selflearn.contracts.domain import SlotType
from selflearn.logs.records import (
    ActionStage,
    DeviceType,
    NluHypothesis,
    NluStage,
    ResponseStage,
    RewriteStage,
    Slot,
    Turn,
)
from selflearn.teach.dialogue import DialogueState, Mode, TeachingDialogue
from selflearn.teach.moments import MomentDetector
from selflearn.teach.parse import ACT_INTENT, Act, Parsed, TeachingParser, normalize_teaching
from selflearn.teach.store import Preference, PreferenceKind, PreferenceStore

__all__ = [
    "TEACH_MODEL",
    "TeachComponent",
    "TeachResponder",
    "TeachRuntime",
    "UserPreferences",
    "teach_components",
]

TEACH_MODEL = "teach.parser.v1"
_MEDIA = frozenset(
    {"play_music", "play_media", "volume_up", "volume_down", "volume_set", "media_pause", "media_resume"}
)
_SLOT_KIND = {
    SlotType.TEAM: PreferenceKind.FAVORITE_TEAM,
    SlotType.CUISINE: PreferenceKind.CUISINE,
    SlotType.GENRE: PreferenceKind.MUSIC_GENRE,
}
# "how did my team do": the NLU may tag "my team" (or a carrier word like "sports" in "sports
# scores") as the value; neither names a team, both mean the user's own.
_PERSONAL_REF = re.compile(
    r"^(?:my|our|the|some)? ?(?:favorite|usual|own|regular|latest)? ?(?:team|teams|food|music|kind|one|usual"
    r"|sports?|scores?|games?|restaurants?|places?|dinner|something|songs?|tunes)?$"
)


class UserPreferences:
    """One user's preferences as entity resolution consults them (`PersonalPreferences`).

    Built per turn from the store, so it always reflects the latest teaching and deletions.
    `applied` records which preferences filled a slot this turn (what "forget that" may mean next).
    """

    def __init__(self, prefs: list[Preference], home: HomeApi | None = None, user_id: str = "") -> None:
        self.user_id = user_id
        self.single: dict[PreferenceKind, str] = {
            p.kind: p.value for p in prefs if p.kind is not PreferenceKind.ALIAS
        }
        self.aliases: dict[str, str] = {p.key: p.value for p in prefs if p.kind is PreferenceKind.ALIAS}
        self.home = home
        self.applied: list[tuple[PreferenceKind, str]] = []
        # the device one of the user's own names in this turn's text stands for (set by the
        # alias rewrite): the device meant even when the NLU tags its long name as a room only
        self.spotted: str | None = None

    def alias(self, name: str) -> str | None:
        """The entity id the user's own name stands for, tolerant of recogniser spelling."""
        n = normalize_teaching(name)
        for art in ("the ", "my ", "our "):
            n = n.removeprefix(art)
        if not n or not self.aliases:
            return None
        if n in self.aliases:
            return self.aliases[n]
        squashed = n.replace(" ", "")
        for key, eid in self.aliases.items():
            k2 = key.replace(" ", "")
            if (
                k2 == squashed
                or fuzz.ratio(k2, squashed) >= 88
                or (len(k2) >= 5 and jellyfish.metaphone(k2) == jellyfish.metaphone(squashed))
            ):
                return eid
        return None

    def find_alias(self, words: list[str]) -> tuple[int, int, str, str] | None:
        """The first span of `words` that is one of the user's names: (start, end, name, entity id).
        A span has the name's word count, or one more or less when the recogniser split or merged
        words ("moon light"), and never starts with an article."""
        for key, eid in self.aliases.items():
            k = len(key.split())
            squashed = key.replace(" ", "")
            for n in sorted({k, k + 1, max(1, k - 1)}, key=lambda x: abs(x - k)):
                for i in range(len(words) - n + 1):
                    if words[i] in ("the", "my", "our", "a"):
                        continue
                    gram = " ".join(words[i : i + n])
                    g2 = gram.replace(" ", "")
                    same = g2 == squashed or (
                        n == k
                        and (
                            fuzz.ratio(g2, squashed) >= 88
                            or (
                                len(squashed) >= 5
                                and jellyfish.metaphone(g2) == jellyfish.metaphone(squashed)
                            )
                        )
                    )
                    if same:
                        return i, i + n, key, eid
        return None

    def lookup(self, stype: SlotType, value: str) -> str | None:
        if stype is SlotType.DEVICE:
            eid = self.alias(value)
            if eid is not None:
                self.applied.append((PreferenceKind.ALIAS, normalize_teaching(value)))
            return eid
        kind = _SLOT_KIND.get(stype)
        if kind is None or kind not in self.single:
            return None
        if _PERSONAL_REF.fullmatch(normalize_teaching(value)):
            self.applied.append((kind, ""))
            return self.single[kind]
        return None

    def default(self, intent: str, slot: str, stype: SlotType, args: Mapping[str, str]) -> str | None:
        kind: PreferenceKind | None = None
        if stype is SlotType.ROOM:
            kind = PreferenceKind.DEFAULT_ROOM
        elif stype is SlotType.GENRE:
            kind = PreferenceKind.MUSIC_GENRE if not args.get("artist") else None
        elif stype is SlotType.DEVICE:
            home, spotted = self.home, self.spotted
            if home is not None and spotted in home.devices:
                assert spotted is not None
                if home.devices[spotted].kind in (home.domain.device_types_of(intent) or ()):
                    return spotted
            if intent in _MEDIA and not args.get("room") and not args.get("device"):
                kind = PreferenceKind.DEFAULT_DEVICE
        else:
            kind = _SLOT_KIND.get(stype)
        if kind is None or kind not in self.single:
            return None
        self.applied.append((kind, ""))
        return self.single[kind]


@dataclass
class _UserMemory:
    dialogue: DialogueState
    recent: deque[Turn]
    last_turn_id: str = ""


class TeachRuntime:
    """Shared state of the teaching components: the store and each user's dialogue and recent
    turns. `store` may be a `PreferenceStore`, a path or a SQLAlchemy URL."""

    def __init__(
        self,
        store: PreferenceStore | str | Path = ":memory:",
        *,
        parser: TeachingParser | None = None,
        detector: MomentDetector | None = None,
        idle_timeout_s: float = 300.0,
        history: int = 8,
        moments: bool = True,
        rewrite_aliases: bool = True,
    ) -> None:
        self.store = store if isinstance(store, PreferenceStore) else PreferenceStore(store)
        self.parser = parser or TeachingParser()
        self.dialogue = TeachingDialogue(self.store, self.parser)
        self.detector = detector or MomentDetector()
        self.idle_timeout = timedelta(seconds=idle_timeout_s)
        self.history = history
        self.moments = moments
        self.rewrite_aliases = rewrite_aliases
        self._users: dict[str, _UserMemory] = {}

    def memory(self, turn: Turn) -> _UserMemory:
        """The user's memory, its dialogue reset when a new session starts or it went idle."""
        mem = self._users.get(turn.user_id)
        if mem is None:
            mem = _UserMemory(DialogueState(turn.user_id), deque(maxlen=self.history))
            self._users[turn.user_id] = mem
        st = mem.dialogue
        stale = st.updated_at is not None and turn.timestamp - st.updated_at > self.idle_timeout
        if st.session_id != turn.session_id or stale:
            st.reset()
            st.offered.clear()
            st.session_id = turn.session_id
            mem.recent.clear()
        return mem

    def forget_user(self, user_id: str) -> int:
        """Delete everything about a user: the store's rows and the in-memory dialogue."""
        self._users.pop(user_id, None)
        return self.store.delete_user(user_id)

    def peek(self, user_id: str) -> _UserMemory | None:
        """The user's memory if there is one (no session bookkeeping)."""
        return self._users.get(user_id)

    def known(self, user_id: str) -> Callable[[PreferenceKind, str], bool]:
        """Whether the user has a stored preference of (kind, key): what moments ask about."""

        def _known(kind: PreferenceKind, key: str) -> bool:
            return self.store.get(user_id, kind, key) is not None

        return _known


def _log_teaching(state: TurnState, parsed: Parsed, text: str, response: str) -> None:
    turn = state.turn
    slots = []
    if parsed.kind is not None:
        slots.append(Slot(name="kind", value=parsed.kind.value))
    if parsed.key:
        slots.append(Slot(name="key", value=parsed.key))
    if parsed.value is not None:
        slots.append(Slot(name="value", value=parsed.value))
    intent = ACT_INTENT[parsed.act]
    turn.nlu = NluStage(
        model=TEACH_MODEL,
        input_text=text,
        nbest=[
            NluHypothesis(intent=intent, confidence=round(min(1.0, max(0.0, parsed.score)), 4), slots=slots)
        ],
    )
    turn.action = ActionStage(name=intent, arguments={s.name: s.value for s in slots}, status="ok")
    if parsed.act in (Act.TEACH, Act.CORRECT, Act.ANSWER):
        turn.feedback.teaching = parsed.teaching
    dev = turn.device
    visual = dev.has_screen or dev.type in (DeviceType.SCREEN, DeviceType.TV)
    turn.response = ResponseStage(
        text=response, has_visual=bool(visual and response), duration_ms=speech_ms(response)
    )


@register("teach.intercept.v1")
class TeachComponent:
    """Stage "teach": handles teaching turns, hands preferences to resolution (module docstring)."""

    name = "teach"
    assigns = ("teach.step", "preferences")

    def __init__(self, runtime: TeachRuntime | None = None, store: str | None = None) -> None:
        self.runtime = runtime or TeachRuntime(store or ":memory:")

    def __call__(self, state: TurnState) -> TurnState:
        rt = self.runtime
        turn = state.turn
        mem = rt.memory(turn)
        replay = state.replay
        st = mem.dialogue
        text = turn.text
        alts = [h.text for h in turn.asr.nbest[1:]]
        previous = mem.recent[-1] if mem.recent else None
        moment = rt.detector.after_dissatisfaction(previous) if previous is not None else None
        before = (st.mode, st.kind, st.key, st.pending)
        step = rt.dialogue.step(st, text, state.home, alts, moment, write=not replay)
        if replay:
            st.mode, st.kind, st.key, st.pending = before
        st.updated_at = turn.timestamp
        state.extensions["teach.step"] = step
        if not replay:
            mem.last_turn_id = turn.turn_id
            mem.recent.append(turn)
        if step.parsed.act is Act.FORGET_ALL and step.handled:
            # nothing about the user stays in memory either: no recent turns, no dialogue
            mem.recent.clear()
            st.offered.clear()
            st.last_mentioned = None
        if step.handled:
            _log_teaching(state, step.parsed, text, step.response)
            state.halted = True
            return state
        prefs = UserPreferences(rt.store.preferences(turn.user_id), state.home, turn.user_id)
        state.preferences = prefs
        if rt.rewrite_aliases:
            self._rewrite_aliases(state, prefs)
        return state

    @staticmethod
    def _rewrite_aliases(state: TurnState, prefs: UserPreferences) -> None:
        """Say the household's name for a device where the user said their own, so the NLU sees a
        name it knows. Logged as a personal rewrite (source "online-personal")."""
        home, turn = state.home, state.turn
        if home is None or not prefs.aliases or turn.rewrite is not None:
            return
        # The 1-best first; else another recogniser hypothesis that has one of the user's own
        # names (biasing recognition toward the speaker's vocabulary, as assistants do for
        # contact and device names).
        found = None
        for text in [turn.text, *(h.text for h in turn.asr.nbest[1:])]:
            words = text.split()
            found = prefs.find_alias(words)
            if found is not None:
                break
        if found is None:
            return
        start, end, key, eid = found
        if eid not in home.devices:
            return
        head = words[:start]
        if head and head[-1] in ("my", "our"):
            head[-1] = "the"
        new = " ".join([*head, home.devices[eid].name, *words[end:]])
        turn.rewrite = RewriteStage(
            original=turn.text, rewritten=new, rule_id=f"alias:{key}", source="online-personal", score=1.0
        )
        prefs.applied.append((PreferenceKind.ALIAS, key))
        prefs.spotted = eid


@register("response.teach.v1")
class TeachResponder:
    """Stage "response": the template response, plus a teaching question at a teachable moment."""

    name = "response"
    # It asks its teaching question only after the intercept of the same runtime saw the turn.
    requires = ("teach.step",)
    assigns = ("teach.moment",)

    def __init__(self, runtime: TeachRuntime, inner: Any = None) -> None:
        self.runtime = runtime
        self.inner = inner or Responder()

    def __call__(self, state: TurnState) -> TurnState:
        state = self.inner(state)
        rt = self.runtime
        turn = state.turn
        mem = rt.peek(turn.user_id)
        if mem is None or not rt.moments:
            return state
        st = mem.dialogue
        prefs = state.preferences
        if isinstance(prefs, UserPreferences) and prefs.applied:
            st.last_mentioned = prefs.applied[-1]
        if st.mode is not Mode.IDLE or mem.last_turn_id != turn.turn_id:
            return state
        moment = rt.detector.detect(list(mem.recent), rt.known(turn.user_id))
        if moment is None or moment.tag in st.offered:
            return state
        question = rt.dialogue.open(st, moment, state.home)
        text = (
            (turn.response.text + " " if turn.response.text else "")
            + "By the way, "
            + question[0].lower()
            + question[1:]
        )
        turn.response = ResponseStage(
            text=text, has_visual=turn.response.has_visual, duration_ms=speech_ms(text)
        )
        state.extensions["teach.moment"] = moment
        return state


def teach_components(runtime: TeachRuntime) -> list[dict[str, Any]]:
    """Config entries for the two components sharing `runtime` (see selflearn.compose.default_config)."""
    return [
        {"component": "teach.intercept.v1", "runtime": runtime},
        {"component": "response.teach.v1", "runtime": runtime},
    ]
