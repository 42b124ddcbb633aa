"""SLURP-format reader: typed records, character spans, named errors, id split, inline annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selflearn.corpora.slurp import (
    SlurpFormatError,
    SlurpRecord,
    align_tokens,
    iter_slurp,
    parse_annotation,
    parse_record,
    read_slurp,
    split_by_id,
    to_examples,
)

DEVEL = Path(__file__).parents[2] / "../shared/data/slurp/devel.jsonl"


def _tok(words: list[str]) -> list[dict[str, Any]]:
    return [{"surface": w, "id": i, "lemma": w.lower(), "pos": "X"} for i, w in enumerate(words)]


def _rec(
    slurp_id: int,
    sentence: str,
    tokens: list[str],
    entities: list[tuple[str, list[int]]],
    scenario: str = "calendar",
    action: str = "query",
    **extra: Any,
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "slurp_id": slurp_id,
        "sentence": sentence,
        "sentence_annotation": sentence,
        "intent": f"{scenario}_{action}",
        "scenario": scenario,
        "action": action,
        "tokens": _tok(tokens),
        "entities": [{"type": t, "span": s} for t, s in entities],
        "recordings": [{"file": f"audio-{slurp_id}.flac", "wer": 0.25, "ent_wer": None, "status": "correct"}],
    }
    rec.update(extra)
    return rec


GOOD = [
    _rec(
        1,
        "wake me up at five am this week",
        ["wake", "me", "up", "at", "five", "am", "this", "week"],
        [("time", [4, 5]), ("date", [6, 7])],
        scenario="alarm",
        action="set",
        sentence_annotation="wake me up at [time : five am] [date : this week]",
    ),
    # clitics split by the tokenizer, a capitalised token, an entity ending before "'s"
    _rec(
        2,
        "what's on john's calendar friday",
        ["what", "'s", "on", "john", "'s", "calendar", "Friday"],
        [("person", [3]), ("date", [6])],
        sentence_annotation="what's on [person : john]'s calendar [date : Friday]",
    ),
    # tokens spelled differently from the sentence: aligned by characters
    _rec(
        3,
        "find thai food around grass market",
        ["find", "thai", "food", "around", "grassmarket"],
        [("food_type", [1]), ("place_name", [4])],
        scenario="takeaway",
        action="query",
    ),
    # SLURP's intent field sometimes holds only the action; label is scenario_action
    _rec(
        4, "play some jazz", ["play", "some", "jazz"], [("music_genre", [2])], scenario="play", action="music"
    )
    | {"intent": "music"},
]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "sample.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_good_records_become_typed_records_with_character_spans(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps(r) for r in GOOD])
    got = read_slurp(path)
    assert got.errors == []
    assert [r.slurp_id for r in got.records] == [1, 2, 3, 4]
    alarm, cal, food, music = got.records
    assert isinstance(alarm, SlurpRecord) and alarm.label == alarm.intent == "alarm_set"
    assert [(e.type, e.value, e.token_span) for e in alarm.entities] == [
        ("time", "five am", (4, 5)),
        ("date", "this week", (6, 7)),
    ]
    assert [(e.type, e.value) for e in cal.entities] == [("person", "john"), ("date", "friday")]
    assert [(e.type, e.value) for e in food.entities] == [
        ("food_type", "thai"),
        ("place_name", "grass market"),
    ]
    for r in got.records:
        for e in r.entities:
            assert r.sentence[e.start : e.end] == e.value
    assert music.intent == "music" and music.label == "play_music"
    rec = alarm.recordings[0]
    assert (rec.file, rec.wer, rec.ent_wer, rec.status) == ("audio-1.flac", 0.25, None, "correct")
    assert alarm.tokens[0].surface == "wake" and alarm.tokens[0].lemma == "wake"


def test_malformed_lines_are_named_and_the_rest_is_kept(tmp_path: Path) -> None:
    bad_span = _rec(11, "turn it up", ["turn", "it", "up"], [("x", [5])])
    gap_span = _rec(12, "turn it up", ["turn", "it", "up"], [("x", [0, 2])])
    no_sentence = _rec(13, "x", ["x"], [])
    del no_sentence["sentence"]
    bool_id = _rec(14, "x", ["x"], [])
    bool_id["slurp_id"] = True
    bad_token_id = _rec(15, "a b", ["a", "b"], [])
    bad_token_id["tokens"][1]["id"] = 7
    bad_wer = _rec(16, "a", ["a"], [])
    bad_wer["recordings"][0]["wer"] = "high"
    lines = [
        json.dumps(GOOD[0]),
        "{not json",
        json.dumps(bad_span),
        "",  # blank lines are not records
        json.dumps(gap_span),
        json.dumps(no_sentence),
        json.dumps(bool_id),
        json.dumps(bad_token_id),
        json.dumps(bad_wer),
        json.dumps([1, 2]),
        json.dumps(GOOD[1]),
    ]
    path = _write(tmp_path, lines)
    got = read_slurp(path)
    assert [r.slurp_id for r in got.records] == [1, 2]
    where = [(e.line, e.field) for e in got.errors]
    assert where == [
        (2, "<line>"),
        (3, "entities[0].span"),
        (5, "entities[0].span"),
        (6, "sentence"),
        (7, "slurp_id"),
        (8, "tokens[1].id"),
        (9, "recordings[0].wer"),
        (10, "<line>"),
    ]
    assert all(e.path == str(path) for e in got.errors)
    assert "missing" in got.errors[3].message
    text = str(got.errors[1])
    assert str(path) in text and ":3:" in text and "entities[0].span" in text

    # without an error list the first bad line raises, naming where it is
    with pytest.raises(SlurpFormatError) as exc:
        list(iter_slurp(path))
    assert exc.value.error.line == 2 and str(path) in str(exc.value)
    # with one, reading streams on
    errors: list[Any] = []
    assert len(list(iter_slurp(path, errors=errors))) == 2 and len(errors) == 8


def test_parse_record_reports_the_field() -> None:
    with pytest.raises(SlurpFormatError, match="scenario"):
        parse_record({"slurp_id": 1, "sentence": "hi", "action": "greet"})
    r = parse_record({"slurp_id": "7", "sentence": "hi", "scenario": "general", "action": "greet"})
    assert (r.slurp_id, r.intent, r.tokens, r.entities, r.recordings) == (7, "general_greet", (), (), ())


def test_align_tokens_handles_case_clitics_and_spelling() -> None:
    s = "i can't see robert's phone"
    assert [s[a:b] for a, b in align_tokens(s, ["I", "ca", "n't", "see", "robert", "'s", "phone"])] == [
        "i",
        "ca",
        "n't",
        "see",
        "robert",
        "'s",
        "phone",
    ]
    s = "tell me about rihanna in grass market"
    spans = align_tokens(s, ["tell", "me", "about", "rihana", "in", "grassmarket"])
    assert [s[a:b] for a, b in spans] == ["tell", "me", "about", "rihanna", "in", "grass market"]


def test_to_examples_uses_label_and_sentence_spans(tmp_path: Path) -> None:
    records = read_slurp(_write(tmp_path, [json.dumps(r) for r in GOOD])).records
    ex = to_examples(records)
    assert [e.intent for e in ex] == ["alarm_set", "calendar_query", "takeaway_query", "play_music"]
    assert [(s.name, s.value) for s in ex[2].slots] == [("food_type", "thai"), ("place_name", "grass market")]
    assert all(e.text[s.start : s.end] == s.value for e in ex for s in e.slots)
    assert to_examples(records, intent="intent")[3].intent == "music"


def test_split_by_id_is_deterministic_disjoint_and_order_free() -> None:
    records = [SlurpRecord(i, f"request {i}", "a_b", "a", "b") for i in range(2000)]
    train, valid = split_by_id(records, seed=0, valid_fraction=0.2)
    assert len(train) + len(valid) == 2000
    assert {r.slurp_id for r in train}.isdisjoint({r.slurp_id for r in valid})
    assert 0.17 < len(valid) / 2000 < 0.23
    _, valid2 = split_by_id(list(reversed(records)), seed=0, valid_fraction=0.2)
    assert {r.slurp_id for r in valid2} == {r.slurp_id for r in valid}
    _, valid3 = split_by_id(records, seed=1, valid_fraction=0.2)
    assert {r.slurp_id for r in valid3} != {r.slurp_id for r in valid}
    # a larger fraction only adds records to valid (the same hash decides)
    _, bigger = split_by_id(records, seed=0, valid_fraction=0.4)
    assert {r.slurp_id for r in valid} < {r.slurp_id for r in bigger}
    with pytest.raises(ValueError):
        split_by_id(records, valid_fraction=1.5)


def test_parse_annotation() -> None:
    text, slots = parse_annotation("wake me up at [time : five am] [date : this week]")
    assert text == "wake me up at five am this week"
    assert [(s.name, s.value, text[s.start : s.end]) for s in slots] == [
        ("time", "five am", "five am"),
        ("date", "this week", "this week"),
    ]
    assert parse_annotation("no entities here") == ("no entities here", ())
    assert parse_annotation("at [time : 5:30 pm]")[1][0].value == "5:30 pm"
    for bad in ["a [time : five", "a ] b", "[no colon]", "[time : ]", "[a : [b : c]]"]:
        with pytest.raises(ValueError):
            parse_annotation(bad)


_word = st.text(alphabet="abcdefghij '", min_size=1, max_size=8).filter(lambda w: w.strip() == w)


@given(
    st.lists(
        st.tuples(_word, st.one_of(st.none(), st.sampled_from(["time", "date", "place_name"]))), max_size=8
    )
)
def test_parse_annotation_round_trips(parts: list[tuple[str, str | None]]) -> None:
    annotation = " ".join(f"[{t} : {w}]" if t else w for w, t in parts)
    text, slots = parse_annotation(annotation)
    assert text == " ".join(w for w, _ in parts)
    assert [(s.name, s.value) for s in slots] == [(t, w) for w, t in parts if t]
    assert all(text[s.start : s.end] == s.value for s in slots)


@pytest.mark.skipif(not DEVEL.exists(), reason="shared SLURP devel file not present")
def test_devel_reads_cleanly_and_annotations_agree_with_token_spans() -> None:
    got = read_slurp(DEVEL)
    assert got.errors == [] and len(got.records) > 100
    n = agree_tokens = agree_sentence = 0
    for r in got.records:
        assert r.sentence_annotation is not None
        _, slots = parse_annotation(r.sentence_annotation)
        # same entities, same types, same order
        assert [s.name for s in slots] == [e.type for e in r.entities], r.sentence_annotation
        for s, e in zip(slots, r.entities, strict=True):
            n += 1
            assert r.sentence[e.start : e.end] == e.value
            # the annotation keeps the typist's case and the tokens' spelling ...
            tokens = "".join(r.tokens[i].surface for i in e.token_span).lower()
            agree_tokens += s.value.replace(" ", "").lower() == tokens
            # ... which the lower-case sentence sometimes respells ("grassmarket", "grass market")
            agree_sentence += s.value.lower() == e.value
    # a handful of gold token spans take a comma along, a handful of sentences respell a name
    assert agree_tokens / n > 0.995
    assert agree_sentence / n > 0.99
    ex = to_examples(got.records)
    assert len(ex) == len(got.records) and all(
        e.text == r.sentence for e, r in zip(ex, got.records, strict=True)
    )


def test_slurp_domain_has_one_intent_per_label_with_its_entity_types() -> None:
    from selflearn.contracts.domain import SlotType
    from selflearn.corpora.slurp import parse_record, slurp_domain

    recs = [
        parse_record(
            _rec(1, "wake me up at five", ["wake", "me", "up", "at", "five"], [("time", [4])], "alarm", "set")
        ),
        parse_record(_rec(2, "buy milk", ["buy", "milk"], [("item", [1])], "lists", "purchase")),
    ]
    d = slurp_domain(recs)
    assert [i.name for i in d.intents] == ["alarm_set", "lists_purchase"]
    assert d.intent("alarm_set").slot("time").type is SlotType.ITEM  # type: ignore[union-attr]
    assert d.protected == frozenset({"lists_purchase"})
