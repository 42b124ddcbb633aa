"""Parse teaching talk: statements of preference, answers in the guided dialogue, and the control
acts around them (confirm, deny, skip, stop, forget, "what do you know about me").

Why rules plus fuzzy value matching rather than new NLU intents: teaching turns are a small closed
set of carriers ("I'm a ... fan", "call the ... ...", "forget that"), while their values are open
and must land on canonical ids the resolver uses (a team id, a catalog genre, an entity id). The
carriers are matched by patterns over a normalised text; values by the same scored name matching
(exact, fuzzy, phonetic) the entity resolver uses, over every n-gram of the text, so a misheard
word in a value still finds it. Keeping this out of the shared NLU also keeps the default
assistant's intents and traffic unchanged when teaching is off.

`TeachingParser.parse(text, home, expect=...)` returns a `Parsed` act. `expect` tells it what the
dialogue is waiting for (an answer of a kind, or a yes/no) so "the warriors" or "yes" mean
something; with no expectation only self-contained acts are recognised, and everything else is
`Act.NONE` (an ordinary request for the NLU).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz

from selflearn.assistant.home_api import HomeApi
from selflearn.contracts.domain import Domain
from selflearn.lexicon.lexicon import Lexicon, lexicon_for
from selflearn.teach.store import PreferenceKind
from selflearn.text.matching import Match, NameIndex, norm_name

__all__ = ["ACT_INTENT", "Act", "Expect", "Parsed", "TeachingParser", "describe", "normalize_teaching"]


class Act(StrEnum):
    """The dialogue act of one user turn, as far as teaching is concerned."""

    TEACH = "teach"  # an unprompted statement of preference
    CORRECT = "correct"  # a new value for what was just taught or is being confirmed
    ANSWER = "answer"  # a value given in answer to the assistant's question
    CONFIRM = "confirm"
    DENY = "deny"
    SKIP = "skip"
    STOP = "stop"
    FORGET = "forget"
    FORGET_ALL = "forget_all"
    QUERY = "query"  # what do you know about me
    LEARN = "learn"  # learn my preferences
    DISSATISFIED = "dissatisfied"  # that's not what I wanted
    NONE = "none"  # not teaching talk: an ordinary request


# The intent name a handled teaching turn is logged under (NluStage of model "teach.parser.v1").
ACT_INTENT: dict[Act, str] = {
    Act.TEACH: "teach_preference",
    Act.CORRECT: "teach_correct",
    Act.ANSWER: "teach_answer",
    Act.CONFIRM: "teach_confirm",
    Act.DENY: "teach_deny",
    Act.SKIP: "teach_skip",
    Act.STOP: "teach_stop",
    Act.FORGET: "preference_forget",
    Act.FORGET_ALL: "preference_forget_all",
    Act.QUERY: "preference_query",
    Act.LEARN: "learn_preferences",
    Act.DISSATISFIED: "teach_dissatisfied",
}


@dataclass(frozen=True)
class Expect:
    """What the dialogue waits for: an answer of `kind` (alias answers name a device for `key`),
    or, with `confirming`, a yes/no about a pending value of `kind`."""

    kind: PreferenceKind | None = None
    key: str = ""
    confirming: bool = False
    soft: bool = False  # just taught unprompted: only an explicit "no, ..." corrects it
    value: str | None = None  # the value just taught or pending (an alias's device)


@dataclass(frozen=True)
class Parsed:
    """One parsed turn. `value` is canonical (team id, cuisine, genre, room id, entity id); `key`
    is an alias name; `display` is how to say the value back."""

    act: Act
    kind: PreferenceKind | None = None
    value: str | None = None
    key: str = ""
    display: str = ""
    score: float = 1.0

    @property
    def teaching(self) -> str | None:
        """The log's `feedback.teaching` string for a turn that stated a value."""
        if self.kind is None or self.value is None:
            return None
        return f"{self.kind.value}:{self.key}={self.value}" if self.key else f"{self.kind.value}={self.value}"


