"""Ambiguity scenarios: requests whose meaning the home, the device or the person decides.

Eight kinds, each a situation plus what the person says and means:

- ``oven_temperature``: the oven is on; "what's the temperature" means the oven, not the room.
- ``screen_media``: "play the hunger games" means the movie on a device with a screen and the
  audiobook on a speaker.
- ``genre_habit``: a person who only listens to one genre means it by "play some music".
- ``coffee_habit``: in the person's usual coffee hour after the alarm, "start brewing" / "get it
  going" means the coffee maker.
- ``lights_where_on``: the only lights on are in another room; "turn off the lights" means those.
- ``anaphora``: right after turning on the TV or a lamp, "turn it off" means that device.
- ``place_habit``: a person whose family lives in the other Wilkerson (Springfield, Portland...)
  means that one by "weather in wilkerson".
- ``volume_active_player``: something plays in another room; "turn it up" means that player, not
  the silent one next to the person.

Each person has a latent profile (taste in music, a family place, a coffee hour), drawn from the
seed and their id. A scenario sets the home up (oven on, a player playing...) just before the
person speaks and the setup is undone at the household's next pick. People first say the
ambiguous words, and when that fails retry by spelling the meaning out ("how hot is the oven"):
that retry is what a learner can read in the log. The gold command is judged like every other
goal (effect on a copy of the home), so the truth table is unchanged; `Simulator.ambiguity_kinds`
maps the turns of ambiguous goals to their kind (simulator side only). The simulator reaches these
functions through the goal source `simulate.ambiguity_source.ContextAmbiguity`.
"""

from __future__ import annotations

import random
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from selflearn.contracts.actions import Command
from selflearn.home.devices import Kind, StateValue
from selflearn.home.home import Home
from selflearn.simulate.goals import Goal
from selflearn.simulate.phrasing import Phrasing, Strategy
from selflearn.simulate.population import Endpoint, Household, User


class _SimulatorConfig(Protocol):
    @property
    def seed(self) -> int: ...

    @property
    def ambiguity_share(self) -> float: ...


class Simulator(Protocol):
    """What this module reads of the simulator (`simulate.traffic.Simulator`, which imports this
    module through its default goal source, `simulate.ambiguity_source`, so it is described here
    rather than imported)."""

    @property
    def config(self) -> _SimulatorConfig: ...


__all__ = [
    "KINDS",
    "AmbiguousGoal",
    "UserProfile",
    "adapt_goal",
    "first_phrasing",
    "pick_ambiguous",
    "plan_session",
    "profile",
    "retry_phrasing",
]

KINDS: tuple[str, ...] = (
    "oven_temperature",
    "screen_media",
    "genre_habit",
    "coffee_habit",
    "lights_where_on",
    "anaphora",
    "place_habit",
    "volume_active_player",
)
_GENRES = ("jazz", "classical", "country", "blues", "reggae", "folk", "metal", "soul")
_FOLLOW_UP_WINDOW = timedelta(minutes=10)
_LIGHTS_OFF_WORDS = ("turn off the lights", "lights off", "switch off the lights", "kill the lights")


@dataclass(frozen=True)
class AmbiguousGoal(Goal):
    """A goal whose first phrasing is ambiguous out of context; `retries` spell it out."""

    kind: str = ""
    phrasings: tuple[str, ...] = ()
    retries: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserProfile:
    """A person's latent context traits (the simulator's secret, never logged)."""

    genre: str | None  # the only genre they listen to, or None (they play a mix)
    place_pick: float  # which of the non-default places of a shared name is their family's
    wants_place: bool
    coffee_hour: int | None  # hour they make coffee after the alarm, or None


@dataclass
class _State:
    profiles: dict[str, UserProfile] = field(default_factory=dict)
    restore: dict[str, list[tuple[str, str, StateValue]]] = field(default_factory=dict)
    pending: dict[str, tuple[datetime, tuple[Goal, Command]]] = field(default_factory=dict)
    planned: set[str] = field(default_factory=set)  # users whose session opens with an anaphora pair
    coffee_days: dict[str, date] = field(default_factory=dict)  # user -> last day of a coffee scenario


