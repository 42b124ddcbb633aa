from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from selflearn.logs.io import iter_raw_records
from selflearn.logs.validate import JSON_FIELD, MAX_RECORD_BYTES, RECORD_FIELD, RecordError, validate_records

from .strategies import make_turn

_DELETE = object()


def _set(d: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = d
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


# (path to mutate, invalid value, field the error must name, words the message must contain)
MUTATIONS = [
    ("asr.nbest.0.confidence", 1.5, "asr.nbest.0.confidence", "less than or equal to 1"),
    ("wake.score", -0.1, "wake.score", "greater than or equal to 0"),
    ("turn_id", "", "turn_id", "at least 1 character"),
    ("user_id", _DELETE, "user_id", "Field required"),
    ("timestamp", "2025-01-01T00:00:00", "timestamp", "timezone-aware"),
    ("timestamp", "yesterday", "timestamp", "valid datetime"),
    ("device.type", "fridge", "device.type", "Input should be"),
    ("nlu.nbest.0.slots.0.start", -1, "nlu.nbest.0.slots.0.start", "greater than or equal to 0"),
    ("nlu.nbest.1.intent", "", "nlu.nbest.1.intent", "at least 1 character"),
    ("context.device_states.0.state.on", 5, "context.device_states.0.state.on", "valid string"),
    ("resolution.entities.1.score", 2, "resolution.entities.1.score", "less than or equal to 1"),
    ("feedback.explicit", "meh", "feedback.explicit", "Input should be"),
    ("feedback.barge_in_offset_ms", -5, "feedback.barge_in_offset_ms", "greater than or equal to 0"),
    ("response.duration_ms", "abc", "response.duration_ms", "valid integer"),
    ("schema_version", "2.0", "schema_version", "unsupported schema version"),
    ("latency_ms", -1.0, "latency_ms", "greater than or equal to 0"),
    ("rewrite", {"original": "a", "rewritten": "b"}, "rewrite.rule_id", "Field required"),
    ("surprise", 1, "surprise", "Extra inputs are not permitted"),
    ("action.changes", "x", "action.changes", "valid array"),
    # Strict: nothing is coerced from a string, a version is MAJOR.MINOR, a timestamp must fit.
    ("device.has_screen", "yes", "device.has_screen", "valid boolean"),
    ("latency_ms", "0.5", "latency_ms", "valid number"),
    ("turn_index", True, "turn_index", "valid integer"),
    ("schema_version", "1.0-evil", "schema_version", "not MAJOR.MINOR"),
    ("timestamp", "0001-01-01T00:00:00+05:00", "timestamp", "out of range"),
    # Numbers the model accepts but storage cannot hold.
    ("latency_ms", float("inf"), "latency_ms", "finite"),
    ("turn_index", 2**70, "turn_index", "64-bit"),
]


def _records(lines: list[str]) -> list[tuple[int, str]]:
    return [(i, line) for i, line in enumerate(lines, start=1)]


@pytest.mark.parametrize(("path", "value", "field", "words"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_mutated_field_is_named_with_its_line_and_good_records_kept(
    path: str, value: Any, field: str, words: str
) -> None:
    good = [make_turn(i) for i in (1, 3, 5, 7)]
    bad = make_turn(9).to_json_dict()
    _set(bad, path, value)
    lines = [good[0].model_dump_json(), good[1].model_dump_json(), json.dumps(bad)]
    lines += [t.model_dump_json() for t in good[2:]]
    result = validate_records("logs.jsonl", _records(lines))
    assert result.good == good
    assert result.good_lines == [1, 2, 4, 5]
    assert [(e.line, e.field) for e in result.errors] == [(3, field)]
    assert words in result.errors[0].message
    assert result.errors[0].raw == json.loads(json.dumps(bad))
    assert result.n_records == 5 and result.n_bad == 1


def test_error_message_format() -> None:
    bad = make_turn(1).to_json_dict()
    bad["asr"]["nbest"][0]["confidence"] = 1.5
    lines = [make_turn(i).model_dump_json() for i in range(16)] + [json.dumps(bad)]
    result = validate_records("logs.jsonl", _records(lines))
    assert [str(e) for e in result.errors] == [
        "logs.jsonl:17: field 'asr.nbest.0.confidence': Input should be less than or equal to 1"
    ]


def test_several_broken_fields_give_several_errors_for_one_record() -> None:
    bad = make_turn(1).to_json_dict()
    bad["wake"]["score"] = 7
    bad["session_id"] = ""
    result = validate_records("x", [(1, bad)])
    assert sorted(e.field for e in result.errors) == ["session_id", "wake.score"]
    assert result.n_bad == 1 and result.bad_lines == [1]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"a": 1', "invalid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        ("42", "expected a JSON object, got int"),
    ],
)
def test_unparseable_lines_are_json_errors(line: str, message: str) -> None:
    result = validate_records("f.jsonl", [(1, make_turn(0).model_dump_json()), (2, line)])
    assert len(result.good) == 1
    (err,) = result.errors
    assert (err.line, err.field, err.raw) == (2, JSON_FIELD, line)
    assert message in err.message


def test_invalid_utf8_is_a_json_error() -> None:
    result = validate_records("f.jsonl", [(5, b'{"turn_id": "\xff"}')])
    assert [(e.line, e.field) for e in result.errors] == [(5, JSON_FIELD)]
    assert "UTF-8" in result.errors[0].message


def test_duplicate_turn_id_first_kept() -> None:
    a, b = make_turn(1), make_turn(2)
    dup = make_turn(3, turn_id=a.turn_id)
    result = validate_records("f", _records([t.model_dump_json() for t in (a, b, dup)]))
    assert result.good == [a, b]
    (err,) = result.errors
    assert (err.line, err.field) == (3, "turn_id")
    assert "duplicate turn_id 't00001' (first seen at line 1)" in err.message


def test_dict_records_and_whole_record_errors() -> None:
    result = validate_records("rows", [(1, make_turn(0).to_json_dict()), (2, {})])
    assert len(result.good) == 1
    assert {e.field for e in result.errors} >= {"turn_id", "timestamp"}
    assert RecordError("s", 1, RECORD_FIELD, "m").raw == ""


def test_validate_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs.jsonl"
    bad = make_turn(2).to_json_dict()
    bad["nlu"]["nbest"][0]["confidence"] = "high"
    path.write_text(
        "\n".join([make_turn(1).model_dump_json(), "", json.dumps(bad), "oops"]) + "\n", encoding="utf-8"
    )
    result = validate_records(path.name, iter_raw_records(path))
    assert [str(e).split(":", 3)[:3] for e in result.errors] == [
        ["logs.jsonl", "3", " field 'nlu.nbest.0.confidence'"],
        ["logs.jsonl", "4", " field '<json>'"],
    ]


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        (b'{"turn_id": "\\udc80"}', JSON_FIELD, "surrogate"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", JSON_FIELD, "nested too deeply"),
        (b'{"a": "' + b"x" * (MAX_RECORD_BYTES + 1) + b'"}', RECORD_FIELD, "the limit is"),
    ],
    ids=["lone surrogate", "deep nesting", "too large"],
)
def test_hostile_lines_are_errors_of_their_own_record(line: bytes, field: str, words: str) -> None:
    good = make_turn(1)
    result = validate_records("f.jsonl", [(1, line), (2, good.model_dump_json())])
    assert result.good == [good]
    (err,) = result.errors
    assert (err.line, err.field) == (1, field)
    assert words in err.message


def test_lone_surrogate_in_a_parsed_record_is_named() -> None:
    bad = make_turn(2).to_json_dict()
    bad["user_id"] = "u\udc80"
    result = validate_records("rows", [(1, bad), (2, make_turn(3).to_json_dict())])
    assert len(result.good) == 1
    assert [(e.line, e.field) for e in result.errors] == [(1, "user_id")]
    assert "unicode" in result.errors[0].message


def test_an_unforeseen_exception_is_isolated_to_its_record(monkeypatch: pytest.MonkeyPatch) -> None:
    import selflearn.logs.validate as validate

    real = validate._storage_problems

    def explode(obj: Any, path: str) -> Any:
        if getattr(obj, "turn_id", "") == "t00002":
            raise OverflowError("boom")
        return real(obj, path)

    monkeypatch.setattr(validate, "_storage_problems", explode)
    lines = [make_turn(i).model_dump_json() for i in (1, 2, 3)]
    result = validate_records("f.jsonl", _records(lines))
    assert [t.turn_id for t in result.good] == ["t00001", "t00003"]
    (err,) = result.errors
    assert (err.line, err.field) == (2, RECORD_FIELD)
    assert "OverflowError: boom" in err.message
