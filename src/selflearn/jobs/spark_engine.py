"""The Apache Spark engine: the same job graph as `EmbeddedEngine`, on a cluster or `local[*]`.

Every step stays a pure Arrow function (`jobs.steps`, `feedback.chains`, `rewrite.markov`); Spark only
moves the data: `read_flat` maps Parquet batches through `logs.schema.flatten_table` with
`mapInArrow`, `map_groups` hashes the key into buckets and runs the step per bucket with
`groupBy(bucket).applyInArrow` (one Python call per bucket, not per group, which is what keeps Python
steps fast), `solve_components` runs `rewrite.markov.solve_component` per connected component
of the rephrase graph the same way, for `MarkovRewriteMiner.fit(..., solver=...)`, and `embed` runs
the retrieval encoder over Arrow batches of the night's texts on the executors.

Arrow types are normalised at every boundary (Spark hands out `list<element>`, maybe large strings,
timestamps in the session zone), so each step sees exactly the schema it would see in-process and the
results equal the embedded engine's.

Needs the `spark` extra (pyspark >= 4.0 for `applyInArrow` / `toArrow`) and a Java runtime.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selflearn.jobs.protocol import Encoder, Step
from selflearn.logs.flat import FLAT_SCHEMA
from selflearn.logs.io import list_log_files, workspace_tombstones
from selflearn.logs.schema import TURN_SCHEMA, check_schema_version, flatten_table
from selflearn.rewrite.markov import (
    EDGE_SCHEMA,
    FAILURE,
    SOLUTION_SCHEMA,
    SUCCESS_PREFIX,
    Strategy,
    solve_component,
)
from selflearn.rewrite.retrieval import encode_batches

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

__all__ = ["SparkEngine", "canonical_schema", "spark_schema"]

_BUCKET = "__bucket"
_IS_SOURCE = "is_source"
_EMBED_IN = pa.schema([("batch", pa.int64()), ("rank", pa.int64()), ("text", pa.string())])
_EMBED_OUT = pa.schema([("rank", pa.int64()), ("vector", pa.list_(pa.float32()))])


# --------------------------------------------------------------------------------------------------
# Arrow <-> Spark types


def _canonical_type(t: pa.DataType) -> pa.DataType:
    """The type this code base writes for what Spark may hand out differently: lists with an `item`
    child, plain (not large) strings and lists, tz-aware timestamps in UTC (same instants)."""
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_timestamp(t) and t.tz is not None:
        return pa.timestamp(t.unit, tz="UTC")
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        f = t.value_field
        return pa.list_(pa.field("item", _canonical_type(f.type), f.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _canonical_type(f.type), f.nullable) for f in t])
    return t


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """`schema` with the Arrow types normalised as in-process tables have them (see module doc)."""
    return pa.schema([pa.field(f.name, _canonical_type(f.type), f.nullable) for f in schema])


def _nullable_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, _nullable_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _nullable_type(f.type)) for f in t])
    if pa.types.is_map(t):
        return pa.map_(t.key_type, pa.field(t.item_field.name, _nullable_type(t.item_type)))
    return t


#: TURN_SCHEMA with every field nullable: Spark nulls the children of a null struct (e.g. `rewrite`),
#: which a cast to the strict schema refuses; `flatten_table` reads children through their parent.
_TURN_READ_SCHEMA = pa.schema([pa.field(f.name, _nullable_type(f.type)) for f in TURN_SCHEMA])


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark StructType of an Arrow schema (tz-aware timestamps -> TimestampType)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema, prefer_timestamp_ntz=False)


def _arrow_schema_of(df: DataFrame) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return canonical_schema(to_arrow_schema(df.schema, timezone="UTC"))


# --------------------------------------------------------------------------------------------------
# Functions run on the Python workers (module level, so they pickle by reference)


def _flatten_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow body: nested turn batches (Spark's Arrow types) -> FLAT_SCHEMA batches."""
    for b in batches:
        if b.num_rows == 0:
            continue
        table = pa.Table.from_batches([b]).select(TURN_SCHEMA.names).cast(_TURN_READ_SCHEMA)
        yield from flatten_table(table).to_batches()


