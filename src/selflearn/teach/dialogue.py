"""The teaching sub-dialogue: ask, parse the answer, confirm, store.

A small explicit state machine per user (`DialogueState`), because a teaching exchange spans turns
and each turn's meaning depends on what the assistant just asked: "the warriors" answers "what's
your favourite team?", "no, the celtics" corrects "so your team is the Lakers, right?", and "yes"
means nothing at all outside a confirmation.

Modes: IDLE (nothing pending), ASKING (a question about one kind is open), CONFIRMING (a value is
pending a yes/no) and TAUGHT (a value was just stored from an unprompted statement; only an
explicit "no, ..." corrects it, anything else is an ordinary turn). Values are stored only once
confirmed in guided Q&A; unprompted statements are stored at once and said back, so the user can
correct or "forget that" on the next turn. Every response that expects an answer ends with "?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from selflearn.assistant.home_api import HomeApi
from selflearn.teach.moments import TeachableMoment
from selflearn.teach.parse import Act, Expect, Parsed, TeachingParser, describe
from selflearn.teach.store import Change, Preference, PreferenceKind, PreferenceStore

__all__ = ["DEFAULT_QUESTIONS", "DialogueState", "Mode", "Step", "TeachingDialogue", "summarize"]

DEFAULT_QUESTIONS: tuple[PreferenceKind, ...] = (
    PreferenceKind.FAVORITE_TEAM,
    PreferenceKind.CUISINE,
    PreferenceKind.MUSIC_GENRE,
)
_QUESTION = {
    PreferenceKind.FAVORITE_TEAM: "What's your favourite sports team?",
    PreferenceKind.CUISINE: "What kind of food do you like best?",
    PreferenceKind.MUSIC_GENRE: "What kind of music do you like?",
    PreferenceKind.DEFAULT_ROOM: "Which room are you usually in?",
    PreferenceKind.DEFAULT_DEVICE: "Which speaker should I play things on by default?",
    PreferenceKind.ALIAS: "Which device do you mean by {key}?",
}
_CONFIRM = {
    PreferenceKind.FAVORITE_TEAM: "So your team is {d}, right?",
    PreferenceKind.CUISINE: "So you like {d} food, right?",
    PreferenceKind.MUSIC_GENRE: "So you like {d} music, right?",
    PreferenceKind.DEFAULT_ROOM: "So you're usually in {d}, right?",
    PreferenceKind.DEFAULT_DEVICE: "So I should play things on {d} by default, right?",
    PreferenceKind.ALIAS: "So {key} means {d}, right?",
}
_OFFER = {
    PreferenceKind.FAVORITE_TEAM: "Should I remember {d} as your team?",
    PreferenceKind.CUISINE: "Should I remember that you like {d} food?",
    PreferenceKind.MUSIC_GENRE: "Should I remember that you like {d} music?",
    PreferenceKind.DEFAULT_ROOM: "Should I remember that you're usually in {d}?",
    PreferenceKind.DEFAULT_DEVICE: "Should I play things on {d} by default?",
    PreferenceKind.ALIAS: "Should I remember that {key} means {d}?",
}
_STORED = {
    PreferenceKind.FAVORITE_TEAM: "you're a fan of {d}",
    PreferenceKind.CUISINE: "you like {d} food",
    PreferenceKind.MUSIC_GENRE: "you like {d} music",
    PreferenceKind.DEFAULT_ROOM: "you're usually in {d}",
    PreferenceKind.DEFAULT_DEVICE: "I should play things on {d}",
    PreferenceKind.ALIAS: "{key} means {d}",
}
_NAMES = {
    PreferenceKind.FAVORITE_TEAM: "your favourite team",
    PreferenceKind.CUISINE: "your favourite food",
    PreferenceKind.MUSIC_GENRE: "your favourite music",
    PreferenceKind.DEFAULT_ROOM: "your usual room",
    PreferenceKind.DEFAULT_DEVICE: "your default speaker",
    PreferenceKind.ALIAS: "the name {key}",
}


# Acts an idle turn's other recogniser hypotheses may supply (see TeachingDialogue.step).
_STRONG_ACTS = frozenset({Act.TEACH, Act.LEARN, Act.QUERY, Act.FORGET, Act.FORGET_ALL, Act.DISSATISFIED})


class Mode(StrEnum):
    IDLE = "idle"
    ASKING = "asking"
    CONFIRMING = "confirming"
    TAUGHT = "taught"


@dataclass
class DialogueState:
    """One user's teaching dialogue. `queue`: kinds still to ask in guided Q&A; `pending`: the
    value awaiting a yes/no; `last_mentioned`: what "forget that" refers to."""

    user_id: str
    session_id: str = ""
    mode: Mode = Mode.IDLE
    kind: PreferenceKind | None = None
    key: str = ""
    pending: str | None = None
    pending_display: str = ""
    queue: list[PreferenceKind] = field(default_factory=list)
    source: str = "teach"
    denials: int = 0
    last_mentioned: tuple[PreferenceKind, str] | None = None
    offered: set[str] = field(default_factory=set)
    updated_at: datetime | None = None

    def expect(self) -> Expect | None:
        if self.mode is Mode.ASKING:
            return Expect(self.kind, self.key)
        if self.mode is Mode.CONFIRMING:
            return Expect(self.kind, self.key, confirming=True)
        if self.mode is Mode.TAUGHT:
            return Expect(self.kind, self.key, confirming=True, soft=True, value=self.pending)
        return None

    def reset(self) -> None:
        self.mode, self.kind, self.key, self.pending, self.pending_display = Mode.IDLE, None, "", None, ""
        self.queue, self.denials, self.source = [], 0, "teach"


@dataclass(frozen=True)
class Step:
    """The outcome of one user turn: the parsed act, whether teaching handled the turn (else it
    goes on to the NLU), what to say, and what was stored or forgotten."""

    parsed: Parsed
    handled: bool
    response: str = ""
    stored: Change | None = None
    forgotten: tuple[tuple[PreferenceKind, str], ...] = ()


def summarize(prefs: Sequence[Preference], home: HomeApi | None = None) -> str:
    """Say what is known about a user, one clause per preference."""
    if not prefs:
        return "I don't know anything about you yet."
    parts = [_STORED[p.kind].format(d=p.display or describe(p.kind, p.value, home), key=p.key) for p in prefs]
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Here's what I know: {body}."


class TeachingDialogue:
    """Runs one user turn through the teaching state machine (see module docstring)."""

    def __init__(
        self,
        store: PreferenceStore,
        parser: TeachingParser | None = None,
        questions: Sequence[PreferenceKind] = DEFAULT_QUESTIONS,
        max_denials: int = 2,
    ) -> None:
        self.store = store
        self.parser = parser or TeachingParser()
        self.questions = tuple(questions)
        self.max_denials = max_denials

    # ------------------------------------------------------------------------------- prompts

    @staticmethod
    def question(kind: PreferenceKind, key: str = "") -> str:
        return _QUESTION[kind].format(key=key)

    def open(self, st: DialogueState, moment: TeachableMoment, home: HomeApi | None) -> str:
        """Start a one-question sub-dialogue for a teachable moment; returns what to ask."""
        st.reset()
        st.offered.add(moment.tag)
        st.kind, st.key, st.source = moment.kind, moment.key, "moment"
        if moment.value is not None:
            st.mode, st.pending = Mode.CONFIRMING, moment.value
            st.pending_display = describe(moment.kind, moment.value, home)
            return _OFFER[moment.kind].format(d=st.pending_display, key=moment.key)
        st.mode = Mode.ASKING
        return self.question(moment.kind, moment.key)

    # ---------------------------------------------------------------------------------- steps

    def step(
        self,
        st: DialogueState,
        text: str,
        home: HomeApi | None,
        alternatives: Sequence[str] = (),
        previous_turn_moment: TeachableMoment | None = None,
        write: bool = True,
    ) -> Step:
        """Parse `text` in the state's context and act on it. `alternatives` (other recogniser
        hypotheses) are tried when the 1-best means nothing here; `previous_turn_moment` is the
        moment a dissatisfied "that's wrong" refers to; `write=False` replays a turn without
        touching the store (counterfactual replays of a logged turn)."""
        ex = st.expect()
        parsed = self.parser.parse(text, home, ex)
        if parsed.act is Act.NONE:
            # Inside a dialogue any act of another hypothesis will do; outside one, only acts a
            # request cannot be mistaken for (a misheard request must still reach the NLU).
            strong = st.mode in (Mode.ASKING, Mode.CONFIRMING)
            for alt in alternatives:
                p = self.parser.parse(alt, home, ex)
                if p.act is not Act.NONE and (strong or p.act in _STRONG_ACTS):
                    parsed = p
                    break
        return self._act(st, parsed, home, previous_turn_moment, write)

    def _act(
        self,
        st: DialogueState,
        p: Parsed,
        home: HomeApi | None,
        moment: TeachableMoment | None,
        write: bool,
    ) -> Step:
        uid = st.user_id
        if p.act is Act.NONE:
            st.reset()
            return Step(p, handled=False)
        if p.act is Act.FORGET_ALL:
            if write:
                self.store.delete_user(uid)
            st.reset()
            st.last_mentioned = None
            return Step(p, True, "OK, I've forgotten everything I knew about you.")
        if p.act is Act.QUERY:
            prefs = self.store.preferences(uid)
            if p.kind is not None:
                prefs = [x for x in prefs if x.kind is p.kind]
            text = summarize(prefs, home)
            if prefs and p.kind is not None and p.kind is not PreferenceKind.ALIAS:
                st.last_mentioned = (p.kind, "")
            return Step(p, True, text + self._resume(st))
        if p.act is Act.FORGET:
            target = self._forget_target(st, p)
            st.reset()
            if target is None:
                return Step(
                    p, True, "Sorry, I'm not sure what to forget. You can say forget my favourite team."
                )
            done = self.store.forget(uid, target[0], target[1]) if write else True
            st.last_mentioned = None
            what = _NAMES[target[0]].format(key=target[1])
            msg = f"OK, I've forgotten {what}." if done else f"I didn't know {what} anyway."
            return Step(p, True, msg, forgotten=(target,))
        if p.act is Act.LEARN:
            st.reset()
            known = {x.kind for x in self.store.preferences(uid)}
            st.queue = [k for k in self.questions if k not in known] or list(self.questions)
            st.source = "dialogue"
            return Step(p, True, "Sure, let's get to know you. " + self._next(st))
        if p.act is Act.DISSATISFIED:
            st.reset()
            if moment is not None and moment.tag not in st.offered:
                return Step(p, True, "Sorry about that. " + self.open(st, moment, home))
            return Step(p, True, "Sorry about that.")
        if p.act is Act.TEACH:
            assert p.kind is not None and p.value is not None
            change = self._store(uid, p.kind, p.value, p.key, p.display, "teach", write)
            st.last_mentioned = (p.kind, p.key)
            if st.mode in (Mode.ASKING, Mode.CONFIRMING) and st.kind is p.kind and st.key == p.key:
                # answered the open question with a full statement: stored, move on
                return Step(
                    p, True, "Got it, I'll remember " + self._said(p) + ". " + self._next(st), stored=change
                )
            resume = self._resume(st) if st.mode in (Mode.ASKING, Mode.CONFIRMING) else ""
            if not resume:
                st.reset()
                st.mode, st.kind, st.key, st.pending = Mode.TAUGHT, p.kind, p.key, p.value
            return Step(p, True, "Got it, I'll remember " + self._said(p) + "." + resume, stored=change)
        if p.act is Act.ANSWER:
            assert p.kind is not None and p.value is not None
            st.mode, st.pending, st.pending_display, st.key = Mode.CONFIRMING, p.value, p.display, p.key
            return Step(p, True, _CONFIRM[p.kind].format(d=p.display, key=p.key))
        if p.act is Act.CORRECT:
            assert p.kind is not None and p.value is not None
            if st.mode is Mode.TAUGHT:  # "no, I said the celtics" after an unprompted statement
                if p.kind is PreferenceKind.ALIAS and st.key and p.key != st.key and write:
                    self.store.forget(uid, PreferenceKind.ALIAS, st.key)  # the misheard name
                change = self._store(uid, p.kind, p.value, p.key, p.display, "correction", write)
                st.reset()
                st.last_mentioned = (p.kind, p.key)
                return Step(p, True, "Sorry, I've changed that: " + self._said(p) + ".", stored=change)
            st.mode, st.pending, st.pending_display = Mode.CONFIRMING, p.value, p.display
            return Step(p, True, f"OK, {p.display} then, right?")
        if p.act is Act.CONFIRM:
            if st.mode is Mode.CONFIRMING and st.kind is not None and st.pending is not None:
                change = self._store(uid, st.kind, st.pending, st.key, st.pending_display, st.source, write)
                st.last_mentioned = (st.kind, st.key)
                st.mode, st.pending = Mode.ASKING, None
                return Step(p, True, "Great, I'll remember that. " + self._next(st), stored=change)
            st.reset()
            return Step(p, True, "Great.")
        if p.act is Act.DENY:
            kind, key = st.kind, st.key
            st.denials += 1
            if kind is None or st.denials > self.max_denials:
                st.mode = Mode.ASKING
                return Step(p, True, "Sorry, let's leave that. " + self._next(st))
            st.mode, st.pending = Mode.ASKING, None
            st.kind, st.key = kind, key
            return Step(p, True, "Sorry. " + self.question(kind, key))
        if p.act is Act.SKIP:
            st.mode = Mode.ASKING
            return Step(p, True, "OK, let's skip that. " + self._next(st))
        # Act.STOP
        st.reset()
        return Step(p, True, "OK, that's all for now. You can tell me more any time.")

    # ------------------------------------------------------------------------------- helpers

    def _store(
        self, uid: str, kind: PreferenceKind, value: str, key: str, display: str, source: str, write: bool
    ) -> Change | None:
        if not write:
            return None
        return self.store.set(uid, kind, value, key=key, display=display, source=source)

    @staticmethod
    def _said(p: Parsed) -> str:
        assert p.kind is not None
        return _STORED[p.kind].format(d=p.display, key=p.key)

    def _next(self, st: DialogueState) -> str:
        """Ask the next queued question, or close the dialogue."""
        st.denials = 0
        if st.queue:
            st.kind, st.key, st.mode = st.queue.pop(0), "", Mode.ASKING
            return self.question(st.kind)
        st.reset()
        return "Thanks, that's all I wanted to know."

    def _resume(self, st: DialogueState) -> str:
        """After a side turn inside a dialogue, ask again what is open."""
        if st.mode is Mode.ASKING and st.kind is not None:
            return " " + self.question(st.kind, st.key)
        if st.mode is Mode.CONFIRMING and st.kind is not None:
            return " " + _CONFIRM[st.kind].format(d=st.pending_display, key=st.key)
        return ""

    def _forget_target(self, st: DialogueState, p: Parsed) -> tuple[PreferenceKind, str] | None:
        if p.kind is PreferenceKind.ALIAS:
            if p.key:
                return (PreferenceKind.ALIAS, p.key)
            if st.last_mentioned and st.last_mentioned[0] is PreferenceKind.ALIAS:
                return st.last_mentioned
            aliases = [x for x in self.store.preferences(st.user_id) if x.kind is PreferenceKind.ALIAS]
            return (PreferenceKind.ALIAS, aliases[0].key) if len(aliases) == 1 else None
        if p.kind is not None:
            return (p.kind, "")
        if st.mode is Mode.TAUGHT and st.kind is not None:
            return (st.kind, st.key)
        return st.last_mentioned
