"""The rewrite table: an immutable map from a normalized request to the rule that rewrites it.

The Arrow form (`REWRITE_SCHEMA`) is what is mined, published and audited (full provenance, incl.
the supporting users needed to honour deletion); the runtime only needs `lookup`, a dict probe.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_TS = pa.timestamp("us", tz="UTC")

#: One row per rule. `users` lists every supporting user with its number of supporting chains
#: (needed to delete a user exactly); `example_user_ids` runs parallel to `example_session_ids`.
REWRITE_SCHEMA = pa.schema(
    [
        pa.field("rule_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        ("target_intent", pa.string()),
        ("probability", pa.float64()),  # B[source, SUCCESS(target)]
        ("source_success", pa.float64()),  # B[source, SUCCESS(source)]
        ("source_count", pa.int64()),  # times the source was read by the NLU (graph observations)
        ("support", pa.int64()),  # chains with source followed later by target
        ("distinct_users", pa.int64()),
        ("users", pa.list_(pa.struct([("user_id", pa.string()), ("chains", pa.int64())]))),
        ("first_seen", _TS),
        ("last_seen", _TS),
        ("example_session_ids", pa.list_(pa.string())),
        ("example_user_ids", pa.list_(pa.string())),
        ("fired_successes", pa.int64()),  # turns where this rule fired and the turn was not defective
        ("fired_failures", pa.int64()),
        ("source_successes", pa.int64()),  # un-rewritten turns of the source, not defective
        ("source_failures", pa.int64()),
        ("p_better", pa.float64()),  # P(theta_rule > theta_source) when the self-aware test ran
    ]
)


@dataclass(frozen=True, slots=True)
class RewriteRule:
    """One published rewrite: `source` (normalized request) is replaced by `target` before NLU."""

    rule_id: str
    source: str
    target: str
    target_intent: str | None
    probability: float
    source_success: float
    source_count: int
    support: int
    distinct_users: int
    first_seen: datetime | None
    last_seen: datetime | None
    example_session_ids: tuple[str, ...]
    fired_successes: int
    fired_failures: int
    source_successes: int
    source_failures: int
    p_better: float | None


_RULE_FIELDS = [f for f in RewriteRule.__dataclass_fields__ if f != "example_session_ids"]


def _conform(data: pa.Table) -> pa.Table:
    """Select and cast the columns of REWRITE_SCHEMA; missing optional columns become nulls."""
    cols = []
    for field in REWRITE_SCHEMA:
        if field.name in data.column_names:
            cols.append(data[field.name].cast(field.type))
        elif field.nullable:
            cols.append(pa.nulls(data.num_rows, field.type))
        else:
            raise ValueError(f"rewrite table lacks required column {field.name!r}")
    return pa.Table.from_arrays(cols, schema=REWRITE_SCHEMA)


class RewriteTable:
    """Immutable rewrite table with O(1) `lookup(normalized_source)`; `version` is set by the store."""

    __slots__ = ("_by_id", "_by_source", "_data", "_meta", "_version")

    def __init__(
        self, data: pa.Table, version: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> None:
        data = _conform(data)
        if data.num_rows:
            data = data.sort_by([("source", "ascending")])
        sources = data["source"].to_pylist()
        if len(set(sources)) != len(sources):
            dup = next(s for s in sources if sources.count(s) > 1)
            raise ValueError(f"rewrite table has two rules for source {dup!r}")
        ids = data["rule_id"].to_pylist()
        if len(set(ids)) != len(ids):
            raise ValueError("rewrite table has duplicate rule ids")
        rows = data.select(_RULE_FIELDS).to_pylist()
        examples = data["example_session_ids"].to_pylist()
        rules = [
            RewriteRule(**row, example_session_ids=tuple(ex or ()))
            for row, ex in zip(rows, examples, strict=True)
        ]
        self._data = data
        self._version = version
        self._meta: Mapping[str, Any] = MappingProxyType(copy.deepcopy(dict(meta or {})))
        self._by_source: dict[str, RewriteRule] = {r.source: r for r in rules}
        self._by_id: dict[str, RewriteRule] = {r.rule_id: r for r in rules}

    @classmethod
    def from_arrow(
        cls, data: pa.Table, version: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> RewriteTable:
        return cls(data, version=version, meta=meta)

    @classmethod
    def empty(cls, version: str | None = None) -> RewriteTable:
        return cls(REWRITE_SCHEMA.empty_table(), version=version)

    def to_arrow(self) -> pa.Table:
        """The full table (REWRITE_SCHEMA, sorted by source) with all provenance."""
        return self._data

    @property
    def version(self) -> str | None:
        """The published version (``v0007``), or None for a table not (yet) published."""
        return self._version

    @property
    def meta(self) -> Mapping[str, Any]:
        """What made the table (miner config, input description, counts): a read-only mapping."""
        return self._meta

    def lookup(self, source: str) -> RewriteRule | None:
        """The rule for an already normalized request, or None. A dict probe: O(1)."""
        return self._by_source.get(source)

    def rule(self, rule_id: str) -> RewriteRule | None:
        return self._by_id.get(rule_id)

    @property
    def rule_ids(self) -> frozenset[str]:
        return frozenset(self._by_id)

    def __len__(self) -> int:
        return len(self._by_source)

    def __iter__(self) -> Iterator[RewriteRule]:
        return iter(self._by_source.values())

    def __contains__(self, source: object) -> bool:
        return source in self._by_source

    def __repr__(self) -> str:
        return f"RewriteTable(version={self._version!r}, rules={len(self)})"

    def with_version(self, version: str | None, meta: Mapping[str, Any] | None = None) -> RewriteTable:
        """The same rules under another version (and meta, if given)."""
        return RewriteTable(self._data, version=version, meta=self._meta if meta is None else meta)

    def without(self, rule_ids: Iterable[str]) -> RewriteTable:
        """A new, unpublished table without the given rules (unknown ids are ignored)."""
        drop = pa.array(sorted(set(rule_ids)), type=pa.string())
        keep = pc.invert(pc.is_in(self._data["rule_id"], value_set=drop))
        return RewriteTable(self._data.filter(keep), version=None, meta=self._meta)
