"""The Spark engine gives exactly the embedded engine's results: flat view, chains, rewrite table.

One local SparkSession (local[2]) for the whole module; skipped where pyspark or Java is missing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("the spark engine needs a Java runtime", allow_module_level=True)

from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector
from selflearn.jobs.engine import EmbeddedEngine
from selflearn.jobs.nightly import NightlyConfig, mine_chains, run_nightly
from selflearn.jobs.spark_engine import SparkEngine
from selflearn.logs.flat import FLAT_SCHEMA
from selflearn.rewrite.markov import (
    SOLUTION_SCHEMA,
    MarkovRewriteMiner,
    assign_components,
    count_transitions,
    solve_component,
)
from selflearn.rewrite.store import RewriteStore
from selflearn.simulate.run import write_day
from selflearn.simulate.traffic import SimConfig, Simulator

pytestmark = pytest.mark.spark

# Small log: these knobs make it yield rules (the defaults want more users per rule).
MINER = {"min_users": 1, "min_source_count": 1}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, small_assistant: Any) -> Path:
    """~40 users x 2 days of simulated traffic, plus an in-progress (hidden) write both readers skip."""
    ws = tmp_path_factory.mktemp("spark_ws")
    sim = Simulator(SimConfig(users=40, seed=0))
    for day in (1, 2):
        write_day(ws, sim.run_day(day, small_assistant))
    (ws / "logs" / "day=0002" / ".part-00001.parquet.tmp").write_bytes(b"half-written, not parquet")
    (ws / "logs" / "day=0002" / ".part-00002.parquet").write_bytes(b"half-written, not parquet")
    return ws


@pytest.fixture(scope="module")
def engine() -> Iterator[SparkEngine]:
    eng = SparkEngine(master="local[2]", buckets=4)
    _ = eng.spark
    assert eng.owns_session
    yield eng
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    eng.close()
    # Nothing left running: no session, no JVM.
    assert SparkContext._active_spark_context is None
    assert SparkContext._gateway is None
    assert proc is None or proc.poll() is not None


@pytest.fixture(scope="module")
def chains(workspace: Path) -> pa.Table:
    table, _ = mine_chains(EmbeddedEngine(), workspace / "logs", HeuristicRephraseDetector(), NightlyConfig())
    return table


def test_flat_view_equals_embedded(engine: SparkEngine, workspace: Path) -> None:
    df = engine.read_flat(workspace / "logs")
    assert df.columns == FLAT_SCHEMA.names  # the day= partition column is dropped
    got = engine.to_arrow(df).sort_by("turn_id")
    want = EmbeddedEngine().read_flat(workspace / "logs").sort_by("turn_id")
    assert want.num_rows > 200
    assert got.schema.equals(FLAT_SCHEMA)
    assert got.equals(want)
    assert df.count() == want.num_rows


def test_read_flat_sees_parts_written_since_the_last_read(
    engine: SparkEngine, workspace: Path, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    shutil.copytree(workspace / "logs" / "day=0001", logs / "day=0001")
    before = engine.read_flat(logs).count()
    shutil.copytree(workspace / "logs" / "day=0002", logs / "day=0002")
    after = engine.read_flat(logs).count()  # a cached view of the same path must not be reused
    assert before > 0
    assert after == EmbeddedEngine().read_flat(logs).num_rows > before


def test_chains_equal_embedded(engine: SparkEngine, workspace: Path, chains: pa.Table) -> None:
    got, n_turns = mine_chains(engine, workspace / "logs", HeuristicRephraseDetector(), NightlyConfig())
    assert chains.num_rows > 100
    assert n_turns == EmbeddedEngine().read_flat(workspace / "logs").num_rows
    assert got.equals(chains)


@pytest.mark.parametrize(
    "params",
    [
        {**MINER, "strategy": "auto"},
        {**MINER, "strategy": "columns", "min_probability": 0.0, "margin": 0.0},
        {**MINER, "strategy": "rows", "min_edge_users": 2},
    ],
)
def test_rewrites_solved_on_spark_equal_in_process(
    engine: SparkEngine, chains: pa.Table, params: dict[str, Any]
) -> None:
    if params.get("min_edge_users", 1) > 1:
        # Half the chains seen from a second user too: those rephrases stay in the graph, the
        # others are redirected to FAILURE (several FAILURE edges per source).
        half = chains.slice(0, chains.num_rows // 2)
        users = pc.binary_join_element_wise(half["user_id"], pa.scalar("twin"), "-")
        twins = half.set_column(1, "user_id", users)
        twins = twins.set_column(twins.schema.get_field_index("principal"), "principal", users)
        chains = pa.concat_tables([chains, twins])
    local = MarkovRewriteMiner(**params).fit(chains)
    spark = MarkovRewriteMiner(**params).fit(chains, solver=engine.solve_components)
    assert local.stats_["candidate_sources"] > 0
    assert spark.stats_ == local.stats_
    sol_l = local.solutions_.sort_by("source")
    sol_s = spark.solutions_.sort_by("source")
    for name in ("source", "source_count", "target"):
        assert sol_s[name].equals(sol_l[name])
    for name in ("probability", "source_success", "failure"):
        np.testing.assert_allclose(sol_s[name].to_numpy(), sol_l[name].to_numpy(), rtol=0, atol=1e-9)
    if params["strategy"] == "auto":
        assert local.rewrites_.num_rows > 0
    assert spark.rewrites_.equals(local.rewrites_)


def test_solve_components_is_solve_component_per_component(engine: SparkEngine, chains: pa.Table) -> None:
    edges = assign_components(count_transitions(chains))
    comp = edges["component"].to_numpy()
    sources = sorted(set(edges["src"].to_pylist()))[::3]
    got = engine.solve_components(edges, sources, strategy="auto", min_probability=0.0)
    assert got.schema.equals(SOLUTION_SCHEMA)
    assert sorted(got["source"].to_pylist()) == sources
    want = []
    for c in np.unique(comp):
        part = edges.filter(pa.array(comp == c))
        mine = sorted(set(part["src"].to_pylist()) & set(sources))
        if mine:
            want.append(solve_component(part.drop_columns(["component"]), sources=mine))
    assert got.sort_by("source").equals(pa.concat_tables(want).sort_by("source"))
    assert engine.solve_components(edges, [], strategy="auto", min_probability=0.0).num_rows == 0


def test_empty_log_and_non_parquet_logs(engine: SparkEngine, tmp_path: Path) -> None:
    empty = tmp_path / "logs"
    empty.mkdir()
    flat = engine.read_flat(empty)
    assert engine.to_arrow(flat).equals(FLAT_SCHEMA.empty_table())
    (empty / "day=0001").mkdir()
    (empty / "day=0001" / "part-00000.jsonl").write_text("{}\n")
    with pytest.raises(ValueError, match="Parquet"):
        engine.read_flat(empty)


def test_run_nightly_on_spark_publishes_the_embedded_table(
    engine: SparkEngine, workspace: Path, tmp_path: Path
) -> None:
    runs = {}
    for name in ("embedded", "spark"):
        ws = tmp_path / name
        shutil.copytree(workspace / "logs", ws / "logs")
        cfg = NightlyConfig(engine=name, min_users=1, miner={"min_source_count": 1})
        res = run_nightly(ws, cfg)
        assert res.version is not None and res.rules > 0
        current = RewriteStore(ws).current()
        assert current is not None and current.version == res.version
        runs[name] = (res, current.to_arrow())
    (emb, emb_table), (spk, spk_table) = runs["embedded"], runs["spark"]
    assert (spk.rules, spk.chains, spk.turns) == (emb.rules, emb.chains, emb.turns)
    assert spk_table.equals(emb_table)
    # Both engines' summaries list the same steps and publish artifacts with the same digests.
    summaries = {n: json.loads(r.summary.read_text()) for n, (r, _) in runs.items() if r.summary}
    assert [s["name"] for s in summaries["spark"]["steps"]] == [
        "read",
        "sessionize",
        "detect",
        "late_feedback",
        "mine",
        "evaluate",
        "publish",
    ]
    digests = {n: [s["artifact"] for s in x["steps"] if s["artifact"]] for n, x in summaries.items()}
    # and the evaluate step's estimate is the same (the chains are, and the bootstrap is seeded)
    reports = {n: [s["report"] for s in x["steps"] if "report" in s] for n, x in summaries.items()}
    assert reports["spark"] == reports["embedded"] and reports["spark"][0]["turns"] > 0
    assert digests["spark"] == digests["embedded"] and digests["spark"][0]["kind"] == "rewrite"
    assert summaries["spark"]["engine"] == "spark" and summaries["embedded"]["engine"] == "embedded"
    # The nightly's own engine reused the module's session and left it running.
    assert engine.spark.range(3).count() == 3


def test_read_flat_leaves_out_deleted_people(engine: SparkEngine, workspace: Path, tmp_path: Path) -> None:
    from selflearn.util.tombstones import Tombstones

    ws = tmp_path / "ws"
    shutil.copytree(workspace / "logs" / "day=0001", ws / "logs" / "day=0001")
    users = EmbeddedEngine().read_flat(ws / "logs").column("user_id").to_pylist()
    gone = users[0]
    Tombstones(ws).add(gone)
    got = engine.to_arrow(engine.read_flat(ws / "logs")).sort_by("turn_id")
    want = EmbeddedEngine().read_flat(ws / "logs").sort_by("turn_id")
    assert want.num_rows == len(users) - users.count(gone)
    assert got.equals(want)


def test_every_step_publishes_the_same_digest_on_both_engines(
    engine: SparkEngine, workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole graph (miner, online layers, context, labels, failure points) on either engine:
    every published artifact has the same content digest."""
    from tests.fpi.conftest import fake_encoder
    from tests.labels.conftest import tiny_params

    import selflearn.fpi.features as features
    from selflearn.fpi.gbm import GbmFpi
    from selflearn.fpi.train import train_model
    from selflearn.home.domain import simulated_domain
    from selflearn.lexicon.io import save_domain
    from selflearn.util.workspace import Workspace

    monkeypatch.setattr(features, "_default_encoder", fake_encoder)
    monkeypatch.setattr(
        "selflearn.fpi.train.make_model", lambda kind: GbmFpi(n_estimators=20, n_jobs=1, text_components=4)
    )
    fpi_model = train_model([workspace])
    digests: dict[str, list[tuple[str, str]]] = {}
    for name in ("embedded", "spark"):
        ws = tmp_path / name
        shutil.copytree(workspace / "logs", ws / "logs")
        save_domain(simulated_domain(), ws)
        Workspace(ws).publish_model("fpi", fpi_model.save)
        cfg = NightlyConfig(
            engine=name,
            min_users=1,
            miner={"min_source_count": 1},
            online={"fine_tune_steps": 0, "compile_rankers": False},
            context=True,
            labels=tiny_params(),
            fpi=True,
        )
        res = run_nightly(ws, cfg, engine=engine if name == "spark" else None)
        steps = json.loads(res.summary.read_text())["steps"] if res.summary else []
        digests[name] = [(s["artifact"]["kind"], s["artifact"]["digest"]) for s in steps if s["artifact"]]
    kinds = [k for k, _ in digests["spark"]]
    assert kinds == ["rewrite", "online", "context", "labels", "failure_points"]
    assert digests["spark"] == digests["embedded"]


