"""A simulated wake-word detector: a detector score per utterance, compared with a threshold.

Speech meant for the device scores high (Beta(8, 2): about 2% of requests fall below the default
threshold and are missed), lower for noisy speakers. Overheard background speech usually scores
low (Beta(1, 8)), but a share of it contains something that sounds like the wake word and scores
like speech (Beta(6, 3)): about 7% of background utterances falsely wake the device at the default
threshold. A false wake is not marked in the log, because a real device cannot know; it shows up
downstream as a turn nobody wanted, which is what failure-point isolation has to find.
"""

from __future__ import annotations

import hashlib
import math
import random

from selflearn.assistant.component import TurnState, Utterance, register
from selflearn.logs.records import WakeStage

__all__ = ["WakeWord"]

# Beta parameters of the detector score.
_DIRECTED = (8.0, 2.0)
_BACKGROUND = (1.0, 8.0)
_WAKE_LIKE = (6.0, 3.0)  # background speech containing a wake-word sound-alike
_CAREFUL_BOOST = 1.5  # a clear, deliberate retry is easier to spot


def _stable_int(*parts: object) -> int:
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class WakeWord:
    """Wake stage: fills `turn.wake` and halts the turn when the score is below `threshold`.

    Params: `threshold` (default 0.5), `seed` (component seed), `wake_like_share` (share of
    background speech that sounds like the wake word, default 0.08). The score is a pure function
    of (params, utterance, turn id).
    """

    name = "wake"

    def __init__(self, threshold: float = 0.5, seed: int = 0, wake_like_share: float = 0.08) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if not 0.0 <= wake_like_share <= 1.0:
            raise ValueError(f"wake_like_share must be in [0, 1], got {wake_like_share}")
        self.threshold = threshold
        self.seed = seed
        self.wake_like_share = wake_like_share

    def score(self, utterance: Utterance, turn_id: str) -> float:
        """The detector's score for `utterance` in turn `turn_id`, in [0, 1]."""
        rng = random.Random(_stable_int("wake", self.seed, turn_id))
        if utterance.is_directed:
            # A noisier speaker (rate > 1) blurs the wake word: lower alpha, lower scores.
            rate = max(0.05, float(utterance.noise_profile.get("rate", 1.0)))
            a, b = _DIRECTED
            a /= math.sqrt(rate)
            if utterance.careful:
                a *= _CAREFUL_BOOST
        elif rng.random() < self.wake_like_share:
            a, b = _WAKE_LIKE
        else:
            a, b = _BACKGROUND
        return min(1.0, max(0.0, rng.betavariate(a, b)))

    def __call__(self, state: TurnState) -> TurnState:
        s = self.score(state.utterance, state.turn.turn_id)
        detected = s >= self.threshold
        state.turn.wake = WakeStage(detected=detected, score=s, threshold=self.threshold)
        if not detected:
            state.halted = True
        return state


register("wake.score_model.v1")(WakeWord)
