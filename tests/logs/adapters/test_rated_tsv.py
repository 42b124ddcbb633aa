"""The rated-TSV adapter: parsing, majority-vote defect labels, Turn records, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from selflearn.logs.adapters.rated_tsv import (
    RatedTsvError,
    defect_labels,
    parse_rated_tsv,
    read_rated_tsv,
    to_turns,
)
from selflearn.logs.records import Turn

DATA = Path(__file__).parent / "data" / "rated_dialogues.tsv"


def test_reads_dialogues_turns_and_responses() -> None:
    dialogues = read_rated_tsv(DATA)
    assert [d.dialogue_id for d in dialogues] == ["rated_dialogues:1", "rated_dialogues:2"]
    first = dialogues[0]
    assert first.preamble == ["Hello, how can I help?"]
    assert [t.user_text for t in first.turns] == [
        "I need a cheap hotel in the north",
        "that is not what I asked for",
        "great, book it for two nights",
        "thanks, bye",
    ]
    assert first.turns[0].system_text == "There are no hotels matching."
    assert first.turns[0].ratings == [3, 3, 3]
    assert dialogues[1].turns[0].ratings == []


def test_majority_low_rating_marks_previous_system_turn() -> None:
    d1, d2 = read_rated_tsv(DATA)
    # "that is not what I asked for" is rated 2,1,3: the answer before it was a defect.
    assert [t.defect for t in d1.turns] == [True, False, False, None]
    # 1,2,5,2 -> 3 of 4 low: defect; 3,2,4,3 -> 1 of 4 low: fine; the last turn has no label.
    assert [t.defect for t in d2.turns] == [True, False, None]
    labels = defect_labels([d1, d2])
    assert labels == {
        "rated_dialogues:1:0": True,
        "rated_dialogues:1:1": False,
        "rated_dialogues:1:2": False,
        "rated_dialogues:2:0": True,
        "rated_dialogues:2:1": False,
    }


def test_tie_is_not_a_majority() -> None:
    (d,) = parse_rated_tsv(["USER\ta\tx\t\n", "SYSTEM\tb\ty\n", "USER\tc\tx\t1,5\n", "SYSTEM\td\ty\n"])
    assert d.turns[0].defect is False


def test_turn_records_follow_the_contract() -> None:
    dialogues = read_rated_tsv(DATA)
    turns = to_turns(dialogues)
    assert len(turns) == 7
    t = turns[1]
    assert isinstance(t, Turn)
    assert t.turn_id == "rated_dialogues:1:1"
    assert t.session_id == "rated_dialogues:1"
    assert t.text == "that is not what I asked for"
    assert t.response.text == "Sorry, I found the Acorn guest house in the north."
    assert t.nlu.top is not None and t.nlu.top.intent == "negate"
    assert turns[2].timestamp > turns[1].timestamp
    # Round trip through the contract's JSON.
    assert Turn.model_validate_json(t.model_dump_json()) == t


@pytest.mark.parametrize(
    ("line", "field", "lineno"),
    [
        ("USER\thello\tinform\t3,x,3", "ratings", 2),
        ("USER\thello\tinform\t3,6", "ratings", 2),
        ("BOT\thello\tinform\t3", "role", 2),
        ("USER\thello", "line", 2),
        ("USER\t\tinform\t3", "text", 2),
    ],
)
def test_bad_lines_name_line_and_field(line: str, field: str, lineno: int) -> None:
    with pytest.raises(RatedTsvError) as err:
        parse_rated_tsv(["SYSTEM\thi\tgreet\n", line + "\n"], source="x.tsv")
    assert err.value.line == lineno
    assert err.value.field == field
    assert f"x.tsv:{lineno}" in str(err.value) and repr(field) in str(err.value)


def test_an_overall_line_rates_the_dialogue_not_a_turn() -> None:
    (d,) = parse_rated_tsv(
        [
            "USER\tbook a table\tinform\t\n",
            "SYSTEM\tdone\tbook\n",
            "USER\tthanks\tthank\t4,4\n",
            "SYSTEM\tbye\tbye\n",
            "USER\tOVERALL\t\t2,3,2\n",
        ]
    )
    assert [t.user_text for t in d.turns] == ["book a table", "thanks"]
    assert d.overall == [2, 3, 2]
    assert [t.defect for t in d.turns] == [False, None]  # the last turn stays unlabelled


def test_consecutive_user_lines_are_one_turn() -> None:
    (d,) = parse_rated_tsv(
        [
            "USER\tI want a hotel\tinform\t\n",
            "USER\tin the north\tinform\t\n",
            "SYSTEM\tThe Acorn?\trequest\n",
            "USER\tno\tnegate\t1,1,2\n",
        ]
    )
    assert [t.user_text for t in d.turns] == ["I want a hotel in the north", "no"]
    assert d.turns[0].system_text == "The Acorn?" and d.turns[0].defect is True


def test_a_missing_system_action_is_unknown_not_failed() -> None:
    (d,) = parse_rated_tsv(["USER\thi\tgreet\t\n", "SYSTEM\thello there\t\n", "USER\tok\tack\t4\n"])
    turns = to_turns([d])
    assert turns[0].action.status == "unknown" and turns[0].action.name is None
    assert turns[1].action.status == "unknown"  # no system line at all


def test_with_an_errors_list_a_bad_line_is_skipped_and_the_rest_kept() -> None:
    errors: list[RatedTsvError] = []
    dialogues = parse_rated_tsv(
        ["USER\ta\tx\t\n", "SYSTEM\tb\ty\n", "USER\tc\tx\t3,9\n", "BOT\tz\n", "USER\td\tx\t2,2\n"],
        source="f.tsv",
        errors=errors,
    )
    assert [(e.line, e.field) for e in errors] == [(3, "ratings"), (4, "line")]
    assert [t.user_text for t in dialogues[0].turns] == ["a", "d"]