def test_embed_on_the_executors_gives_the_in_process_vectors_bit_for_bit(engine: SparkEngine) -> None:
    """Texts go out in the encoder's own batches and the encoder (its weights as they are, here
    changed from the shipped ones as fine-tuning would) is broadcast: the vectors are the embedded
    engine's exactly, in the texts' order."""
    import torch

    from selflearn.rewrite.retrieval import BiEncoder

    encoder = BiEncoder()
    encoder._ensure()
    with torch.no_grad():
        encoder._model.embeddings.word_embeddings.weight.mul_(1.05)
    texts = [
        f"turn {w} the {r} light" + " now" * (i % 4)
        for i, (w, r) in enumerate(
            [(w, r) for w in ("on", "off", "up") for r in ("kitchen", "hall", "bedroom", "garage", "attic")]
        )
    ]
    want = EmbeddedEngine().embed(encoder, texts, batch_size=4)  # several batches of several lengths
    got = engine.embed(encoder, texts, batch_size=4)
    assert got.shape == want.shape == (len(texts), 384)
    np.testing.assert_array_equal(got, want)
    shipped = BiEncoder().encode(texts, batch_size=4)
    assert not np.array_equal(got, shipped)  # the broadcast carried the changed weights
    assert engine.embed(encoder, []).shape == (0, 384)