_STATES: weakref.WeakKeyDictionary[object, _State] = weakref.WeakKeyDictionary()


def _state(sim: object) -> _State:
    st = _STATES.get(sim)
    if st is None:
        st = _State()
        _STATES[sim] = st
    return st


def profile(seed: int, user: User) -> UserProfile:
    """The user's latent traits: deterministic under (seed, user id)."""
    rng = random.Random(f"ambiguity-profile:{seed}:{user.user_id}")
    morning = max(range(4, 12), key=lambda h: user.active_hours[h])
    return UserProfile(
        genre=rng.choice(_GENRES) if rng.random() < 0.6 else None,
        place_pick=rng.random(),
        wants_place=rng.random() < 0.6,
        coffee_hour=morning if rng.random() < 0.7 else None,
    )


def _set(st: _State, home: Home, entity_id: str, **values: StateValue) -> None:
    d = home.devices[entity_id]
    log = st.restore.setdefault(home.household_id, [])
    for k, v in values.items():
        log.append((entity_id, k, d.state[k]))
        d.state[k] = v


def _undo(st: _State, home: Home) -> None:
    for entity_id, k, old in reversed(st.restore.pop(home.household_id, [])):
        if entity_id in home.devices:
            home.devices[entity_id].state[k] = old


def _goal(
    kind: str,
    intent: str,
    surface: dict[str, str],
    args: dict[str, str],
    phrasings: tuple[str, ...],
    retries: tuple[str, ...],
) -> AmbiguousGoal:
    key = f"ambiguity/{kind}|{intent}|" + "|".join(f"{k}={v}" for k, v in sorted(args.items()))
    s = tuple(sorted(surface.items()))
    return AmbiguousGoal(
        key, intent, s, tuple(sorted(args.items())), plain=s, kind=kind, phrasings=phrasings, retries=retries
    )


# ------------------------------------------------------------------------------------ scenarios


