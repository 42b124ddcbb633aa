"""Content digests that depend on what a table holds, not on how it was computed or stored.

Two engines, or two nights, are compared by digest alone (the nightly summary lists one per
published artifact), so the digest must ignore everything that varies without the content
changing: column order, chunking, file encoding, row order (rows are sorted by given keys)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import pyarrow as pa

__all__ = ["table_digest"]


def table_digest(table: pa.Table, sort_by: Sequence[str] = ()) -> str:
    """sha256 of a table's rows as canonical JSON (columns by name, rows sorted by `sort_by`):
    equal content gives an equal digest whatever the engine, chunking or file encoding."""
    if sort_by and table.num_rows:
        table = table.sort_by([(c, "ascending") for c in sort_by])
    h = hashlib.sha256()
    names = sorted(table.column_names)
    h.update(json.dumps(names).encode())
    for row in table.select(names).to_pylist():
        h.update(json.dumps(row, sort_keys=True, default=str, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()
