"""Households and the people in them.

Each person has a noise profile (how a recognizer mishears them), a voice, daily habits, a
patience, and reaction tendencies. Traits are drawn once from a seeded generator so the same seed
gives the same people."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from selflearn.home.factory import make_home
from selflearn.home.home import Home
from selflearn.logs.records import DeviceInfo, DeviceType

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; day 1 of every simulation

ESPEAK_VOICES = ("en-us", "en", "en-gb-x-rp", "en-us+f3", "en-us+m3", "en-gb-scotland", "en-us+f4")


@dataclass
class Endpoint:
    """An assistant device (speaker, display, TV) in a room of the home."""

    info: DeviceInfo
    room: str


@dataclass
class User:
    user_id: str
    household_id: str
    noise_profile: dict[str, float]
    voice: str
    active_hours: list[float]  # 24 weights: when this person talks to the assistant
    sessions_per_day: float
    patience: int  # attempts before giving up on a goal
    barge_in_tendency: float  # chance of interrupting a wrong answer
    survey_tendency: float  # chance of answering "did I do what you wanted?"
    style_weights: dict[str, float]  # which grammar styles this person tends to use
    favourite_goals: list[int] = field(default_factory=list)  # indexes into the household's goal menu


@dataclass
class Household:
    household_id: str
    home: Home
    users: list[User]
    endpoints: list[Endpoint]


def _hours(rng: random.Random) -> list[float]:
    """A person's daily rhythm: a morning and an evening peak at personal times, a little all day."""
    morning, evening = rng.gauss(7.5, 1.0), rng.gauss(19.5, 1.5)
    w = []
    for h in range(24):
        m = math.exp(-((h - morning) ** 2) / 2.0) + 1.2 * math.exp(-((h - evening) ** 2) / 4.0)
        w.append(m + (0.05 if 7 <= h <= 23 else 0.005))
    return w


def make_user(rng: random.Random, user_id: str, household_id: str) -> User:
    # Most people are understood fairly well; a long tail is misheard a lot (accent, speech style).
    rate = min(3.5, rng.lognormvariate(0.0, 0.55))
    return User(
        user_id=user_id,
        household_id=household_id,
        noise_profile={
            "rate": rate,
            "confusion": rng.uniform(0.7, 1.4),
            "drop": rng.uniform(0.5, 1.5),
            "merge": rng.uniform(0.5, 1.5),
            "split": rng.uniform(0.5, 1.5),
            "bias_seed": float(rng.randrange(1_000_000)),
        },
        voice=rng.choice(ESPEAK_VOICES),
        active_hours=_hours(rng),
        sessions_per_day=rng.uniform(1.5, 4.5),
        patience=rng.choice((2, 3, 3, 3, 4)),
        barge_in_tendency=rng.uniform(0.3, 0.9),
        survey_tendency=rng.uniform(0.2, 0.8),
        style_weights={
            "terse": rng.uniform(0.5, 2.0),
            "polite": rng.uniform(0.2, 1.5),
            "verbose": rng.uniform(0.1, 1.0),
            "indirect": rng.uniform(0.1, 1.0),
            "explicit": rng.uniform(0.3, 1.0),
        },
    )


def _endpoints(rng: random.Random, home: Home, household_id: str) -> list[Endpoint]:
    eps: list[Endpoint] = []
    for dev in home.devices.values():
        if dev.kind == "speaker":
            eps.append(
                Endpoint(
                    DeviceInfo(device_id=dev.entity_id, type=DeviceType.SPEAKER, capabilities=["audio"]),
                    dev.room or next(iter(home.rooms)),
                )
            )
        elif dev.kind == "tv":
            eps.append(
                Endpoint(
                    DeviceInfo(
                        device_id=dev.entity_id,
                        type=DeviceType.TV,
                        has_screen=True,
                        capabilities=["audio", "screen", "video"],
                    ),
                    dev.room or next(iter(home.rooms)),
                )
            )
    rooms = list(home.rooms)
    kitchen = next((r for r in rooms if "kitchen" in r), None)
    if kitchen is not None and rng.random() < 0.6:
        eps.append(
            Endpoint(
                DeviceInfo(
                    device_id=f"display.{household_id}.{kitchen}",
                    type=DeviceType.SCREEN,
                    has_screen=True,
                    capabilities=["audio", "screen", "video"],
                ),
                kitchen,
            )
        )
    if not eps:  # every household has at least one way to talk to the assistant
        room = rooms[0]
        eps.append(
            Endpoint(
                DeviceInfo(
                    device_id=f"speaker.{household_id}.default",
                    type=DeviceType.SPEAKER,
                    capabilities=["audio"],
                ),
                room,
            )
        )
    return eps


def make_population(n_users: int, seed: int) -> list[Household]:
    """Households of 1-4 people until `n_users` people exist; deterministic under `seed`."""
    rng = random.Random(f"population:{seed}")
    households: list[Household] = []
    made = 0
    while made < n_users:
        hid = f"h{len(households):05d}"
        size = min(n_users - made, rng.choice((1, 1, 2, 2, 2, 3, 3, 4)))
        hrng = random.Random(f"household:{seed}:{hid}")
        home = make_home(hrng, hid, now=EPOCH.replace(tzinfo=None))
        users = [make_user(hrng, f"u{made + i:06d}", hid) for i in range(size)]
        households.append(Household(hid, home, users, _endpoints(hrng, home, hid)))
        made += size
    return households