_CONTRACTIONS = {
    "i'm": "i am", "im": "i am", "i've": "i have", "ive": "i have", "i'd": "i would", "id": "i would",
    "what's": "what is", "whats": "what is", "that's": "that is", "thats": "that is", "don't": "do not",
    "dont": "do not", "it's": "it is", "let's": "let us", "lets": "let us", "we're": "we are",
    "you've": "you have", "isn't": "is not", "wasn't": "was not", "didn't": "did not", "who's": "who is",
    "we've": "we have", "i'll": "i will", "favourite": "favorite", "fave": "favorite",
    "favorites": "favorite",
}  # fmt: skip
_PUNCT = re.compile(r"[^a-z0-9'\s]")


def normalize_teaching(text: str) -> str:
    """Lower case, no punctuation, contractions spelled out, British spellings folded: recognisers
    write "i'm", "im" and "i am" for the same words."""
    words = _PUNCT.sub(" ", text.lower()).split()
    out: list[str] = []
    for w in words:
        out.extend(_CONTRACTIONS.get(w, w.replace("'", "")).split())
    return " ".join(out)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


_FORGET_VERB = r"(?:forget|delete|erase|remove|wipe|clear|drop|unlearn)"
_FORGET_ALL = _rx(
    rf"\b{_FORGET_VERB}\b.*\b(?:everything|all (?:of )?my|all you know|all (?:of )?(?:the|that) (?:data|info)"
    r"|all my data|my data|all about me)\b"
)
_FORGET = _rx(
    rf"\b{_FORGET_VERB} (?:about )?(?:that|it|this|what i (?:just )?(?:said|told you)|the name\b|that i\b"
    r"|(?:my|the) (?:favorite|team|food|cuisine|music|genre|preference|preferences|alias|nickname|name for"
    r"|usual|default|room|speaker|device)\b)"
)
_NOT_ANYMORE = _rx(
    r"\bi (?:am not|do not (?:like|love|follow|support|root for)|no longer \w+)\b.*\b(?:anymore|any more)\b"
)
_QUERY = _rx(
    r"\bwhat (?:do|did) you (?:know|remember|have|recall) (?:about|on) me\b|\bwhat (?:have|did) you learn"
    r"(?:ed)? about me\b|\bwhat (?:are|is) my (?:preferences|settings|favorite)\b|\bwhat do you know about"
    r" my\b|\btell me what you know about me\b|\bwhat is my (?:team|default|usual)\b|"
    r"\bdo you know (?:my|what i like)\b|\bwhich team do i\b|\bwhat (?:preferences|things) do you have\b"
)
_LEARN = _rx(
    r"\blearn (?:about )?(?:my preferences|me|what i like|my likes)\b|\bget to know me\b|\bask me "
    r"(?:some |a few )?(?:questions|about (?:my preferences|me|what i like))\b|\bset up my preferences\b|"
    r"\b(?:teach|tell) you (?:about )?(?:my preferences|what i like)\b|\blearn my (?:taste|tastes)\b"
)
_DISSATISFIED = _rx(
    r"^(?:no )?(?:that is|this is|that was|it is) (?:not (?:what i (?:wanted|meant|asked for|asked)|right"
    r"|it|my)|wrong|the wrong)\b|\bnot what i (?:wanted|meant|asked for)\b|^wrong\b|\byou got it wrong\b|"
    r"^(?:no )?not (?:that|this) one\b|\bthat is not my\b"
)
_CONFIRM = _rx(
    r"^(?:yes|yeah|yep|yup|yea|sure|correct|right|exactly|absolutely|definitely|of course|uh huh|ok|okay"
    r"|affirmative|perfect|you got it|sounds (?:good|right)|that is (?:right|correct|it)|please do|do it"
    r"|go ahead)\b"
)
_DENY = _rx(r"^(?:no|nope|nah|not really|negative|wrong|incorrect|that is (?:wrong|not right|not it))\b")
_SKIP = _rx(
    r"\b(?:skip(?: it| that| this)?|pass|next(?: question| one)?|i do not (?:know|have (?:one|a favorite|any)"
    r"|really have (?:one|a favorite)|care|mind)|no idea|not sure|no preference|none|nothing in particular"
    r"|rather not say|something else|no favorite|i am not sure|does not matter|whatever)\b"
)
_STOP = _rx(
    r"^(?:stop|enough|cancel|quit|never ?mind)\b|\b(?:that is enough|let us stop|no more questions|i am done"
    r"|that is all|stop asking|we are done|stop there)\b"
)
# "my" as recognisers write it when they mishear it
_MY = r"(?:my|may|mine|me|mi|m)"
# A first-person statement of liking: what separates "i like jazz" from "play jazz". "i would
# like" (I'd like) is a request and does not count. The "i" may be lost by the recogniser.
_STATEMENT = _rx(
    r"\b(?:i (?:really |absolutely |just |mostly |usually |always |also )?(?:like|love|enjoy|prefer|adore|dig"
    r"|support|sport|follow|root for|cheer for|listen to|listen|eat|go for|am into|am in to|am a|am an"
    r"|am big on|am all about|am partial to|changed my mind|switched to|have switched)\b"
    rf"|(?:^|{_MY} )(?:favorite|usual|default|go to|team|kind of|type of|taste)"
    rf"|(?:is|are) {_MY} (?:favorite|team|kind|type|usual|thing|jam)|fan of|big fan|\w+ fan\b"
    r"|i am (?:more )?(?:of )?a \w+ (?:person|lover|guy|girl|family))"
    r"|^(?:really )?(?:love|like|prefer|support|root for|cheer for|enjoy|adore|mostly listen)\b"
)
# Whole control utterances, matched fuzzily when no pattern fits: a misheard word in a short
# fixed phrase ("get to knew me", "that's write") should not lose the act.
_PHRASES: dict[Act, tuple[str, ...]] = {
    Act.LEARN: (
        "learn my preferences", "can you learn my preferences", "get to know me", "learn about me",
        "ask me about my preferences", "ask me some questions", "learn what i like",
    ),
    Act.FORGET: ("forget that", "forget about that", "please forget that", "forget it", "delete that"),
    Act.QUERY: (
        "what do you know about me", "what are my preferences", "what have you learned about me",
        "what do you remember about me", "tell me what you know about me",
    ),
    Act.FORGET_ALL: (
        "forget everything about me", "delete all my data", "erase everything you know about me",
        "forget everything you know about me", "delete everything about me",
    ),
    Act.DISSATISFIED: (
        "that is not what i wanted", "no that is wrong", "that is not what i meant", "that is wrong",
        "not what i asked for", "that is not right",
    ),
}  # fmt: skip
_CONFIRM_PHRASES = ("yes", "yeah", "yep", "that is right", "correct", "yes please", "sure", "right")
_FUZZY_MIN = 82.0
_KIND_CUES: dict[PreferenceKind, re.Pattern[str]] = {
    PreferenceKind.FAVORITE_TEAM: _rx(r"\b(?:fan|fans|team|root|cheer|support|sports|sport|follow)\b"),
    PreferenceKind.CUISINE: _rx(
        r"\b(?:food|foods|restaurant|restaurants|cuisine|eat|eating|dinner|lunch|place|places|dishes)\b"
    ),
    PreferenceKind.MUSIC_GENRE: _rx(
        r"\b(?:music|listen|listening|genre|songs|song|tunes|station|playlist|band|bands)\b"
    ),
    PreferenceKind.DEFAULT_ROOM: _rx(r"\b(?:my room|default room|usually in|mostly in|spend most)\b"),
    PreferenceKind.DEFAULT_DEVICE: _rx(
        r"\b(?:by default|default (?:speaker|device|tv)|my (?:speaker|device) is|always use|always play)\b"
    ),
}
_ALIAS_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "call the bedroom lamp moonlight": the device comes first; the split is searched
    _rx(
        r"^(?:(?:can|could|would) you |please |from now on |i want to |let us |it is |i |we |just )*(?:call"
        r"|cool|fall|name|rename|nickname) (?:the |my |our |a )?(?P<rest>.+)$"
    ),
    _rx(
        r"^(?:the |my |our |a )?(?P<dev_first>.+?) (?:is|as|his|was|should be) (?:now |from now on )?"
        r"(?:called|named) (?P<a1>.+)$"
    ),
    _rx(
        r"^(?:when |win |one |then |and )?(?:i )?(?:say|saw|said|see) (?P<a2>.+?) (?:i )?mean "
        r"(?:the |my |our |a |they )?(?P<dev2>.+)$"
    ),
    _rx(r"^(?P<a3>.+?) (?:means|is what i call) (?:the |my |our )?(?P<dev3>.+)$"),
)
_CORRECTION_CUE = _rx(
    r"^(?:no|nope|not|actually|i said|i meant|wait|sorry|i did not say|make that|make it)\b"
)
_CORRECTION_LEAD = _rx(
    r"^(?:(?:no|nope|not|actually|wait|sorry|i said|i meant|i did not say|make that|make it|it is|call it"
    r"|its|that is|the name is|its called|it is called) )+"
)
_DROP_TAIL = _rx(r" (?:from now on|please|for me|okay|ok|instead|now|then|from now)$")
_ARTICLES = ("the ", "my ", "our ", "a ", "an ")
# Words that carry the statement, never a value (keeps "fan" from matching a name fuzzily).
_CARRIER_WORDS = """i am a an the my is are of to for and in on at it that this me you your fan fans
    big huge team
    favorite food foods restaurant restaurants cuisine music listen listening like love enjoy prefer
    really just mostly usually always also kind type best most genre place places eat eating go
    support follow root cheer actually now no yes not would say probably definitely guess think
    instead said make with some lot more than other one please well oh um uh so yeah sure wait
    changed mind switched switch new these days better call name called named mean means good
    music songs song tunes station playlist what about know remember"""
