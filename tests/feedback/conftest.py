"""Builders for feedback tests: hand-made turns and a synthetic labelled pair set.

The synthetic set mimics what a simulator's truth table would label: positives are a new attempt
at the same goal (a paraphrase, a careful repeat, or a misrecognised first try that failed),
negatives are a different goal (often a near miss: same template, another room or number).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from selflearn.feedback.pairs import PAIRS_SCHEMA
from selflearn.logs.records import (
    ActionStage,
    AsrHypothesis,
    AsrStage,
    DeviceInfo,
    DeviceType,
    Feedback,
    FeedbackKind,
    NluHypothesis,
    NluStage,
    ResolutionStage,
    ResponseStage,
    RewriteStage,
    Turn,
    WakeStage,
)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def make_turn(
    session: str,
    idx: int,
    t_s: float,
    text: str,
    intent: str | None = None,
    conf: float = 0.9,
    *,
    user: str = "u1",
    barge_in: bool = False,
    offset_ms: int | None = None,
    duration_ms: int = 2000,
    error: str | None = None,
    explicit: str | None = None,
    wake: bool = True,
    rewrite_to: str | None = None,
    response: str = "Okay.",
    status: str | None = None,
) -> Turn:
    """One logged turn; `error` is a StageError code placed on the stage its prefix names."""
    stages: dict[str, Any] = {}
    nlu_text = rewrite_to or text
    nlu_err = error if error and error.startswith("nlu-") else None
    stages["nlu"] = NluStage(
        input_text=nlu_text if wake else "",
        nbest=[NluHypothesis(intent=intent, confidence=conf)] if intent and wake else [],
        error=nlu_err,
    )
    if error and error.startswith("er-"):
        stages["resolution"] = ResolutionStage(error=error)
    act_err = error if error and error.startswith("action-") else None
    if status is None:
        status = "failed" if act_err else ("ok" if intent and not error else "none")
    stages["action"] = ActionStage(name=intent if status == "ok" else None, status=status, error=act_err)
    asr_err = error if error and error.startswith("asr-") else None
    return Turn(
        turn_id=f"{session}-t{idx}",
        session_id=session,
        user_id=user,
        turn_index=idx,
        timestamp=T0 + timedelta(seconds=t_s),
        device=DeviceInfo(device_id=f"dev-{user}", type=DeviceType.SPEAKER),
        wake=WakeStage(detected=wake, score=0.9 if wake else 0.2),
        asr=AsrStage(nbest=[AsrHypothesis(text=text, confidence=0.8)] if wake else [], error=asr_err),
        rewrite=RewriteStage(original=text, rewritten=rewrite_to, rule_id="r-1") if rewrite_to else None,
        response=ResponseStage(text=response, duration_ms=duration_ms),
        feedback=Feedback(
            barge_in=barge_in,
            barge_in_offset_ms=offset_ms,
            explicit=FeedbackKind(explicit) if explicit else None,
        ),
        **stages,
    )


@pytest.fixture
def turn() -> Callable[..., Turn]:
    return make_turn


# ---------------------------------------------------------------- synthetic labelled pairs

ROOMS = ["kitchen", "bedroom", "living room", "bathroom", "office", "hallway", "dining room", "basement"]
CITIES = ["paris", "boston", "seattle", "denver", "austin", "chicago", "miami", "london"]
TITLES = ["the hobbit", "dune", "hello", "yesterday", "bohemian rhapsody", "thriller", "frozen", "inception"]
ITEMS = ["milk", "eggs", "bread", "coffee", "apples", "butter", "rice", "cheese"]
NUMS = ["five", "ten", "twenty", "thirty", "fifty", "seventy", "six", "seven"]

TEMPLATES: dict[str, tuple[str, list[str]]] = {
    "lights_on": (
        "room",
        [
            "turn on the {x} lights",
            "switch on the {x} light",
            "{x} lights on",
            "lights on in the {x}",
            "turn the {x} lights on",
        ],
    ),
    "lights_off": (
        "room",
        [
            "turn off the {x} lights",
            "switch off the {x} light",
            "{x} lights off",
            "kill the lights in the {x}",
        ],
    ),
    "lights_set_brightness": (
        "num",
        ["set the lights to {x} percent", "dim the lights to {x} percent", "lights {x} percent"],
    ),
    "thermostat_set": (
        "num",
        ["set the temperature to {x} degrees", "set thermostat to {x}", "make it {x} degrees"],
    ),
    "play_media": ("title", ["play {x}", "put on {x}", "start playing {x}", "i want to hear {x}"]),
    "weather_query": (
        "city",
        [
            "what's the weather in {x}",
            "weather in {x}",
            "how is the weather in {x} today",
            "forecast for {x}",
        ],
    ),
    "timer_set": (
        "num",
        [
            "set a timer for {x} minutes",
            "timer {x} minutes",
            "start a {x} minute timer",
            "count down {x} minutes",
        ],
    ),
    "shopping_add": (
        "item",
        ["add {x} to my shopping list", "put {x} on the shopping list", "add {x} to the list", "i need {x}"],
    ),
    "time_query": ("", ["what time is it", "what's the time", "tell me the time"]),
    "volume_up": ("", ["turn it up", "volume up", "louder please", "increase the volume"]),
    "garage_close": ("", ["close the garage door", "shut the garage", "close garage"]),
    "door_lock": ("", ["lock the front door", "lock the door", "please lock the door"]),
}
SLOTS = {"room": ROOMS, "num": NUMS, "title": TITLES, "city": CITIES, "item": ITEMS, "": [""]}
CONFUSIONS = {
    "lights": "likes",
    "light": "like",
    "kitchen": "chicken",
    "play": "pray",
    "timer": "timor",
    "weather": "whether",
    "garage": "barrage",
    "bedroom": "bed room",
    "coffee": "toffee",
    "milk": "mill",
    "dune": "june",
    "thriller": "filler",
    "paris": "harris",
    "hobbit": "habit",
    "temperature": "temper",
    "lock": "look",
    "set": "sat",
    "five": "fine",
    "ten": "tin",
    "denver": "then for",
    "austin": "boston",
    "hello": "yellow",
    "frozen": "chosen",
    "office": "offers",
    "door": "floor",
    "eggs": "legs",
}


def _noisy(text: str, rng: random.Random) -> str:
    """A plausible misrecognition: confuse one or two words, sometimes drop one."""
    words = text.split()
    idx = [i for i, w in enumerate(words) if w in CONFUSIONS]
    rng.shuffle(idx)
    for i in idx[: rng.choice([1, 1, 2])]:
        words[i] = CONFUSIONS[words[i]]
    if (not idx or rng.random() < 0.2) and len(words) > 2:
        del words[rng.randrange(len(words))]
    return " ".join(words)


def _say(intent: str, slot: str, rng: random.Random, avoid: str | None = None) -> str:
    templates = [t for t in TEMPLATES[intent][1] if t != avoid] or TEMPLATES[intent][1]
    return rng.choice(templates).format(x=slot)


def synth_pairs(n: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """`n` labelled `PAIRS_SCHEMA` rows, about 45% rephrases."""
    rng = random.Random(seed)
    intents = list(TEMPLATES)
    rows: list[dict[str, Any]] = []
    labels: list[bool] = []
    for i in range(n):
        intent = rng.choice(intents)
        slot = rng.choice(SLOTS[TEMPLATES[intent][0]])
        positive = rng.random() < 0.45
        if positive:
            kind = rng.random()
            a_text = _say(intent, slot, rng)
            if kind < 0.45:  # misrecognised first try, then the same words or a paraphrase
                b_text = a_text if rng.random() < 0.5 else _say(intent, slot, rng)
                a_text = _noisy(a_text, rng)
            elif kind < 0.85:  # paraphrase after a wrong or failed answer
                b_text = _say(intent, slot, rng, avoid=None)
            else:  # careful repeat of the same words
                b_text = a_text
            defect = rng.random() < 0.85
            gap = rng.uniform(2.0, 20.0)
            intent_a = intent if rng.random() < 0.35 else rng.choice([None, rng.choice(intents)])
            intent_b = intent
        else:
            if rng.random() < 0.35 and TEMPLATES[intent][0]:  # near miss: same intent, other slot
                other = rng.choice([s for s in SLOTS[TEMPLATES[intent][0]] if s != slot])
                b_intent, b_slot = intent, other
            else:
                b_intent = rng.choice([x for x in intents if x != intent])
                b_slot = rng.choice(SLOTS[TEMPLATES[b_intent][0]])
            a_text = _say(intent, slot, rng)
            if rng.random() < 0.1:
                a_text = _noisy(a_text, rng)
            b_text = _say(b_intent, b_slot, rng)
            defect = rng.random() < 0.2
            gap = rng.uniform(3.0, 60.0)
            intent_a = intent if rng.random() < 0.9 else None
            intent_b = b_intent
        barge = defect and rng.random() < 0.5
        error = defect and not barge and rng.random() < 0.7
        dur = rng.randint(1200, 5000)
        rows.append(
            {
                "turn_id_a": f"p{seed}-{i}-a",
                "turn_id_b": f"p{seed}-{i}-b",
                "session_id": f"s{seed}-{i}",
                "user_id": f"u{i % 50}",
                "hop": 1 if rng.random() < 0.8 else 2,
                "pos_a": 0,
                "gap_s": gap,
                "text_a": a_text,
                "text_b": b_text,
                "barge_in_a": barge,
                "barge_in_offset_ms_a": int(dur * rng.uniform(0.05, 0.6)) if barge else None,
                "response_duration_ms_a": dur,
                "has_error_a": error,
                "nlu_confidence_a": rng.uniform(0.2, 0.6) if defect else rng.uniform(0.6, 1.0),
                "asr_confidence_a": rng.uniform(0.3, 0.8) if defect else rng.uniform(0.6, 1.0),
                "nlu_intent_a": None if error and rng.random() < 0.5 else intent_a,
                "nlu_intent_b": intent_b,
                "nlu_confidence_b": rng.uniform(0.6, 1.0),
            }
        )
        labels.append(positive)
    return pa.Table.from_pylist(rows, schema=PAIRS_SCHEMA), np.array(labels, dtype=bool)


@pytest.fixture(scope="session")
def synth() -> Callable[[int, int], tuple[pa.Table, np.ndarray]]:
    return synth_pairs