def _apply_step(table: pa.Table, *, fn: Step, in_schema: pa.Schema, out_schema: pa.Schema) -> pa.Table:
    """applyInArrow body: one bucket of complete groups, as the step expects it."""
    data = table.drop_columns([_BUCKET]).cast(in_schema)
    return fn(data).cast(out_schema)


def _solve_bucket(table: pa.Table, *, strategy: Strategy, min_probability: float) -> pa.Table:
    """`solve_component` for every component in a bucket of labelled edges (with `is_source`).

    Edges are put back in the miner's order (source, then transient < success < failure, then
    target) and sources in ascending order, so each solve is the very one the miner does in-process."""
    if table.num_rows == 0:
        return SOLUTION_SCHEMA.empty_table()
    dst = table["dst"]
    kind = pc.if_else(pc.equal(dst, FAILURE), 2, pc.if_else(pc.starts_with(dst, SUCCESS_PREFIX), 1, 0)).cast(
        pa.int8()
    )
    t = table.append_column("__kind", kind).sort_by(
        [("component", "ascending"), ("src", "ascending"), ("__kind", "ascending"), ("dst", "ascending")]
    )
    comp = t["component"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1], True]).tolist()
    outs = []
    for a, b in pairwise(bounds):
        part = t.slice(a, b - a)
        src = part["src"].filter(pc.fill_null(part[_IS_SOURCE], False))
        sources = sorted(set(src.to_pylist()))
        if not sources:
            continue
        edges = part.select(EDGE_SCHEMA.names).cast(EDGE_SCHEMA)
        outs.append(
            solve_component(edges, sources=sources, strategy=strategy, min_probability=min_probability)
        )
    return pa.concat_tables(outs) if outs else SOLUTION_SCHEMA.empty_table()


def _embed_batch(table: pa.Table, *, encoder: Any, threads: int) -> pa.Table:
    """One encoder batch (all rows of one `batch`), encoded as one call, in rank order: the padding
    and the rows the in-process `encode` gives them, hence the same vectors bit for bit."""
    from selflearn.text.encoder import set_torch_threads

    set_torch_threads(threads)
    table = table.sort_by([("rank", "ascending")])
    texts = table["text"].to_pylist()
    vectors = np.asarray(encoder.value.encode(texts, batch_size=max(len(texts), 1)), dtype=np.float32)
    flat = pa.array(vectors.reshape(-1), pa.float32())
    lists = pa.ListArray.from_arrays(
        pa.array(np.arange(0, len(flat) + 1, vectors.shape[1]), pa.int32()), flat
    )
    return pa.table({"rank": table["rank"], "vector": lists}, schema=_EMBED_OUT)


# --------------------------------------------------------------------------------------------------
# The engine


