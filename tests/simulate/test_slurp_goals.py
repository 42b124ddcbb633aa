from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from selflearn.logs.records import NluHypothesis, Slot
from selflearn.simulate.slurp_goals import (
    SlurpGoals,
    interpretation_matches,
    template_from_annotation,
)

DEVEL = Path(__file__).resolve().parents[3] / "shared" / "data" / "slurp" / "devel.jsonl"


def record(sid: int, annotation: str, scenario: str, action: str, recordings: int = 2) -> dict[str, Any]:
    """A SLURP-format line built from an inline annotation (tokens split on spaces)."""
    import re

    parts = re.split(r"(\[[^\]]*\])", annotation)
    tokens: list[str] = []
    entities = []
    for p in parts:
        if p.startswith("["):
            t, _, v = p[1:-1].partition(":")
            words = v.split()
            entities.append({"type": t.strip(), "span": list(range(len(tokens), len(tokens) + len(words)))})
            tokens += words
        else:
            tokens += p.split()
    return {
        "slurp_id": sid,
        "sentence": " ".join(tokens),
        "sentence_annotation": annotation,
        "intent": f"{scenario}_{action}",
        "scenario": scenario,
        "action": action,
        "tokens": [{"surface": w, "id": i, "lemma": w, "pos": "X"} for i, w in enumerate(tokens)],
        "entities": entities,
        "recordings": [
            {"file": f"audio-{sid}-{k}.flac", "wer": 0.0, "status": "correct"} for k in range(recordings)
        ],
    }


