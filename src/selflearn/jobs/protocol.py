"""What every engine offers and what a step is: the bottom of `selflearn.jobs`, imported by both
engines (and by nothing they import), so the engines never import each other."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

__all__ = ["Encoder", "Engine", "Step"]

#: A pure Arrow step over complete groups of a key (sessions, users, components).
Step = Callable[[pa.Table], pa.Table]


class Encoder(Protocol):
    """A text encoder an engine can run anywhere (picklable): `encode(texts, batch_size)` gives
    unit vectors, one row per text (`rewrite.retrieval.BiEncoder`)."""

    def encode(self, texts: Sequence[str], batch_size: int = 128) -> Any: ...


class Engine(Protocol):
    """`read_flat(logs_dir)` (the flat view of the log), `map_groups(data, key, fn, schema)` (apply
    a step to complete groups of `key`), `embed(encoder, texts)` (embeddings, in `texts` order),
    `to_arrow(data)`, `close()`."""

    name: str

    def read_flat(self, logs_dir: Path) -> Any: ...

    def map_groups(self, data: Any, key: str, fn: Step, schema: pa.Schema) -> Any: ...

    def embed(self, encoder: Encoder, texts: Sequence[str], batch_size: int = 128) -> Any: ...

    def to_arrow(self, data: Any) -> pa.Table: ...

    def close(self) -> None: ...