class SparkEngine:
    """Runs job steps on Apache Spark.

    The SparkSession is made on first use. If a SparkContext is already running in this process
    (a notebook, a test fixture, another engine), it is reused as it is: `master`, `conf` and the
    defaults below are ignored and `close()` leaves it running. Otherwise the engine creates the
    session with `master`, the defaults (Arrow on, UTC session time zone, no UI, 4 shuffle
    partitions in local mode, log level WARN) and `conf` on top; `close()` then stops it and, with
    `stop_jvm`, also ends the JVM that PySpark launched (else it idles until Python exits).

    `buckets` is the number of groups each `map_groups` step runs as (more: smaller Python calls
    and more parallelism; fewer: less per-call overhead). `cache_flat` keeps the flat view in
    Spark's cache once computed, so counting it does not read and flatten the log a second time
    (one cached view per engine: the next `read_flat` or `close()` drops it).
    """

    name = "spark"

    def __init__(
        self,
        master: str = "local[2]",
        app_name: str = "selflearn",
        buckets: int = 8,
        conf: Mapping[str, str] | None = None,
        cache_flat: bool = True,
        stop_jvm: bool = True,
    ) -> None:
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        self.master = master
        self.app_name = app_name
        self.buckets = buckets
        self.conf = dict(conf or {})
        self.cache_flat = cache_flat
        self.stop_jvm = stop_jvm
        self._spark: SparkSession | None = None
        self._own = False
        self._cached: list[DataFrame] = []

    # -- session -----------------------------------------------------------------------------------
    def _defaults(self) -> dict[str, str]:
        conf = {
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.session.timeZone": "UTC",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.log.level": "WARN",
        }
        if self.master.startswith("local"):
            conf["spark.sql.shuffle.partitions"] = "4"
            conf["spark.driver.memory"] = "2g"  # driver = executor here; 1g is tight for nested logs
        return conf

    @property
    def spark(self) -> SparkSession:
        """The session (created or reused on first access)."""
        if self._spark is None:
            # Workers must run this interpreter, so they import the same selflearn and libraries.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
            from pyspark import SparkContext
            from pyspark.sql import SparkSession

            if SparkContext._active_spark_context is not None:
                self._spark, self._own = SparkSession.builder.getOrCreate(), False
            else:
                builder = SparkSession.builder.master(self.master).appName(self.app_name)
                for k, v in {**self._defaults(), **self.conf}.items():
                    builder = builder.config(k, v)
                self._spark, self._own = builder.getOrCreate(), True
                self._spark.sparkContext.setLogLevel("WARN")
        return self._spark

    @property
    def owns_session(self) -> bool:
        """Whether `close()` stops the session (this engine created it)."""
        return self._own

    def close(self) -> None:
        """Drop this engine's cached data; stop the session (and JVM) if this engine created them."""
        self._unpersist()
        if self._spark is None:
            return
        spark, own = self._spark, self._own
        self._spark, self._own = None, False
        if not own:
            return
        spark.stop()
        if self.stop_jvm:
            _shutdown_gateway()

    def _unpersist(self) -> None:
        for df in self._cached:
            with contextlib.suppress(Exception):  # the session may already be gone
                df.unpersist()
        self._cached.clear()

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Engine protocol ---------------------------------------------------------------------------
    def read_flat(self, logs_dir: Path) -> DataFrame:
        """The flat view (FLAT_SCHEMA) of a Parquet log directory (`day=NNNN/part-*.parquet`).

        File versions are checked on the driver as `logs.io` does (a file of another major version is
        refused before any job runs). The `day=` folders become no column: the turn carries its own
        timestamp. Hidden (`.`/`_`) files are in-progress writes and are skipped, by both readers.
        Deleted people's rows are left out, as `logs.io` leaves them (the workspace's tombstones)."""
        files = list_log_files(logs_dir)
        other = [f for f in files if f.suffix != ".parquet"]
        if other:
            raise ValueError(f"the spark engine reads Parquet logs only; found {other[0]}")
        for f in files:
            check_schema_version(pq.read_schema(f), str(f))
        flat_struct = spark_schema(FLAT_SCHEMA)
        if not files:
            return self.spark.createDataFrame([], flat_struct)
        raw = (
            self.spark.read.schema(spark_schema(TURN_SCHEMA))
            .option("pathGlobFilter", "*.parquet")
            .parquet(str(logs_dir))
        )
        tombs = workspace_tombstones(logs_dir)
        if tombs is not None:
            from pyspark.sql import functions as F

            users = [r[0] for r in raw.select("user_id").distinct().collect()]
            gone = tombs.deleted(u for u in users if u is not None)
            if gone:
                raw = raw.filter(~F.col("user_id").isin(sorted(gone)))
        df = raw.select(*TURN_SCHEMA.names).mapInArrow(_flatten_batches, flat_struct)
        if self.cache_flat:
            # Spark matches cached plans by path, not by the files found: a view cached by an earlier
            # call would be served again even after new parts were written. One cached view per engine.
            self._unpersist()
            df = df.cache()
            self._cached.append(df)
        return df

    def map_groups(self, data: DataFrame, key: str, fn: Step, schema: pa.Schema) -> DataFrame:
        """`fn` over complete groups of `key`: groups are hashed into `buckets`, and `fn` gets each
        bucket as one Arrow table of the input's (normalised) schema; its output is cast to `schema`."""
        from pyspark.sql import functions as F

        in_schema = _arrow_schema_of(data)

        # A plain annotated function: PySpark infers the UDF kind (table in, table out) from its
        # type hints, and cannot read those of a functools.partial.
        def body(table: pa.Table) -> pa.Table:
            return _apply_step(table, fn=fn, in_schema=in_schema, out_schema=schema)

        bucket = F.pmod(F.hash(F.col(key)), F.lit(self.buckets))
        return data.withColumn(_BUCKET, bucket).groupBy(_BUCKET).applyInArrow(body, spark_schema(schema))

    def to_arrow(self, data: DataFrame, schema: pa.Schema | None = None) -> pa.Table:
        """Collect to the driver as Arrow, cast to `schema` (default: the normalised Spark schema)."""
        table = data.toArrow()
        return table.cast(schema if schema is not None else canonical_schema(table.schema))

    # -- retrieval -------------------------------------------------------------------------------
    def embed(
        self, encoder: Encoder, texts: Sequence[str], batch_size: int = 128, threads: int = 1
    ) -> np.ndarray:
        """`encoder`'s embeddings of `texts` (in their order), computed on the executors.

        The texts go out as Arrow batches in exactly the batches the encoder would run in-process
        (`rewrite.retrieval.encode_batches`); the encoder (fine-tuned weights and all) is broadcast
        once, and each batch is encoded as one call with `threads` torch threads per task. So the
        vectors, and the indexes built from them, are bit for bit the embedded engine's."""
        texts = list(texts)
        if not texts:
            return np.asarray(encoder.encode([]), dtype=np.float32)
        batches = encode_batches(texts, batch_size)
        ranks = [j for batch in batches for j in batch]
        table = pa.table(
            {
                "batch": pa.array([b for b, batch in enumerate(batches) for _ in batch], pa.int64()),
                "rank": pa.array(range(len(ranks)), pa.int64()),
                "text": pa.array([texts[j] for j in ranks], pa.string()),
            },
            schema=_EMBED_IN,
        )
        shared = self.spark.sparkContext.broadcast(encoder)
        try:
            step = partial(_embed_batch, encoder=shared, threads=threads)

            def body(part: pa.Table) -> pa.Table:
                return step(part)

            df = (
                self.spark.createDataFrame(table)
                .groupBy("batch")
                .applyInArrow(body, spark_schema(_EMBED_OUT))
            )
            out = self.to_arrow(df, _EMBED_OUT)
        finally:
            shared.unpersist()
        out = out.sort_by([("rank", "ascending")])
        vectors = np.asarray(out["vector"].combine_chunks().flatten(), dtype=np.float32).reshape(
            len(ranks), -1
        )
        result = np.empty_like(vectors)
        result[ranks] = vectors
        return np.ascontiguousarray(result)

    # -- rewrite mining ----------------------------------------------------------------------------
    def solve_components(
        self,
        edges: pa.Table,
        sources: Sequence[str],
        *,
        strategy: Strategy = "auto",
        min_probability: float = 0.0,
    ) -> pa.Table:
        """`rewrite.markov.ComponentSolver` on Spark: `solve_component` per connected component
        (`edges`: EDGE_SCHEMA + int64 `component`), one applyInArrow call per bucket of components.
        Returns SOLUTION_SCHEMA, one row per source (order unspecified)."""
        if len(sources) == 0 or edges.num_rows == 0:
            return SOLUTION_SCHEMA.empty_table()
        flag = pc.is_in(edges["src"], value_set=pa.array(list(sources), pa.string()))
        table = edges.select([*EDGE_SCHEMA.names, "component"]).append_column(_IS_SOURCE, flag)
        df = self.spark.createDataFrame(table)
        step = partial(_solve_bucket, strategy=strategy, min_probability=min_probability)
        return self.to_arrow(self.map_groups(df, "component", step, SOLUTION_SCHEMA), SOLUTION_SCHEMA)


def _shutdown_gateway() -> None:
    """End the JVM PySpark launched for this process (it exits when its stdin closes), so a stopped
    engine leaves no Java process behind; the next session launches a fresh one."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return
    SparkContext._gateway = None
    SparkContext._jvm = None
    proc: Any = getattr(gateway, "proc", None)
    with contextlib.suppress(Exception):
        gateway.shutdown()
    if proc is not None:
        with contextlib.suppress(Exception):
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=20)
