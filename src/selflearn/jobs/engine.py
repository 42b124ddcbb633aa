"""Engines run job steps over data that may not fit one process.

Both engines offer the same operations, so the job graph is written once:
`read_flat(logs_dir)` (the flat view of the log), `map_groups(data, key, fn, schema)` (apply a
pure Arrow step to complete groups of `key`; groups are hashed into buckets so a step sees many
groups at once, which is what makes Python steps fast), `embed(encoder, texts)` (a night's texts
through the retrieval encoder) and `to_arrow(data)`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from selflearn.jobs.protocol import Encoder, Engine, Step
from selflearn.logs.io import read_flat

__all__ = ["EmbeddedEngine", "Engine", "Step", "make_engine"]


class EmbeddedEngine:
    """In-process: Arrow tables, partitioned with Polars' hash of the key."""

    name = "embedded"

    def __init__(self, buckets: int = 8) -> None:
        self.buckets = buckets

    def read_flat(self, logs_dir: Path) -> pa.Table:
        return read_flat(logs_dir)

    def map_groups(self, data: pa.Table, key: str, fn: Step, schema: pa.Schema) -> pa.Table:
        if data.num_rows == 0:
            return schema.empty_table()
        df = pl.from_arrow(data)
        assert isinstance(df, pl.DataFrame)
        bucket = (df[key].hash(seed=0) % self.buckets).alias("__bucket")
        parts = df.with_columns(bucket).partition_by("__bucket", maintain_order=True, include_key=False)
        outs = [fn(p.to_arrow().cast(data.schema)).cast(schema) for p in parts]
        return pa.concat_tables(outs) if outs else schema.empty_table()

    def embed(self, encoder: Encoder, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        """In-process, in the encoder's own batches."""
        return np.asarray(encoder.encode(list(texts), batch_size=batch_size), dtype=np.float32)

    def to_arrow(self, data: pa.Table) -> pa.Table:
        return data

    def close(self) -> None:
        return None


def make_engine(name: str, **kwargs: Any) -> Engine:
    if name == "embedded":
        return EmbeddedEngine(**kwargs)
    if name == "spark":
        from selflearn.jobs.spark_engine import SparkEngine

        return SparkEngine(**kwargs)
    raise ValueError(f"unknown engine {name!r}; choose 'embedded' or 'spark'")
