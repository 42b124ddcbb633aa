"""Simulated people with latent preferences who teach the assistant, for the teaching benchmark.

Each person has hidden preferences (a favourite team, a cuisine, a music genre, their own name for
one lamp) and plays one episode against the assistant:

1. preference-dependent requests before teaching ("how did my team do", "find a restaurant",
   "play some music", "turn on moonlight"), judged against the gold command with the person's
   preference filled in: the defect rate before teaching;
2. teaching, in one of three ways: unprompted statements ("I'm a Warriors fan"), the guided
   question-and-answer dialogue ("learn my preferences"), or a teachable moment (repeating a
   request, saying "that's not what I wanted", or rephrasing a device name) that makes the
   assistant ask. Answers are truthful; people sometimes skip a question, stop early, or change
   their mind while confirming ("actually, make that the Celtics");
3. the very next preference-dependent request for each taught kind (did it work?);
4. sometimes a later change of mind, "what do you know about me", "forget that", or "forget
   everything about me".

The person reacts to what the assistant *says* (a question, a confirmation naming a value), as a
real user hears it, never to its internal state. Every turn gets a truth row with the act the
person meant, the preference and value they meant, and whether a request succeeded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import TurnState, Utterance
from selflearn.contracts.actions import Command, Outcome
from selflearn.home.catalog import GENRE_WORDS, default_catalog
from selflearn.home.devices import Kind
from selflearn.home.home import Home
from selflearn.home.world import CUISINE_WORDS, CUISINES, TEAMS
from selflearn.logs.records import Context, Turn
from selflearn.simulate.goals import Goal
from selflearn.simulate.ids import make_ulid
from selflearn.simulate.phrasing import PhrasingModel
from selflearn.simulate.population import EPOCH, Endpoint, Household, User, make_population

__all__ = [
    "LatentPreferences",
    "PrefSimConfig",
    "PreferenceSimulator",
    "PreferenceTruth",
    "logged_act",
]

TEAM, CUISINE, GENRE, ALIAS = "favorite_team", "cuisine", "music_genre", "alias"
_TEACH_MODEL = "teach.parser.v1"
# The logged intent of a teaching turn -> the act (the assistant's log vocabulary).
_INTENT_ACT = {
    "teach_preference": "teach",
    "teach_correct": "correct",
    "teach_answer": "answer",
    "teach_confirm": "confirm",
    "teach_deny": "deny",
    "teach_skip": "skip",
    "teach_stop": "stop",
    "preference_forget": "forget",
    "preference_forget_all": "forget_all",
    "preference_query": "query",
    "learn_preferences": "learn",
    "teach_dissatisfied": "dissatisfied",
}
_ALIAS_NAMES = (
    "moonlight", "sunshine", "starlight", "firefly", "sparky", "beacon", "lantern", "twinkle", "luna",
    "nova", "glowworm", "big bertha", "old faithful", "lighthouse", "buttercup", "rosie", "ziggy",
)  # fmt: skip
_GENRE_SAID = {"rnb": "r and b"}


@dataclass(frozen=True)
class LatentPreferences:
    """What a person likes; None: no preference of that kind. `alias` is (their name, entity id)."""

    team: str | None = None
    cuisine: str | None = None
    genre: str | None = None
    alias: tuple[str, str] | None = None

    def value(self, kind: str) -> str | None:
        if kind == ALIAS:
            return self.alias[1] if self.alias else None
        return {TEAM: self.team, CUISINE: self.cuisine, GENRE: self.genre}[kind]

    def kinds(self) -> list[str]:
        return [k for k in (TEAM, CUISINE, GENRE, ALIAS) if self.value(k) is not None]


@dataclass
class PrefSimConfig:
    """Knobs of the teaching simulation (shares of teaching modes and behaviours)."""

    users: int = 200
    seed: int = 0
    p_unprompted: float = 0.4  # else guided Q&A (p_guided) or a teachable moment
    p_guided: float = 0.35
    p_has: float = 0.85  # chance of having a preference of each kind
    p_alias: float = 0.5
    p_change_mind: float = 0.2  # while confirming, and later on
    p_stop_early: float = 0.1
    p_query: float = 0.3
    p_forget: float = 0.15
    p_forget_all: float = 0.1
    p_dissatisfied: float = 0.5  # in moment mode: say "that's wrong" rather than repeat


@dataclass
class PreferenceTruth:
    """One simulated turn: what the person meant, and what the assistant logged."""

    turn_id: str
    user_id: str
    household_id: str
    mode: str  # unprompted | guided | moment
    phase: str  # before | teach | after | changed | forget | query | forget_all | leak
    spoken_text: str
    heard_text: str
    expected_act: str
    expected_kind: str | None = None
    expected_value: str | None = None
    expected_key: str = ""
    predicted_act: str = "none"
    predicted_kind: str | None = None
    predicted_value: str | None = None
    predicted_key: str = ""
    pref_kind: str | None = None  # set on preference-dependent requests
    gold_intent: str | None = None  # the intent of the request's gold command
    success: bool | None = None  # requests only
    next_after_teach: bool = False  # the first request of a kind after it was taught
    taught: bool = False  # the person heard the assistant confirm the right value

    @property
    def act_correct(self) -> bool:
        """Right act, and for acts that carry them the right preference kind, value and key."""
        if self.predicted_act != self.expected_act:
            return False
        if self.expected_act in ("teach", "correct", "answer"):
            return (self.predicted_kind, self.predicted_value, self.predicted_key) == (
                self.expected_kind,
                self.expected_value,
                self.expected_key,
            )
        if self.expected_act == "forget" and self.expected_kind is not None:
            return self.predicted_kind in (None, self.expected_kind)
        return True


def logged_act(turn: Turn) -> tuple[str, str | None, str | None, str]:
    """(act, kind, value, key) as the assistant's log shows it; "none" for an ordinary turn."""
    top = turn.nlu.top
    if turn.nlu.model != _TEACH_MODEL or top is None:
        return "none", None, None, ""
    return _INTENT_ACT.get(top.intent, top.intent), top.slot("kind"), top.slot("value"), top.slot("key") or ""


