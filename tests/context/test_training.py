from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from selflearn.context.features import FEATURE_NAMES
from selflearn.context.history import HistoryStore
from selflearn.context.training import build_training_set, prev_turn, turn_outcomes, update_history
from selflearn.home.domain import simulated_domain

from .conftest import T0

SIM_DOMAIN = simulated_domain()


def _oven_episode(turn_factory: Any, k: int, user: str) -> list[Any]:
    """'what's the temperature' (thermostat read, barged in) -> 'how hot is the oven' (worked)."""
    at = T0 + timedelta(hours=k)
    sid = f"s{k}{user}"
    first = turn_factory(
        10 * k, "what's the temperature", [("temperature_query", 0.9, {})],
        action=("temperature_query", {}), barge_in=True, oven_on=True, user=user, session=sid, at=at,
    )  # fmt: skip
    second = turn_factory(
        10 * k + 1, "how hot is the oven", [("temperature_query", 0.95, {"device": "oven"})],
        action=("temperature_query", {"device": "oven.kitchen"}), oven_on=True, user=user, session=sid,
        at=at + timedelta(seconds=4),
    )  # fmt: skip
    return [first, second]


def test_correction_makes_the_oven_the_positive(turn_factory: Any) -> None:
    turns = _oven_episode(turn_factory, 1, "u1")
    outs = turn_outcomes(turns)
    assert outs[turns[0].turn_id].defective
    assert outs[turns[0].turn_id].correction == turns[1].turn_id
    assert not outs[turns[1].turn_id].defective
    ts, _hist = build_training_set(turns, outcomes=outs, domain=SIM_DOMAIN)
    assert ts.x.shape[1] == len(FEATURE_NAMES)
    first = [i for i, g in enumerate(ts.group) if ts.turn_ids[g] == turns[0].turn_id]
    labels = {ts.candidates[0][i - first[0]].interp.key: ts.y[i] for i in first}
    assert labels["temperature_query"] == 0.0
    assert labels["temperature_query|device=oven.kitchen"] == 1.0
    assert ts.weight[first[0]] > 1.0  # corrected turns weigh more


def test_success_turn_labels_its_own_interpretation(turn_factory: Any) -> None:
    t = turn_factory(1, "what's the temperature", [("temperature_query", 0.9, {})],
                     action=("temperature_query", {}), oven_on=True)  # fmt: skip
    ts, _ = build_training_set([t], domain=SIM_DOMAIN)
    assert ts.y[0] == 1.0 and set(ts.y[1:]) <= {0.0}


def test_refinement_without_alarm_is_a_correction(turn_factory: Any) -> None:
    a = turn_factory(
        1, "kill the lights", [("lights_off", 0.9, {})], action=("lights_off", {"room": "kitchen"})
    )
    b = turn_factory(
        2, "turn off the living room lights", [("lights_off", 0.9, {"room": "living room"})],
        action=("lights_off", {"room": "living_room"}), at=a.timestamp + timedelta(seconds=5),
    )  # fmt: skip
    outs = turn_outcomes([a, b])
    assert outs[a.turn_id].defective and outs[a.turn_id].correction == b.turn_id


def test_history_counts_only_successes_and_is_built_day_by_day(turn_factory: Any) -> None:
    turns = _oven_episode(turn_factory, 1, "u1") + _oven_episode(turn_factory, 30, "u1")
    outs = turn_outcomes(turns)
    store = update_history(HistoryStore(SIM_DOMAIN), turns, outs)
    assert store.get("u1").n == 2  # the two corrections, not the two barged-in turns
    ts, hist = build_training_set(turns, outcomes=outs, domain=SIM_DOMAIN)
    assert hist.get("u1").n == 2
    # the second day's rows see the first day's history
    col = FEATURE_NAMES.index("hist_n_log")
    day1 = ts.x[ts.group == 0, col]
    day2 = ts.x[ts.group == ts.group.max(), col]
    assert np.all(day1 == 0.0) and np.all(day2 > 0.0)


def test_prev_turn_only_within_the_session(turn_factory: Any) -> None:
    a = turn_factory(
        1, "turn on the tv", [("tv_on", 0.9, {})], action=("tv_on", {}), changes=["tv.living_room.power=true"]
    )
    b = turn_factory(2, "turn it off", [("lights_off", 0.6, {})])
    c = turn_factory(3, "turn it off", [("lights_off", 0.6, {})], session="other")
    p = prev_turn(b, a)
    assert p is not None and p.targets == ("tv.living_room",) and p.intent == "tv_on"
    assert prev_turn(c, a) is None and prev_turn(a, a) is None


def test_the_same_words_again_right_away_mark_the_answer_wrong(turn_factory: Any) -> None:
    a = turn_factory(1, "switch it off", [("lights_off", 0.9, {})], action=("lights_off", {}))
    b = turn_factory(2, "switch it off", [("lights_off", 0.9, {})], action=("lights_off", {}),
                     at=a.timestamp + timedelta(seconds=5))  # fmt: skip
    later = turn_factory(3, "switch it off", [("lights_off", 0.9, {})], action=("lights_off", {}),
                         at=b.timestamp + timedelta(minutes=5))  # fmt: skip
    outs = turn_outcomes([a, b, later])
    assert outs[a.turn_id].defective
    assert not outs[b.turn_id].defective  # five minutes later is a new request, not a repeat


def test_a_silent_session_end_is_not_evidence_of_success(turn_factory: Any) -> None:
    turns = _oven_episode(turn_factory, 1, "u1")
    last = turn_factory(99, "what's the temperature", [("temperature_query", 0.9, {})],
                        action=("temperature_query", {}), session="alone",
                        at=T0 + timedelta(hours=5))  # fmt: skip
    outs = turn_outcomes([*turns, last])
    assert outs[turns[0].turn_id].observed  # defective: the barge-in shows it
    assert not outs[turns[1].turn_id].observed and not outs[last.turn_id].observed
    ts, _ = build_training_set([*turns, last], outcomes=outs, domain=SIM_DOMAIN)
    assert ts.observed.shape == ts.y.shape
    first = ts.group == ts.turn_ids.index(turns[0].turn_id)
    assert ts.observed[first].all() and not ts.observed[~first].any()
