from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteRule, RewriteTable

from .chains import rule_row, table_of

ROWS = [rule_row("b source", "b target"), rule_row("a source", "a target", probability=0.7)]


def test_lookup_len_iteration() -> None:
    table = table_of(*ROWS)
    assert len(table) == 2
    rule = table.lookup("a source")
    assert isinstance(rule, RewriteRule)
    assert (rule.target, rule.probability, rule.support) == ("a target", 0.7, 3)
    assert rule.example_session_ids == ("u1-session", "u2-session", "u3-session")
    assert table.lookup("a target") is None
    assert "b source" in table
    assert [r.source for r in table] == ["a source", "b source"]  # sorted by source
    assert table.rule(rule.rule_id) == rule
    assert table.rule_ids == {r["rule_id"] for r in ROWS}


def test_arrow_round_trip_and_version() -> None:
    table = table_of(*ROWS)
    data = table.to_arrow()
    assert data.schema.equals(REWRITE_SCHEMA)
    again = RewriteTable.from_arrow(data, version="v0003")
    assert again.version == "v0003"
    assert [r for r in again] == [r for r in table]
    assert table.version is None
    assert table.with_version("v0009").version == "v0009"
    assert RewriteTable.empty().to_arrow().num_rows == 0


def test_without_returns_a_new_unpublished_table() -> None:
    table = table_of(*ROWS).with_version("v0001")
    smaller = table.without([ROWS[0]["rule_id"], "rw-unknown"])
    assert [r.source for r in smaller] == ["a source"]
    assert smaller.version is None
    assert len(table) == 2  # the original is untouched
    assert smaller.meta["miner"]["min_users"] == 3


def test_immutable() -> None:
    table = table_of(*ROWS)
    rule = table.lookup("a source")
    assert rule is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.target = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        table.meta["miner"] = {}  # type: ignore[index]


def test_rejects_two_rules_for_one_source() -> None:
    dup = [rule_row("same", "x"), rule_row("same", "y")]
    with pytest.raises(ValueError, match="two rules"):
        RewriteTable(pa.Table.from_pylist(dup, schema=REWRITE_SCHEMA))


def test_missing_optional_columns_are_filled() -> None:
    data = pa.table({"rule_id": ["r1"], "source": ["s"], "target": ["t"], "probability": [0.8]})
    rule = RewriteTable(data).lookup("s")
    assert rule is not None and rule.probability == 0.8 and rule.support is None
    with pytest.raises(ValueError, match="target"):
        RewriteTable(pa.table({"rule_id": ["r1"], "source": ["s"]}))