def _oven(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> AmbiguousGoal | None:
    home = hh.home
    ovens = home.devices_of(Kind.OVEN)
    if not ovens or not home.devices_of(Kind.THERMOSTAT):
        return None
    _set(st, home, ovens[0].entity_id, on=True, temperature=rng.choice((350, 375, 400, 425)))
    return _goal(
        "oven_temperature",
        "temperature_query",
        {"device": "oven"},
        {"device": ovens[0].entity_id},
        ("what's the temperature", "what is the temperature", "how hot is it", "what temperature is it"),
        ("what's the temperature of the oven", "how hot is the oven", "oven temperature"),
    )


def _screen_media(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> AmbiguousGoal | None:
    cat = hh.home.catalog
    by_title: dict[str, dict[str, str]] = {}
    for it in cat.items:
        by_title.setdefault(it.title.lower(), {})[str(it.type)] = it.media_id
    dual = sorted(t for t, types in by_title.items() if "movie" in types and "audiobook" in types)
    if not dual:
        return None
    title = rng.choice(dual)
    mt = "movie" if ep.info.has_screen else "audiobook"
    said = title.removeprefix("the ") if rng.random() < 0.4 else title
    return _goal(
        "screen_media",
        "play_media",
        {"media_title": title, "media_type": mt},
        {"media_title": by_title[title][mt], "media_type": mt},
        (f"play {said}", f"put on {said}", f"start {said}"),
        (f"play the {title} {mt}", f"play the {mt} {title}", f"put on the {title} {mt}"),
    )


def _genre(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> AmbiguousGoal | None:
    g = prof.genre
    if g is None:
        return None
    return _goal(
        "genre_habit",
        "play_music",
        {"genre": g},
        {"genre": g},
        ("play some music", "play music", "put some music on", "play some music please"),
        (f"play {g}", f"play some {g} music", f"put on some {g}"),
    )


def _coffee(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> AmbiguousGoal | None:
    home = hh.home
    makers = home.devices_of(Kind.COFFEE_MAKER)
    if (
        not makers
        or prof.coffee_hour is None
        or home.now.hour not in (prof.coffee_hour, prof.coffee_hour + 1)
    ):
        return None
    _set(st, home, makers[0].entity_id, brewing=False)
    return _goal(
        "coffee_habit",
        "coffee_start",
        {},
        {},
        ("start brewing", "get it going", "start it", "get it started", "let's get it going"),
        ("make coffee", "start the coffee maker", "brew some coffee"),
    )


def _lights_where_on(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> AmbiguousGoal | None:
    home = hh.home
    lights = home.devices_of(Kind.LIGHT)
    rooms = sorted({d.room for d in lights if d.room and d.room != ep.room})
    if not rooms:
        return None
    other = rng.choice(rooms)
    for d in lights:
        _set(st, home, d.entity_id, on=d.room == other)
    name = home.rooms[other].name
    return _goal(
        "lights_where_on",
        "lights_off",
        {"room": name},
        {"room": other},
        _LIGHTS_OFF_WORDS,
        (f"turn off the lights in the {name}", f"{name} lights off", f"switch off the {name} lights"),
    )


def _anaphora(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> tuple[AmbiguousGoal, AmbiguousGoal] | None:
    """(setup goal, follow-up goal): the setup turns something on in plain words; the follow-up,
    later in the same session, says "turn it off"."""
    home = hh.home
    options: list[tuple[AmbiguousGoal, AmbiguousGoal]] = []
    for tv in home.devices_of(Kind.TV):
        if tv.room is None:
            continue
        rn = home.rooms[tv.room].name
        setup = _goal(
            "anaphora_setup", "tv_on", {"room": rn}, {"room": tv.room}, (f"turn on the {rn} tv",), ()
        )
        follow = _goal(
            "anaphora",
            "tv_off",
            {"room": rn},
            {"room": tv.room},
            ("turn it off", "switch it off", "turn that off", "shut it off"),
            (f"turn off the {rn} tv", f"switch the {rn} tv off"),
        )
        options.append((setup, follow))
    for d in home.devices_of(Kind.LIGHT):
        if d.room is None or len(home.devices_of(Kind.LIGHT, room=d.room)) < 2:
            continue
        setup = _goal(
            "anaphora_setup",
            "lights_on",
            {"device": d.name},
            {"device": d.entity_id},
            (f"turn on the {d.name}",),
            (),
        )
        follow = _goal(
            "anaphora",
            "lights_off",
            {"device": d.name},
            {"device": d.entity_id},
            ("turn it off", "switch it off", "turn that off", "shut it off"),
            (f"turn off the {d.name}", f"switch the {d.name} off"),
        )
        options.append((setup, follow))
    if not options:
        return None
    setup, follow = rng.choice(options)
    target = dict(setup.args).get("device")
    if target is None:
        target = next(d.entity_id for d in home.devices_of(Kind.TV) if d.room == dict(setup.args)["room"])
        home.devices[target].state["power"] = False
    else:
        home.devices[target].state["on"] = False
    return setup, follow


def _place(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> AmbiguousGoal | None:
    if not prof.wants_place:
        return None
    home = hh.home
    by_name: dict[str, list[str]] = {}
    for p in home.weather.places:
        by_name.setdefault(p.name.lower(), []).append(p.place_id)
    options: list[tuple[str, str]] = []
    for name, ids in sorted(by_name.items()):
        if len(ids) < 2:
            continue
        default = home.find_places(name, limit=1)
        default_id = default[0].key if default else None
        options += [(name, pid) for pid in sorted(ids) if pid != default_id]
    if not options:
        return None
    name, pid = options[int(prof.place_pick * len(options)) % len(options)]
    place = home.weather.get(pid)
    region = place.region if place is not None else ""
    return _goal(
        "place_habit",
        "weather_query",
        {"city": f"{name} {region}"},
        {"city": pid},
        (f"what's the weather in {name}", f"weather in {name}", f"how's the weather in {name}"),
        (f"what's the weather in {name} {region}", f"weather in {name} {region}"),
    )


def _volume(
    st: _State, hh: Household, user: User, ep: Endpoint, prof: UserProfile, rng: random.Random
) -> AmbiguousGoal | None:
    home = hh.home
    players = home.devices_of((Kind.SPEAKER, Kind.TV))
    here = [d for d in players if d.room == ep.room]
    away = [d for d in players if d.room is not None and d.room != ep.room]
    if not here or not away:
        return None
    target = rng.choice(away)
    for d in players:
        _set(st, home, d.entity_id, playing=None, paused=False, volume=5)
    _set(st, home, target.entity_id, playing="station:mix")
    if target.kind is Kind.TV:
        _set(st, home, target.entity_id, power=True)
    up = rng.random() < 0.6
    intent = "volume_up" if up else "volume_down"
    words = (
        ("turn it up", "louder", "turn up the volume")
        if up
        else ("turn it down", "quieter", "turn down the volume")
    )
    verb = "up" if up else "down"
    return _goal(
        "volume_active_player",
        intent,
        {"device": target.name},
        {"device": target.entity_id},
        words,
        (f"turn {verb} the {target.name}", f"turn the volume {verb} on the {target.name}"),
    )


_BUILDERS = {
    "oven_temperature": _oven,
    "screen_media": _screen_media,
    "genre_habit": _genre,
    "coffee_habit": _coffee,
    "lights_where_on": _lights_where_on,
    "place_habit": _place,
    "volume_active_player": _volume,
}


def pick_ambiguous(
    sim: Simulator, hh: Household, user: User, endpoint: Endpoint, rng: random.Random
) -> tuple[Goal, Command] | None:
    """The simulator's hook: undo the household's last scenario setup, then (with probability
    `SimConfig.ambiguity_share`) set up a scenario and return its (goal, gold command). A pending
    "turn it off" of this person in the same session comes first. None: pick an ordinary goal."""
    st = _state(sim)
    home = hh.home
    _undo(st, home)
    now = getattr(sim, "session_now", None) or home.now
    home.now = now
    pend = st.pending.pop(user.user_id, None)
    if pend is not None and now - pend[0] <= _FOLLOW_UP_WINDOW:
        follow_up = pend[1][0]
        cmd = follow_up.command(home, endpoint.room)
        if home.copy().apply(cmd).ok:
            return follow_up, cmd
    planned = user.user_id in st.planned
    st.planned.discard(user.user_id)
    if not planned and rng.random() >= sim.config.ambiguity_share:
        return None
    seed = sim.config.seed
    prof = st.profiles.get(user.user_id)
    if prof is None:
        prof = st.profiles[user.user_id] = profile(seed, user)
    order = [k for k in KINDS if k != "anaphora"]
    rng.shuffle(order)
    if (
        prof.coffee_hour is not None
        and now.hour in (prof.coffee_hour, prof.coffee_hour + 1)
        and st.coffee_days.get(user.user_id) != now.date()
    ):
        # a habit is daily: in their coffee hour, a habitual coffee drinker's ambiguous request
        # is the coffee one (once a day), not one drawn among eight kinds like any other hour's
        order.remove("coffee_habit")
        order.insert(0, "coffee_habit")
    if planned:
        order.insert(0, "anaphora")
    for kind in order:
        if kind == "anaphora":
            pair = _anaphora(st, hh, user, endpoint, prof, rng)
            if pair is None:
                continue
            setup, follow = pair
            cmd = setup.command(home, endpoint.room)
            if not home.copy().apply(cmd).ok:
                continue
            st.pending[user.user_id] = (now, (follow, Command(follow.intent, dict(follow.args))))
            return setup, cmd
        built = _BUILDERS[kind](st, hh, user, endpoint, prof, rng)
        if built is None:
            continue
        cmd = built.command(home, endpoint.room)
        if home.copy().apply(cmd).ok:
            if kind == "coffee_habit":
                st.coffee_days[user.user_id] = now.date()
            return built, cmd
        _undo(st, home)
    return None


def plan_session(sim: Simulator, user: User, n_goals: int, rng: random.Random) -> int:
    """The simulator's session hook: "turn it off" needs an earlier request in the same session,
    so a share of sessions is planned to open with an anaphora pair and gets at least two goals.
    The share matches the other kinds' share of goal picks (each of the other seven gets about
    `ambiguity_share / 7` of the session's `n_goals` picks), so anaphora is not under-sampled.
    Returns the session's number of goals."""
    p = sim.config.ambiguity_share * n_goals / (len(KINDS) - 1)
    if rng.random() >= p:
        return n_goals
    _state(sim).planned.add(user.user_id)
    return max(n_goals, 2)


def _lights_left_on(hh: Household, endpoint: Endpoint, picked: tuple[Goal, Command]) -> tuple[Goal, Command]:
    """ "Turn off the lights" said where every light is already off, while exactly one other room
    has lights on, means that room (the world rule ``lights_where_on`` is built on)."""
    home = hh.home
    lights = home.devices_of(Kind.LIGHT)
    here_on = [d for d in lights if d.room == endpoint.room and d.state.get("on")]
    rooms_on = sorted({d.room for d in lights if d.room and d.room != endpoint.room and d.state.get("on")})
    if here_on or len(rooms_on) != 1 or not any(d.room == endpoint.room for d in lights):
        return picked
    other = rooms_on[0]
    name = home.rooms[other].name
    goal = _goal(
        "lights_where_on",
        "lights_off",
        {"room": name},
        {"room": other},
        _LIGHTS_OFF_WORDS,
        (f"turn off the lights in the {name}", f"{name} lights off"),
    )
    cmd = goal.command(home, endpoint.room)
    return (goal, cmd) if home.copy().apply(cmd).ok else picked


def adapt_goal(
    sim: Simulator, hh: Household, user: User, endpoint: Endpoint, picked: tuple[Goal, Command] | None
) -> tuple[Goal, Command] | None:
    """Keep ordinary goals consistent with the scenarios' world: someone who only listens to one
    genre asks for that genre by name, and means it by a plain "play music" too (which becomes a
    ``genre_habit`` goal); "turn off the lights" in a dark room while one other room is lit means
    that room."""
    if picked is None:
        return None
    goal, _cmd = picked
    if isinstance(goal, AmbiguousGoal):
        return picked
    if goal.intent == "lights_off" and not goal.slot_names:
        return _lights_left_on(hh, endpoint, picked)
    if goal.intent != "play_music" or "artist" in goal.slot_names:
        return picked
    st = _state(sim)
    prof = st.profiles.get(user.user_id)
    if prof is None:
        prof = st.profiles[user.user_id] = profile(sim.config.seed, user)
    if "genre" in goal.slot_names:
        # a one-genre listener asks for that genre by name, not for another one
        if prof.genre is None or dict(goal.args).get("genre") == prof.genre:
            return picked
        surface = tuple((k, prof.genre if k == "genre" else v) for k, v in goal.surface)
        args = tuple((k, prof.genre if k == "genre" else v) for k, v in goal.args)
        key = goal.goal_key.replace(f"genre={dict(goal.args)['genre']}", f"genre={prof.genre}")
        own = Goal(key, goal.intent, surface, args, goal.weight, plain=surface)
        cmd = own.command(hh.home, endpoint.room)
        return (own, cmd) if hh.home.copy().apply(cmd).ok else picked
    rng = random.Random(f"adapt:{sim.config.seed}:{user.user_id}:{goal.goal_key}")
    built = _genre(st, hh, user, endpoint, prof, rng)
    if built is None:
        return picked
    cmd = built.command(hh.home, endpoint.room)
    return (built, cmd) if hh.home.copy().apply(cmd).ok else picked


def first_phrasing(goal: AmbiguousGoal, rng: random.Random) -> Phrasing:
    i = rng.randrange(len(goal.phrasings))
    return Phrasing(goal.phrasings[i], f"ambiguity/{goal.kind}/{i:02d}", Strategy.FIRST)


def retry_phrasing(goal: AmbiguousGoal, previous: Phrasing, rng: random.Random) -> Phrasing:
    """People who were misunderstood spell the meaning out (or, a few, just say it again)."""
    if not goal.retries or rng.random() < 0.15:
        return Phrasing(previous.text, previous.template_id, Strategy.REPEAT)
    i = rng.randrange(len(goal.retries))
    return Phrasing(goal.retries[i], f"ambiguity/{goal.kind}/r{i:02d}", Strategy.EXPLICIT)