@dataclass
class _Person:
    user: User
    household: Household
    endpoint: Endpoint
    prefs: LatentPreferences
    rng: random.Random
    mode: str
    taught: set[str] = field(default_factory=set)
    pending_next: set[str] = field(default_factory=set)


class PreferenceSimulator:
    """Runs teaching episodes against an assistant built with a teaching stage."""

    def __init__(self, config: PrefSimConfig) -> None:
        self.config = config
        self.households = make_population(config.users, config.seed + 7919)
        self.catalog = default_catalog()
        self.phrasing = PhrasingModel(seed=config.seed)

    # ------------------------------------------------------------------------------- people

    def latent(self, home: Home, rng: random.Random) -> LatentPreferences:
        c = self.config
        team = rng.choices([t.team_id for t in TEAMS], weights=[t.popularity for t in TEAMS])[0]
        alias = None
        lights = [d for d in home.devices.values() if d.kind is Kind.LIGHT]
        if lights and rng.random() < c.p_alias:
            used = {a for d in home.devices.values() for a in (d.name, *d.aliases)}
            names = [n for n in _ALIAS_NAMES if n not in used]
            if names:
                alias = (rng.choice(names), rng.choice(lights).entity_id)
        return LatentPreferences(
            team=team if rng.random() < c.p_has else None,
            cuisine=rng.choice(CUISINES) if rng.random() < c.p_has else None,
            genre=rng.choice(self.catalog.genres) if rng.random() < c.p_has else None,
            alias=alias,
        )

    def people(self) -> list[_Person]:
        out = []
        for hh in self.households:
            for u in hh.users:
                rng = random.Random(f"prefs:{self.config.seed}:{u.user_id}")
                r = rng.random()
                mode = (
                    "unprompted"
                    if r < self.config.p_unprompted
                    else "guided"
                    if r < self.config.p_unprompted + self.config.p_guided
                    else "moment"
                )
                out.append(_Person(u, hh, rng.choice(hh.endpoints), self.latent(hh.home, rng), rng, mode))
        return out

    # -------------------------------------------------------------------------------- speech

    def say_value(self, kind: str, value: str, rng: random.Random, home: Home, full: bool = False) -> str:
        """How a person names a value: nicknames, synonyms, sometimes the full name; `full` when
        correcting a misunderstanding (people then say the whole name)."""
        if kind == TEAM:
            t = next(t for t in TEAMS if t.team_id == value)
            if full:
                return "the " + t.name.lower()
            opts = [t.nickname.lower()] * 6 + [t.name.lower()] * 3 + [a for a in t.aliases][:1]
            return "the " + rng.choice(opts) if rng.random() < 0.5 else rng.choice(opts)
        if kind == CUISINE:
            syn = [w for w, c in CUISINE_WORDS.items() if c == value]
            return rng.choice(syn) if syn and rng.random() < 0.2 else value
        if kind == GENRE:
            syn = [w for w, g in GENRE_WORDS.items() if g == value and w != value]
            return rng.choice(syn) if syn and rng.random() < 0.2 else _GENRE_SAID.get(value, value)
        return "the " + home.devices[value].name

    @staticmethod
    def shown(kind: str, value: str, home: Home) -> str:
        """The words the assistant must say back for the person to accept a value."""
        if kind == TEAM:
            return next(t for t in TEAMS if t.team_id == value).name.lower()
        if kind == GENRE:
            return {"rnb": "r&b"}.get(value, value)
        if kind == ALIAS:
            return home.devices[value].name.lower()
        return value

    def statement(self, kind: str, p: _Person, value: str | None = None) -> str:
        rng, home = p.rng, p.household.home
        v = value or p.prefs.value(kind)
        assert v is not None
        said = self.say_value(kind, v, rng, home)
        bare = said.removeprefix("the ")
        if kind == TEAM:
            return rng.choice(
                [
                    f"i'm a {bare} fan",
                    f"my favorite team is the {bare}",
                    f"i root for the {bare}",
                    f"i'm a big {bare} fan",
                    f"i support the {bare}",
                    f"just so you know i'm a {bare} fan",
                    f"my team is the {bare}",
                ]
            )
        if kind == CUISINE:
            return rng.choice(
                [
                    f"i like {said} restaurants",
                    f"i love {said} food",
                    f"my favorite food is {said}",
                    f"i usually eat {said}",
                    f"i prefer {said} places",
                    f"remember that i like {said} food",
                ]
            )
        if kind == GENRE:
            return rng.choice(
                [
                    f"my favorite music is {said}",
                    f"i love {said}",
                    f"i mostly listen to {said}",
                    f"i'm into {said} music",
                    f"i like listening to {said}",
                    f"my favourite kind of music is {said}",
                ]
            )
        assert p.prefs.alias is not None
        name, eid = p.prefs.alias
        dev = home.devices[eid].name
        return rng.choice(
            [
                f"call the {dev} {name}",
                f"the {dev} is called {name}",
                f"when i say {name} i mean the {dev}",
                f"let's call the {dev} {name}",
                f"i call the {dev} {name}",
            ]
        )

    def answer(self, kind: str, value: str, p: _Person) -> str:
        said = self.say_value(kind, value, p.rng, p.household.home)
        return p.rng.choice(
            [said, said, f"i'd say {said}", f"probably {said}", f"definitely {said}", f"{said} i guess"]
        )

    def request(self, kind: str, p: _Person) -> tuple[str, Command]:
        """A preference-dependent request and its gold command for this person. Phrasings come
        from the grammar through the traffic simulator's phrasing model (world popularity of
        phrasings, personal style and habits), the preference-carrying slot left unsaid."""
        home, rng, room = p.household.home, p.rng, p.endpoint.room
        v = p.prefs.value(kind)
        assert v is not None
        surface: tuple[tuple[str, str], ...] = ()
        if kind == TEAM:
            if rng.random() < 0.25:  # the seed's own example, not in the grammar
                return "how did my team do", Command("sports_score", {"team": v})
            gold = Command("sports_score", {"team": v})
        elif kind == CUISINE:
            gold = Command("restaurant_find", {"cuisine": v})
        elif kind == GENRE:
            if rng.random() < 0.5:
                surface = (("room", home.room_name(room)),)
                gold = Command("play_music", {"genre": v, "room": room})
            else:
                gold = Command("play_music", home.complete_args("play_music", {"genre": v}, room))
        else:
            assert p.prefs.alias is not None
            name, eid = p.prefs.alias
            intent = "lights_off" if home.devices[eid].state.get("on") else "lights_on"
            surface = (("device", name),)
            gold = Command(intent, {"device": eid})
        goal = Goal(
            goal_key=f"pref:{kind}:{gold.intent}:{surface}",
            intent=gold.intent,
            surface=surface,
            args=tuple(sorted(gold.args.items())),
        )
        return self.phrasing.first(p.user, goal, rng).text, gold

    # ---------------------------------------------------------------------------------- turns

    def _turn(
        self, p: _Person, assistant: Assistant, text: str, ts: datetime, session: str, idx: int
    ) -> tuple[TurnState, Home, Outcome | None]:
        home = p.household.home
        home.now = ts.replace(tzinfo=None)
        turn = Turn(
            turn_id=make_ulid(ts, p.rng),
            session_id=session,
            user_id=p.user.user_id,
            household_id=p.household.household_id,
            turn_index=idx,
            timestamp=ts,
            device=p.endpoint.info.model_copy(),
            context=Context(room=p.endpoint.room, local_time=home.now, location=home.location),
        )
        utt = Utterance(
            text=text, speaker_id=p.user.user_id, noise_profile=p.user.noise_profile, voice=p.user.voice
        )
        before = home.copy()
        state = assistant(TurnState(turn=turn, utterance=utt, home=home))
        return state, before, state.outcome

    def probe(self, assistant: Assistant, user_id: str, kind: str, when: datetime) -> TurnState:
        """One plain preference-dependent request by `user_id` in a fresh session (privacy checks:
        whose preference, if any, fills the slot)."""
        text = {TEAM: "how did my team do", CUISINE: "find me a restaurant", GENRE: "play some music"}[kind]
        hh = next(h for h in self.households if any(u.user_id == user_id for u in h.users))
        user = next(u for u in hh.users if u.user_id == user_id)
        rng = random.Random(f"probe:{user_id}:{kind}")
        person = _Person(user, hh, hh.endpoints[0], LatentPreferences(), rng, "probe")
        session = make_ulid(when, rng)
        for attempt in range(4):  # said again when the wake word was missed (nothing logged then)
            state, _before, _out = self._turn(
                person, assistant, text, when + timedelta(seconds=5 * attempt), session, 0
            )
            if state.turn.wake.detected:
                break
        return state

    def run(self, assistant: Assistant, limit: int | None = None) -> tuple[list[Turn], list[PreferenceTruth]]:
        """Play every person's episode; returns the logged turns and one truth row per turn."""
        turns: list[Turn] = []
        truth: list[PreferenceTruth] = []
        people = self.people()[:limit] if limit else self.people()
        for i, p in enumerate(people):
            _Episode(self, p, assistant, EPOCH + timedelta(hours=i), turns, truth).play()
        return turns, truth


