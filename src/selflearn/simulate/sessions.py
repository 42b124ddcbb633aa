"""How real people pace and chain requests, for `SimConfig.realistic_sessions`.

The classic simulator separates a retry from a new request by time alone: a retry comes 1-5 s
after the answer, a new goal 6-45 s later, and consecutive goals are unrelated. Real sessions are
not that tidy, and the cases a rephrase detector must get right are exactly the untidy ones:

* people chain *related* requests ("turn on the kitchen lights" ... "dim the kitchen lights",
  "set an alarm for six" ... "set an alarm for seven"): same intent or same thing, overlapping
  words, a new goal, not a rephrase;
* they chain them quickly, often as quickly as they retry, and sometimes cut a long confirmation
  short to say the next thing (a barge-in on a *success*);
* they sometimes retry slowly (they went to check whether the light came on).

So think times here are drawn from overlapping log-normal distributions, a share of the goals in a
session follow up on the previous one, and time gaps and barge-ins no longer reveal which follow-up
is a retry; the assistant's answer to the previous request (did it do what was asked?) does.
"""

from __future__ import annotations

import math
import random
from typing import Any

FOLLOWUP_SHARE = 0.5
"""Chance that a session's next goal is related to the previous one (when one exists)."""
MORE_GOALS = 0.45
"""Chance a session goes on to one more goal (geometric; at most `MAX_GOALS`)."""
MAX_GOALS = 6
BARGE_TO_MOVE_ON = 0.15
"""Chance that a person who got what they wanted cuts the confirmation short to go on."""


def _lognormal(rng: random.Random, median_s: float, sigma: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, math.exp(math.log(median_s) + sigma * rng.gauss(0.0, 1.0))))


def retry_think_s(rng: random.Random) -> float:
    """Seconds between the end of a failed turn (or the barge-in) and the retry."""
    if rng.random() < 0.12:  # went to look whether it worked after all, or waited it out
        return rng.uniform(8.0, 35.0)
    return _lognormal(rng, 2.5, 0.7, 0.4, 40.0)


def next_goal_think_s(rng: random.Random, related: bool) -> float:
    """Seconds between the end of a goal's last turn and the first turn of the next goal."""
    if related:
        return _lognormal(rng, 2.5, 0.75, 0.4, 45.0)
    return _lognormal(rng, 6.0, 0.9, 0.8, 120.0)


def session_goals(rng: random.Random) -> int:
    n = 1
    while rng.random() < MORE_GOALS and n < MAX_GOALS:
        n += 1
    return n


def related_menu_goal(menu_goals: list[Any], previous: Any, rng: random.Random) -> Any | None:
    """A goal of the household's menu related to `previous` (a `simulate.goals.Goal`): same intent
    with other values, or another intent about one of the same things. None when there is none."""
    prev_vals = {v for _, v in previous.args}
    same_intent = [g for g in menu_goals if g.intent == previous.intent and g.goal_key != previous.goal_key]
    same_thing = [
        g
        for g in menu_goals
        if g.intent != previous.intent
        and g.goal_key != previous.goal_key
        and prev_vals & {v for _, v in g.args}
    ]
    pools = [p for p in (same_intent, same_thing) if p]
    if not pools:
        return None
    pool = rng.choice(pools)
    return rng.choices(pool, weights=[g.weight for g in pool], k=1)[0]