_CARRIER = frozenset(_CARRIER_WORDS.split())
# Preference kinds whose values come from the domain's vocabularies (teams, cuisines, genres).
_VOCABULARY_KINDS = frozenset(
    {PreferenceKind.FAVORITE_TEAM, PreferenceKind.CUISINE, PreferenceKind.MUSIC_GENRE}
)


def describe(
    kind: PreferenceKind, value: str, home: HomeApi | None = None, domain: Domain | None = None
) -> str:
    """How the assistant says a canonical value back ("the Golden State Warriors", "Italian")."""
    if kind is PreferenceKind.FAVORITE_TEAM:
        dom = home.domain if home is not None else domain
        team = lexicon_for(dom).teams_by_id.get(value) if dom is not None else None
        return f"the {team.name}" if team else value
    if kind is PreferenceKind.CUISINE:
        return value.capitalize()
    if kind is PreferenceKind.MUSIC_GENRE:
        return {"rnb": "R&B", "hip hop": "hip hop"}.get(value, value)
    if kind is PreferenceKind.DEFAULT_ROOM:
        return f"the {home.room_name(value)}" if home is not None else value
    if home is not None and value in home.devices:
        return f"the {home.devices[value].name}"
    return value


class TeachingParser:
    """Recognises teaching acts and extracts typed values (see module docstring).

    threshold: lowest name-match score accepted for a value (0..1). Values are searched in every
    n-gram of up to `max_ngram` words; the best score wins, longer n-grams on ties.
    """

    def __init__(self, threshold: float = 0.86, max_ngram: int = 4, domain: Domain | None = None) -> None:
        self.threshold = threshold
        self.max_ngram = max_ngram
        self.domain = domain

    # ------------------------------------------------------------------------------- indexes

    def _lexicon(self, home: HomeApi | None) -> Lexicon | None:
        """The vocabularies to look values up in: the home's domain, else the parser's own."""
        domain = home.domain if home is not None else self.domain
        return lexicon_for(domain) if domain is not None else None

    @staticmethod
    def _rooms(home: HomeApi) -> NameIndex:
        return NameIndex((s, r.room_id) for r in home.rooms.values() for s in (r.name, *r.aliases))

    # ------------------------------------------------------------------------------- parsing

    def parse(self, text: str, home: HomeApi | None = None, expect: Expect | None = None) -> Parsed:
        """The act of one user turn, given what the dialogue is waiting for."""
        t = normalize_teaching(text)
        if not t:
            return Parsed(Act.NONE, score=0.0)
        ex = expect or Expect()
        if _FORGET_ALL.search(t):
            return Parsed(Act.FORGET_ALL)
        if _QUERY.search(t):
            return Parsed(Act.QUERY, kind=self._cued_kind(t))
        if _FORGET.search(t) or _NOT_ANYMORE.search(t):
            return Parsed(Act.FORGET, kind=self._cued_kind(t), key=self._forget_alias(t, home))
        if _LEARN.search(t):
            return Parsed(Act.LEARN)
        if ex.confirming:
            return self._in_confirm(t, home, ex)
        if ex.kind is not None:
            return self._in_question(t, home, ex)
        alias = self._alias(t, home)
        if alias is not None:
            return alias
        if _DISSATISFIED.search(t):
            return Parsed(Act.DISSATISFIED)
        if _STATEMENT.search(t):
            stated = self._statement(t, home)
            if stated is not None:
                return stated
        return self._fuzzy_control(t)

    @staticmethod
    def _fuzzy_control(t: str) -> Parsed:
        """The control act whose fixed phrase the whole utterance is closest to, if close enough."""
        best, score = Act.NONE, _FUZZY_MIN
        for act, phrases in _PHRASES.items():
            for ph in phrases:
                r = fuzz.ratio(t, normalize_teaching(ph))
                if r >= score:
                    best, score = act, r
        return Parsed(best, score=score / 100 if best is not Act.NONE else 0.0)

    def _in_confirm(self, t: str, home: HomeApi | None, ex: Expect) -> Parsed:
        assert ex.kind is not None
        if ex.soft and not _CORRECTION_CUE.search(t):
            return self.parse(t, home)
        alias = self._alias(t, home)
        if alias is not None:
            return alias  # "call the lamp moonlight" is a statement wherever it is said
        stated = self._statement(t, home) if _STATEMENT.search(t) and not ex.soft else None
        if stated is not None:
            return stated  # a self-contained statement stands on its own
        if _STOP.search(t):
            return Parsed(Act.STOP)
        if ex.kind is PreferenceKind.ALIAS:
            found = self._device_value(t, home)
        else:
            found = self._value(t, ex.kind, home)
        if found is not None and not _CONFIRM.search(t):
            # "no, the celtics", "actually make that thai", or just "the celtics"
            return Parsed(Act.CORRECT, ex.kind, found[0], ex.key, found[1], found[2])
        if ex.soft and ex.kind is PreferenceKind.ALIAS and ex.value is not None:
            name = self._clean_alias(_CORRECTION_LEAD.sub("", t))
            if name and len(name.split()) <= 3:  # "no, i said sparky": the name was misheard
                return Parsed(Act.CORRECT, ex.kind, ex.value, name, describe(ex.kind, ex.value, home), 0.8)
        if _CONFIRM.search(t):
            return Parsed(Act.CONFIRM, ex.kind, key=ex.key)
        if _DENY.search(t) or _DISSATISFIED.search(t):
            return Parsed(Act.DENY, ex.kind, key=ex.key)
        if _SKIP.search(t):
            return Parsed(Act.SKIP, ex.kind, key=ex.key)
        if max(fuzz.ratio(t, normalize_teaching(ph)) for ph in _CONFIRM_PHRASES) >= _FUZZY_MIN:
            return Parsed(Act.CONFIRM, ex.kind, key=ex.key, score=0.8)
        return self._fuzzy_control(t)

    def _in_question(self, t: str, home: HomeApi | None, ex: Expect) -> Parsed:
        assert ex.kind is not None
        if _STOP.search(t):
            return Parsed(Act.STOP)
        alias = self._alias(t, home)
        if alias is not None:
            return alias
        if ex.kind is PreferenceKind.ALIAS:
            found = self._device_value(t, home)
        else:
            if _STATEMENT.search(t):
                stated = self._statement(t, home)
                if stated is not None:
                    return stated  # "i like thai food": a statement, whatever was asked
            found = self._value(t, ex.kind, home)
        if found is not None:
            return Parsed(Act.ANSWER, ex.kind, found[0], ex.key, found[1], found[2])
        if _SKIP.search(t) or _DENY.search(t):
            return Parsed(Act.SKIP, ex.kind, key=ex.key)
        return self._fuzzy_control(t)

    def _statement(self, t: str, home: HomeApi | None) -> Parsed | None:
        """An unprompted preference: the cued kind's value, else the best value of any kind."""
        act = Act.TEACH
        kinds = [k for k, rx in _KIND_CUES.items() if rx.search(t)]
        order = kinds or [PreferenceKind.FAVORITE_TEAM, PreferenceKind.CUISINE, PreferenceKind.MUSIC_GENRE]
        best: tuple[PreferenceKind, tuple[str, str, float]] | None = None
        for k in order:
            found = self._value(t, k, home)
            if found is not None and (best is None or found[2] > best[1][2]):
                best = (k, found)
        if best is None:
            return None
        kind, (value, display, score) = best
        return Parsed(act, kind, value, "", display, score)

    def _cued_kind(self, t: str) -> PreferenceKind | None:
        if re.search(r"\b(?:alias|nickname|the name|calling)\b", t):
            return PreferenceKind.ALIAS
        for k, rx in _KIND_CUES.items():
            if rx.search(t):
                return k
        return None

    # --------------------------------------------------------------------------------- values

    def _ngrams(self, t: str) -> list[str]:
        words = t.split()
        out: list[str] = []
        for n in range(min(self.max_ngram, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                gram = words[i : i + n]
                if (
                    all(w in _CARRIER for w in gram)
                    or gram[0] in ("and", "to", "of", "is")
                    or len("".join(gram)) < 3
                ):
                    continue
                out.append(" ".join(gram))
        return out

    def _best(self, t: str, index: NameIndex, prefer: tuple[str, ...] = ()) -> Match | None:
        """The best value in any n-gram (longer n-grams win ties). A name several values share
        ("giants") is decided by the other n-grams' support for each reading ("francisco giants",
        even misheard, fits one better), else by `prefer` (the household's city), else by the index order."""
        best: list[Match] = []
        best_score, best_len = 0.0, 0
        seen: list[Match] = []
        for gram in self._ngrams(t):
            ms = index.match(gram, limit=3, cutoff=self.threshold)
            if not ms:
                continue
            seen.extend(ms)
            top = ms[0].score
            tied = [m for m in ms if m.score >= top - 1e-9]
            n = len(gram.split())
            if not best or top > best_score + 1e-9 or (abs(top - best_score) < 1e-9 and n > best_len):
                best, best_score, best_len = tied, top, n
        if not best:
            return None
        if len(best) > 1:
            keys = {m.key for m in best}
            support = [m for m in seen if m.key in keys and m.score < best_score - 1e-9]
            by_key = {k: sum(m.score for m in support if m.key == k) for k in keys}
            top_key = max(by_key, key=lambda k: by_key[k])
            if by_key[top_key] > 0 and sorted(by_key.values())[-2:] != [by_key[top_key]] * 2:
                return next(m for m in best if m.key == top_key)
        return next((m for p in prefer for m in best if m.key == p), best[0])

    def _value(self, t: str, kind: PreferenceKind, home: HomeApi | None) -> tuple[str, str, float] | None:
        """(canonical value, display, score) of `kind` found in `t`, or None."""
        m: Match | None
        lex = self._lexicon(home)
        if kind in _VOCABULARY_KINDS and lex is None:
            return None
        if kind is PreferenceKind.FAVORITE_TEAM and lex is not None:
            city = home.city if home is not None else ""
            prefer = tuple(tm.team_id for tm in lex.domain.teams if city and tm.city == city)
            m = self._best(t, lex.teams, prefer)
        elif kind is PreferenceKind.CUISINE and lex is not None:
            m = self._best(t, lex.cuisines)
        elif kind is PreferenceKind.MUSIC_GENRE and lex is not None:
            m = self._best(t, lex.catalog.genre_index)
        elif kind is PreferenceKind.DEFAULT_ROOM:
            m = self._best(t, self._rooms(home)) if home is not None else None
        elif kind is PreferenceKind.DEFAULT_DEVICE:
            return self._device_value(t, home)
        else:
            return None
        if m is None:
            return None
        return m.key, describe(kind, m.key, home, self.domain), m.score

    def _device_value(self, t: str, home: HomeApi | None) -> tuple[str, str, float] | None:
        """A device of the home named in `t` (by name, alias, or room + kind word)."""
        if home is None:
            return None
        words = t.split()
        best: tuple[str, str, float] | None = None
        for n in range(min(5, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                gram = " ".join(words[i : i + n])
                hit = self._device(gram, home)
                if hit is not None and (best is None or hit[1] > best[2] + 1e-9):
                    best = (hit[0], describe(PreferenceKind.ALIAS, hit[0], home), hit[1])
        return best

    def _device(self, name: str, home: HomeApi) -> tuple[str, float] | None:
        v = norm_name(name)
        generic = home.domain.generic_device_names
        if not v or v in _CARRIER or v in generic:
            return None
        exact = home.exact_devices(v)
        if len(exact) == 1:
            return exact[0], 1.0
        for gname, kind in lexicon_for(home.domain).generic_names_longest_first:
            if v.endswith(" " + gname):
                head = v[: -len(gname) - 1]
                rooms = [m for m in home.find_rooms(head, limit=1) if m.score >= 0.9]
                if rooms:
                    here = home.devices_of(kind, room=rooms[0].key)
                    if len(here) >= 1:
                        return here[0].entity_id, 0.95 * rooms[0].score
        ms = [m for m in home.find_devices(v, limit=3) if m.score >= self.threshold]
        if ms and (len(ms) == 1 or ms[0].score - ms[1].score > 0.02):
            return ms[0].key, ms[0].score
        return None

    # --------------------------------------------------------------------------------- aliases

    def _alias(self, t: str, home: HomeApi | None) -> Parsed | None:
        """ "call the bedroom lamp moonlight" -> alias moonlight = the bedroom lamp's entity id."""
        if home is None:
            return None
        t = _DROP_TAIL.sub("", t)
        for rx in _ALIAS_PATTERNS:
            m = rx.search(t)
            if m is None:
                continue
            g = m.groupdict()
            if g.get("rest"):
                found = self._split_device_alias(g["rest"], home)
            else:
                dev = g.get("dev_first") or g.get("dev2") or g.get("dev3") or ""
                alias = g.get("a1") or g.get("a2") or g.get("a3") or ""
                hit = self._device(dev, home)
                found = (hit[0], self._clean_alias(alias), hit[1]) if hit else None
            if found is not None and found[1]:
                eid, alias_name, score = found
                return Parsed(
                    Act.TEACH,
                    PreferenceKind.ALIAS,
                    eid,
                    alias_name,
                    describe(PreferenceKind.ALIAS, eid, home),
                    score,
                )
        return None

    def _split_device_alias(self, rest: str, home: HomeApi) -> tuple[str, str, float] | None:
        words = rest.split()
        best: tuple[str, str, float] | None = None
        for i in range(1, len(words)):
            dev, alias = " ".join(words[:i]), " ".join(words[i:])
            alias = re.sub(r"^(?:as|to) ", "", alias)
            if len(alias.split()) > 3:
                continue
            hit = self._device(dev, home)
            if hit is not None and (best is None or hit[1] > best[2] + 1e-9):
                best = (hit[0], self._clean_alias(alias), hit[1])
        return best

    @staticmethod
    def _clean_alias(alias: str) -> str:
        a = _DROP_TAIL.sub("", alias.strip())
        for art in _ARTICLES:
            a = a.removeprefix(art)
        return norm_name(a)

    def _forget_alias(self, t: str, home: HomeApi | None) -> str:
        m = re.search(
            r"\b(?:the name|calling (?:it|the \w+(?: \w+)?)|the alias|the nickname) (?P<a>[a-z ]+)$", t
        )
        return self._clean_alias(m.group("a")) if m else ""
