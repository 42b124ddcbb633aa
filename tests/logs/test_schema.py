from __future__ import annotations

import types
import typing
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel

from selflearn.logs.flat import FLAT_SCHEMA, flatten_turns
from selflearn.logs.records import SCHEMA_VERSION, Turn
from selflearn.logs.schema import (
    SCHEMA_VERSION_KEY,
    TURN_SCHEMA,
    check_schema_version,
    column_paths,
    flatten_table,
    schema_for_version,
    table_to_turns,
    turns_to_table,
)

from .strategies import make_turn, turn_lists


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (`X`, `X | None`, `list[X]`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        m = _model_of(arg)
        if m is not None:
            return m
    return None


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is list:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return False


def _record_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        out.add(path)
        sub = _model_of(info.annotation)
        if sub is not None:
            out |= _record_paths(sub, path + ("[]" if _is_list(info.annotation) else ""))
    return out


def test_every_record_field_has_a_column_and_no_extra_columns() -> None:
    record = _record_paths(Turn)
    arrow = column_paths(TURN_SCHEMA)
    assert record - arrow == set(), "fields of records.Turn missing from TURN_SCHEMA"
    assert arrow - record == set(), "columns of TURN_SCHEMA that records.Turn does not have"
    assert "nlu.nbest[].slots[].start" in arrow  # the walk reaches the deepest level


def test_nullability_follows_optional_fields() -> None:
    for name, info in Turn.model_fields.items():
        optional = type(None) in typing.get_args(info.annotation)
        assert TURN_SCHEMA.field(name).nullable == optional, name


def test_schema_version_in_metadata() -> None:
    assert TURN_SCHEMA.metadata[SCHEMA_VERSION_KEY] == SCHEMA_VERSION.encode()
    assert check_schema_version(TURN_SCHEMA) == SCHEMA_VERSION
    assert check_schema_version(schema_for_version("1.7")) == "1.7"  # same major: readable
    with pytest.raises(ValueError, match=r"unsupported schema version '2\.0'"):
        check_schema_version(schema_for_version("2.0"))
    with pytest.raises(ValueError, match=r"no 'selflearn\.schema_version'"):
        check_schema_version(TURN_SCHEMA.remove_metadata())


def test_table_records_turns_version_and_rejects_mixed_versions() -> None:
    table = turns_to_table([make_turn(0, schema_version="1.3")])
    assert table.schema.metadata[SCHEMA_VERSION_KEY] == b"1.3"
    with pytest.raises(ValueError, match="several schema versions"):
        turns_to_table([make_turn(0), make_turn(1, schema_version="1.3")])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turn_lists())
def test_arrow_round_trip(turns: list[Turn]) -> None:
    table = turns_to_table(turns)
    assert table.schema.equals(TURN_SCHEMA)
    assert list(table_to_turns(table, batch_size=3)) == turns


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turn_lists())
def test_flatten_table_equals_flatten_turns(turns: list[Turn]) -> None:
    flat = flatten_table(turns_to_table(turns))
    expected = flatten_turns(turns)
    assert flat.schema.equals(FLAT_SCHEMA)
    assert flat.to_pylist() == expected.to_pylist()


def test_flatten_table_examples_across_batches() -> None:
    turns = [make_turn(i) for i in range(40)]
    table = pa.concat_tables([turns_to_table(turns[:13]), turns_to_table(turns[13:])])
    flat = flatten_table(table)
    assert flat.equals(flatten_turns(turns))
    row = flat.slice(6, 1).to_pylist()[0]  # i=6: no NLU n-best, an nlu-no-intent error
    assert row["nlu_intent"] is None and row["nlu_confidence"] == 0.0
    assert row["error_codes"] == ["nlu-no-intent"]
    assert flat.column("asr_margin")[0].as_py() == pytest.approx(0.5)


def test_flatten_empty() -> None:
    assert flatten_table(turns_to_table([])).equals(FLAT_SCHEMA.empty_table())
    with pytest.raises(ValueError, match="not a turn table"):
        flatten_table(pa.table({"x": [1]}))