RECORDS = [
    record(1, "wake me up at [time : five am] [date : tomorrow]", "alarm", "set"),
    record(2, "set an alarm for [date : friday] at [time : seven]", "alarm", "set"),
    record(3, "please set an alarm at [time : noon]", "alarm", "set"),
    record(4, "[time : six thirty] alarm [date : monday] please", "alarm", "set", recordings=1),
    record(5, "what's the weather like in [place_name : paris]", "weather", "query"),
    record(6, "will it rain in [place_name : london] [date : today]", "weather", "query"),
    record(7, "turn the lights off", "iot", "hue_lightoff", recordings=0),
    record(8, "switch off the lights please", "iot", "hue_lightoff"),
    record(9, "play [song_name : yesterday] by [artist_name : the beatles]", "play", "music"),
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_goals_carry_gold_label_slots_and_recordings(tmp_path: Path) -> None:
    goals = SlurpGoals.from_file(write_jsonl(tmp_path / "g.jsonl", RECORDS), seed=3)
    assert len(goals) == len(RECORDS)
    g1 = next(g for g in goals.goals if g.slurp_id == 1)
    assert g1.intent == "alarm_set"
    assert g1.sentence == "wake me up at five am tomorrow"
    assert g1.slots == (("time", "five am"), ("date", "tomorrow"))
    assert g1.recordings == ("audio-1-0.flac", "audio-1-1.flac")
    music = next(g for g in goals.goals if g.slurp_id == 9)
    assert music.intent == "play_music"  # scenario_action, as SLURP scores it


def test_zipf_popularity_is_seeded_and_skewed(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "g.jsonl", RECORDS)
    a, b = SlurpGoals.from_file(path, seed=0), SlurpGoals.from_file(path, seed=0)
    assert [g.weight for g in a.goals] == [g.weight for g in b.goals]
    weights = sorted((g.weight for g in a.goals), reverse=True)
    assert weights[0] > 4 * weights[-1]
    rng = random.Random(0)
    counts = Counter(a.sample(rng).slurp_id for _ in range(3000))
    top = max(a.goals, key=lambda g: g.weight)
    assert counts.most_common(1)[0][0] == top.slurp_id


def test_template_filling_uses_the_goals_values() -> None:
    tpl = template_from_annotation("set an alarm for [date : friday] at [time : seven]", "alarm_set", 2)
    assert tpl is not None
    assert tpl.fits((("time", "five am"), ("date", "tomorrow")))
    assert tpl.fill((("time", "five am"), ("date", "tomorrow"))) == "set an alarm for tomorrow at five am"
    assert not tpl.fits((("time", "noon"),))
    with pytest.raises(ValueError):
        tpl.fill((("time", "noon"),))
    # Two holes of one type are filled in the goal's order.
    two = template_from_annotation("from [place_name : a] to [place_name : b]", "x", 0)
    assert (
        two is not None and two.fill((("place_name", "rome"), ("place_name", "oslo"))) == "from rome to oslo"
    )
    assert template_from_annotation("broken [time five]", "x") is None


def test_paraphrases_only_from_templates_with_equal_slot_types(tmp_path: Path) -> None:
    goals = SlurpGoals.from_file(write_jsonl(tmp_path / "g.jsonl", RECORDS))
    g1 = next(g for g in goals.goals if g.slurp_id == 1)
    paras = goals.paraphrases(g1)
    # records 2 and 4 have {time, date}; record 3 has only time; its own template is excluded.
    assert sorted(paras) == ["five am alarm tomorrow please", "set an alarm for tomorrow at five am"]
    lights = next(g for g in goals.goals if g.slurp_id == 7)
    assert goals.paraphrases(lights) == ["switch off the lights please"]
    music = next(g for g in goals.goals if g.slurp_id == 9)
    assert goals.paraphrases(music) == []  # no other play_music request


def test_recording_binding_is_per_user_and_stable(tmp_path: Path) -> None:
    goals = SlurpGoals.from_file(write_jsonl(tmp_path / "g.jsonl", RECORDS))
    g1 = next(g for g in goals.goals if g.slurp_id == 1)
    bound = {goals.recording_for(f"u{i}", g1) for i in range(40)}
    assert bound == set(g1.recordings)  # different people read it in different recordings
    assert goals.recording_for("u1", g1) == goals.recording_for("u1", g1)
    assert goals.recording_for("u1", next(g for g in goals.goals if g.slurp_id == 7)) is None


def test_judging_rule_intent_and_normalized_slot_multiset() -> None:
    gold = (("time", "Five AM"), ("date", "tomorrow"))

    def hyp(intent: str, *slots: tuple[str, str]) -> NluHypothesis:
        return NluHypothesis(intent=intent, confidence=0.9, slots=[Slot(name=n, value=v) for n, v in slots])

    assert interpretation_matches(
        hyp("alarm_set", ("date", "tomorrow"), ("time", "five am.")), "alarm_set", gold
    )
    assert not interpretation_matches(
        hyp("alarm_query", ("date", "tomorrow"), ("time", "five am")), "alarm_set", gold
    )
    assert not interpretation_matches(hyp("alarm_set", ("time", "five am")), "alarm_set", gold)  # missing
    assert not interpretation_matches(
        hyp("alarm_set", ("time", "five am"), ("date", "tomorrow"), ("date", "tomorrow")), "alarm_set", gold
    )  # extra slot: multisets differ
    assert not interpretation_matches(
        hyp("alarm_set", ("date", "five am"), ("time", "tomorrow")), "alarm_set", gold
    )
    assert not interpretation_matches(None, "alarm_set", gold)
    assert interpretation_matches(hyp("iot_hue_lightoff"), "iot_hue_lightoff", ())
    # Word boundaries inside a value do not change its meaning; other letters do.
    room = (("house_place", "bed room"),)
    assert interpretation_matches(
        hyp("iot_hue_lightoff", ("house_place", "bedroom")), "iot_hue_lightoff", room
    )
    assert not interpretation_matches(
        hyp("iot_hue_lightoff", ("house_place", "bathroom")), "iot_hue_lightoff", room
    )


@pytest.mark.skipif(not DEVEL.exists(), reason="../shared/data/slurp/devel.jsonl is not here")
def test_devel_goals_and_templates() -> None:
    goals = SlurpGoals.from_file(DEVEL)
    assert len(goals) > 1000
    assert all(g.intent.count("_") >= 1 for g in goals.goals)
    assert sum(bool(g.recordings) for g in goals.goals) > 0.9 * len(goals)
    with_paras = [g for g in goals.goals if goals.paraphrases(g)]
    assert len(with_paras) > 0.5 * len(goals)
    for g in with_paras[:200]:
        for text in goals.paraphrases(g):
            for _t, v in g.slots:
                assert v.lower() in text  # every gold value is said in the paraphrase


def test_slurp_followups_are_other_requests_of_the_same_intent_or_scenario(tmp_path: Path) -> None:
    from selflearn.simulate.slurp_traffic import SlurpSimulator
    from selflearn.simulate.traffic import SimConfig

    goals = SlurpGoals.from_file(write_jsonl(tmp_path / "g.jsonl", RECORDS))
    sim = SlurpSimulator(SimConfig(users=2, seed=0, realistic_sessions=True), goals)
    hh = sim.households[0]
    user, endpoint = hh.users[0], hh.endpoints[0]
    rng = random.Random(0)
    by_id = {g.slurp_id: g for g in goals.goals}
    seen = Counter()
    for _ in range(200):
        prev = by_id[1]  # alarm_set: three other alarm_set requests, no other alarm intent
        nxt = sim.source.followup(hh, user, endpoint, prev, rng)
        assert nxt is not None and nxt.slurp_id != 1 and nxt.intent == "alarm_set"
        seen[nxt.slurp_id] += 1
    assert set(seen) == {2, 3, 4}
    # weather_query has one other request of its intent; a lone intent falls back to its scenario.
    assert sim.source.followup(hh, user, endpoint, by_id[5], rng).slurp_id == 6
    assert sim.source.followup(hh, user, endpoint, by_id[9], rng) is None  # nothing related


def test_same_meaning_paraphrases_of_slotless_goals_share_a_content_word(tmp_path: Path) -> None:
    rows = [
        *RECORDS,
        record(20, "where is stonehenge", "qa", "factoid"),
        record(21, "when was the statue of liberty made", "qa", "factoid"),
    ]
    goals = SlurpGoals.from_file(write_jsonl(tmp_path / "g.jsonl", rows))
    by_id = {g.slurp_id: g for g in goals.goals}
    # Any slot-less request of a broad intent fits; only same_meaning tells the questions apart.
    assert goals.paraphrases(by_id[20]) == ["when was the statue of liberty made"]
    assert goals.paraphrases(by_id[20], same_meaning=True) == []
    assert goals.paraphrases(by_id[8], same_meaning=True) == ["turn the lights off"]
    # Goals with slots keep every fitting template: their values carry the meaning.
    assert goals.paraphrases(by_id[2], same_meaning=True) == goals.paraphrases(by_id[2])
