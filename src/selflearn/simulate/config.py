"""The knobs of the simulated world (`SimConfig`).

A module of its own so that the simulator (`simulate.traffic`) and its goal sources
(`simulate.goal_source` and the sources built on it) read one configuration without the sources
importing the simulator: the simulator imports its default sources, so the other direction would
be an import cycle. `simulate.traffic` re-exports `SimConfig` for existing callers."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SimConfig"]


@dataclass
class SimConfig:
    """Knobs of the simulated world. Defaults are meant to be ordinary, not favourable."""

    users: int = 100
    seed: int = 0
    survey_rate: float = 0.06  # how often the assistant asks "did I do what you wanted?"
    background_per_day: float = 0.5  # overheard utterances per household per day
    favourite_share: float = 0.7  # chance a session's goal is one of the person's favourites
    n_favourites: int = 12
    goals_per_intent: int = 8
    intent_skew: float = 1.0
    # Share of goal picks that are context-ambiguity scenarios (simulate/ambiguity.py). 0 keeps
    # ordinary traffic exactly as before; benchmarks/context.py and LoopConfig.ambiguity_share raise it.
    ambiguity_share: float = 0.0
    # Pacing and chaining of requests as real people do it (simulate/sessions.py): overlapping think
    # times for retries and new goals, related follow-up goals, barge-ins to move on. The default:
    # in classic traffic (False, kept as an option) retries follow 1-5 s after a response and new
    # goals 5-40 s later, so timing alone tells them apart, which flatters every detector.
    realistic_sessions: bool = True
    # Share of people with personal patterns (private names for their things, simulate/personal.py)
    # that too few people share for the global rewrite layer to learn. 0 keeps ordinary traffic
    # exactly as before; applied by simulate.personal.attach (LoopConfig.personal_share calls it).
    personal_share: float = 0.0
    # Common random numbers for A/B arms: every session draws from its own stream and every goal
    # within it from a stream of its own, so a rewrite that changes one goal's outcome changes
    # nothing else people do that day. Two arms then differ by what the assistant did, not by
    # reshuffled dice (the household-day stream diverges at the first changed outcome). False keeps
    # the classic traffic exactly as before.
    paired_streams: bool = False