class _Episode:
    """One person's session: before-requests, teaching, next requests, and the rest."""

    def __init__(
        self,
        sim: PreferenceSimulator,
        p: _Person,
        assistant: Assistant,
        start: datetime,
        turns: list[Turn],
        truth: list[PreferenceTruth],
    ) -> None:
        self.sim, self.p, self.assistant = sim, p, assistant
        self.ts = start + timedelta(minutes=p.rng.uniform(0, 50))
        self.session = make_ulid(self.ts, p.rng)
        self.idx = 0
        self.turns, self.truth = turns, truth
        self.home = p.household.home
        self.last_response = ""

    # -- one utterance --------------------------------------------------------------------------
    def say(
        self,
        text: str,
        act: str,
        phase: str,
        kind: str | None = None,
        value: str | None = None,
        key: str = "",
        gold: Command | None = None,
        pref_kind: str | None = None,
        next_after: bool = False,
    ) -> PreferenceTruth:
        p = self.p
        for _ in range(3):
            state, before, outcome = self.sim._turn(p, self.assistant, text, self.ts, self.session, self.idx)
            if state.turn.wake.detected:
                break
            # the device did not hear the wake word: nothing is logged; the person says it again
            self.ts += timedelta(seconds=p.rng.uniform(2.0, 5.0))
        turn = state.turn
        self.idx += 1
        self.ts += timedelta(milliseconds=turn.response.duration_ms) + timedelta(seconds=p.rng.uniform(1, 4))
        self.last_response = turn.response.text
        pa, pk, pv, pkey = logged_act(turn)
        success = None
        if gold is not None:
            expected = before.copy().apply(gold)
            success = outcome is not None and outcome.same_effect(expected)
        row = PreferenceTruth(
            turn_id=turn.turn_id,
            user_id=p.user.user_id,
            household_id=p.household.household_id,
            mode=p.mode,
            phase=phase,
            spoken_text=text,
            heard_text=turn.asr.text,
            expected_act=act,
            expected_kind=kind,
            expected_value=value,
            expected_key=key,
            predicted_act=pa,
            predicted_kind=pk,
            predicted_value=pv,
            predicted_key=pkey,
            pref_kind=pref_kind,
            gold_intent=gold.intent if gold is not None else None,
            success=success,
            next_after_teach=next_after,
            taught=pref_kind in p.taught if pref_kind else False,
        )
        self.turns.append(turn)
        self.truth.append(row)
        return row

    def ask(self, kind: str, phase: str) -> PreferenceTruth:
        text, gold = self.sim.request(kind, self.p)
        nxt = kind in self.p.pending_next
        self.p.pending_next.discard(kind)
        return self.say(text, "none", phase, gold=gold, pref_kind=kind, next_after=nxt)

    def heard_right(self, kind: str, value: str) -> bool:
        return self.sim.shown(kind, value, self.home) in self.last_response.lower()

    def learned(self, kind: str) -> None:
        self.p.taught.add(kind)
        self.p.pending_next.add(kind)

    def _key(self, kind: str) -> str:
        return self.p.prefs.alias[0] if kind == ALIAS and self.p.prefs.alias else ""

    # -- teaching modes -------------------------------------------------------------------------
    def unprompted(self, kind: str, phase: str = "teach", lead: str = "") -> None:
        """Say the preference; correct the assistant if it says back a wrong value."""
        p, v = self.p, self.p.prefs.value(kind)
        assert v is not None
        for _ in range(2):
            self.say(lead + self.sim.statement(kind, p), "teach", phase, kind, v, self._key(kind))
            if self.last_response.startswith("Got it"):
                key = self._key(kind)
                if self.heard_right(kind, v) and key and f"remember {key} means" not in self.last_response:
                    # the lamp is right but the name was misheard: say the name again
                    self.say(
                        p.rng.choice([f"no i said {key}", f"no {key}", f"no it's {key}"]),
                        "correct",
                        phase,
                        kind,
                        v,
                        key,
                    )
                    if f"{key} means" in self.last_response:
                        self.learned(kind)
                    return
                if self.heard_right(kind, v):
                    self.learned(kind)
                    return
                said = self.sim.say_value(kind, v, p.rng, self.home, full=True)
                text = p.rng.choice([f"no i said {said}", f"no {said}", f"no i meant {said}"])
                self.say(text, "correct", "teach", kind, v, self._key(kind))
                if self.heard_right(kind, v):
                    self.learned(kind)
                return

    def confirm_loop(self, kind: str, value: str, allow_change: bool = True) -> bool:
        """The assistant asked a question about `kind`: answer, confirm, correct; True if stored."""
        p = self.p
        key = self._key(kind)
        first = value
        if allow_change and kind != ALIAS and p.rng.random() < self.sim.config.p_change_mind:
            first = self.other_value(kind, value)
        self.say(self.answer_text(kind, first), "answer", "teach", kind, first, key)
        for _ in range(3):
            if not self.last_response.endswith("right?"):
                return False
            if first != value and self.heard_right(kind, first):
                said = self.sim.say_value(kind, value, p.rng, self.home)
                text = p.rng.choice([f"actually make that {said}", f"wait no {said}", f"actually {said}"])
                self.say(text, "correct", "teach", kind, value, key)
                first = value
                continue
            if self.heard_right(kind, value):
                self.say(
                    p.rng.choice(["yes", "yeah", "that's right", "yes please", "correct", "yep"]),
                    "confirm",
                    "teach",
                )
                if self.last_response.startswith("Great"):
                    self.learned(kind)
                    return True
                return False
            said = self.sim.say_value(kind, value, p.rng, self.home, full=True)
            self.say(
                p.rng.choice([f"no {said}", f"no i said {said}", f"no it's {said}"]),
                "correct",
                "teach",
                kind,
                value,
                key,
            )
        return False

    def answer_text(self, kind: str, value: str) -> str:
        if kind == ALIAS:
            return self.sim.say_value(kind, value, self.p.rng, self.home)
        return self.sim.answer(kind, value, self.p)

    def other_value(self, kind: str, value: str) -> str:
        pool = {
            TEAM: [t.team_id for t in TEAMS],
            CUISINE: list(CUISINES),
            GENRE: list(self.sim.catalog.genres),
        }[kind]
        return self.p.rng.choice([x for x in pool if x != value])

    def question_kind(self) -> str | None:
        r = self.last_response.lower()
        if not r.endswith("?"):
            return None
        if "sports team" in r or "as your team" in r:
            return TEAM
        if "food" in r:
            return CUISINE
        if "music" in r:
            return GENRE
        if "device do you mean" in r or " means " in r:
            return ALIAS
        return None

    def guided(self, kinds: list[str]) -> list[str]:
        """Q&A; returns the kinds still untaught (the person falls back to telling them)."""
        p = self.p
        for _ in range(2):
            self.say(
                p.rng.choice(
                    [
                        "learn my preferences",
                        "can you learn my preferences",
                        "get to know me",
                        "ask me about my preferences",
                    ]
                ),
                "learn",
                "teach",
            )
            if self.question_kind() is not None:
                break
        else:
            return kinds
        asked = 0
        while True:
            q = self.question_kind()
            if q is None or q == ALIAS:
                break
            asked += 1
            if asked > 2 and p.rng.random() < self.sim.config.p_stop_early:
                self.say(p.rng.choice(["that's enough for now", "stop", "let's stop there"]), "stop", "teach")
                break
            v = p.prefs.value(q)
            if v is None:
                self.say(
                    p.rng.choice(
                        ["skip", "i don't really have one", "pass", "next question", "no preference"]
                    ),
                    "skip",
                    "teach",
                )
                continue
            if not self.confirm_loop(q, v):
                break
        return [k for k in kinds if k not in p.taught]

    def moment(self, kind: str) -> None:
        """Make the assistant ask: repeat the request, complain, or rephrase a device name."""
        p = self.p
        v = p.prefs.value(kind)
        assert v is not None
        if kind == ALIAS:
            self.ask(kind, "teach")
            if self.truth[-1].success:
                return
            _name, eid = p.prefs.alias or ("", "")
            intent = "lights_off" if self.home.devices[eid].state.get("on") else "lights_on"
            verb = "off" if intent == "lights_off" else "on"
            self.say(
                f"turn {verb} the {self.home.devices[eid].name}",
                "none",
                "teach",
                gold=Command(intent, {"device": eid}),
            )
        else:
            text, gold = self.sim.request(kind, p)
            row = self.say(text, "none", "before", gold=gold, pref_kind=kind)
            if row.success:
                return
            if p.rng.random() < self.sim.config.p_dissatisfied:
                self.say(
                    p.rng.choice(["that's not what i wanted", "no that's wrong", "that's not what i meant"]),
                    "dissatisfied",
                    "teach",
                )
            else:
                self.say(text, "none", "before", gold=gold, pref_kind=kind)
        q = self.question_kind()
        if q is None:
            return
        if self.last_response.endswith("right?") or "should i remember" in self.last_response.lower():
            if self.heard_right(kind, v):
                self.say(p.rng.choice(["yes", "yes please", "sure"]), "confirm", "teach")
                if self.last_response.startswith("Great"):
                    self.learned(kind)
            return
        if q == kind:
            self.confirm_loop(kind, v, allow_change=False)

    # -- the episode ----------------------------------------------------------------------------
    def play(self) -> None:
        p, c = self.p, self.sim.config
        kinds = p.prefs.kinds()
        p.rng.shuffle(kinds)
        if not kinds:
            return
        for k in kinds[:2]:
            if p.mode != "moment" or k == ALIAS:
                self.ask(k, "before")
        if p.mode == "unprompted":
            for k in kinds:
                self.unprompted(k)
        elif p.mode == "guided":
            rest = self.guided([k for k in kinds if k != ALIAS])
            for k in rest:
                self.unprompted(k)
            if ALIAS in kinds:
                self.unprompted(ALIAS)
        else:
            for k in kinds:
                self.moment(k)
                if k not in p.taught:
                    self.unprompted(k)
        for k in kinds:
            if k in p.taught:
                self.ask(k, "after")
        if p.rng.random() < c.p_change_mind:
            k = p.rng.choice([k for k in kinds if k != ALIAS] or kinds)
            if k != ALIAS and k in p.taught:
                new = self.other_value(k, p.prefs.value(k) or "")
                p.prefs = _replace(p.prefs, k, new)
                p.taught.discard(k)
                self.unprompted(k, "changed", lead=p.rng.choice(["actually ", "you know what ", ""]))
                if k in p.taught:
                    self.ask(k, "changed")
        if p.rng.random() < c.p_query:
            self.say(
                p.rng.choice(
                    ["what do you know about me", "what are my preferences", "what have you learned about me"]
                ),
                "query",
                "query",
            )
        if p.rng.random() < c.p_forget and p.taught:
            k = p.rng.choice(sorted(p.taught))
            self.ask(k, "after")
            self.say(
                p.rng.choice(["forget that", "please forget that", "forget about that"]),
                "forget",
                "forget",
                k,
            )
            p.taught.discard(k)
        if p.rng.random() < c.p_forget_all:
            self.say(
                p.rng.choice(
                    ["forget everything about me", "delete all my data", "erase everything you know about me"]
                ),
                "forget_all",
                "forget_all",
            )
            p.taught.clear()


def _replace(prefs: LatentPreferences, kind: str, value: str) -> LatentPreferences:
    if kind == TEAM:
        return LatentPreferences(value, prefs.cuisine, prefs.genre, prefs.alias)
    if kind == CUISINE:
        return LatentPreferences(prefs.team, value, prefs.genre, prefs.alias)
    return LatentPreferences(prefs.team, prefs.cuisine, value, prefs.alias)
