"""The nightly job: from all logs so far, detect feedback, build rephrase chains, mine rewrites
with the absorbing Markov chain, and publish a new rewrite table version atomically.

Reads only workspace/logs (never truth/); the same graph runs on either engine."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector, PairScorer
from selflearn.jobs.engine import Engine, make_engine
from selflearn.jobs.steps import DetectStep, sessionize
from selflearn.logs.flat import FLAT_SCHEMA
from selflearn.rewrite.guard import ProtectedGuard, Reader, workspace_reader
from selflearn.rewrite.markov import ComponentSolver, MarkovRewriteMiner
from selflearn.rewrite.store import RewriteStore
from selflearn.rewrite.table import RewriteTable


@dataclass
class NightlyConfig:
    engine: str = "embedded"
    min_users: int = 3
    # The rewrite must lead to success at least this often, and beat the source's own success by
    # the margin; the self-aware check (Beta posteriors over fired outcomes) retires rules that
    # lose once live, so the threshold can admit rules whose success mass is spread over retries.
    min_probability: float = 0.2
    margin: float = 0.1
    session_gap_s: float = 600.0
    rephrase_threshold: float | None = None
    publish: bool = True
    miner: dict[str, Any] = field(default_factory=dict)
    # Online rewrite layers (selflearn.rewrite.online_train.OnlineTrainConfig overrides): None = off.
    online: dict[str, Any] | None = None


@dataclass
class NightlyResult:
    version: str | None
    rules: int
    chains: int
    turns: int
    seconds: float
    timings: dict[str, float]
    online: dict[str, Any] | None = None  # the online layers' training summary, when trained
    # rules the protected-action guard refused: rule_id, source, target, reason
    refused: list[dict[str, Any]] = field(default_factory=list)


def mine_chains(
    engine: Engine, logs_dir: Path, detector: PairScorer, cfg: NightlyConfig
) -> tuple[pa.Table, int]:
    """Sessionize and detect on the engine; return (chains as Arrow, number of turns read)."""
    flat = engine.read_flat(logs_dir)
    sess = engine.map_groups(flat, "user_id", partial(sessionize, gap_s=cfg.session_gap_s), FLAT_SCHEMA)
    step = DetectStep(detector=detector, threshold=cfg.rephrase_threshold)
    chains = engine.map_groups(sess, "session_id", step.chains, CHAIN_SCHEMA)
    table = engine.to_arrow(chains)
    n_turns = flat.num_rows if isinstance(flat, pa.Table) else int(flat.count())
    # Deterministic order whatever the engine's partitioning.
    return table.sort_by([("chain_id", "ascending")]), n_turns


def guard_table(table: RewriteTable, guard: ProtectedGuard) -> tuple[RewriteTable, list[dict[str, Any]]]:
    """`table` without the rules the guard refuses (their targets re-read as protected), and those
    rules with the reason. The log's own claim of each target's intent is checked too."""
    data = table.to_arrow()
    if not data.num_rows:
        return table, []
    pairs = list(zip(data["source"].to_pylist(), data["target"].to_pylist(), strict=True))
    reasons = guard.refusals(pairs, data["target_intent"].to_pylist())
    if not any(reasons):
        return table, []
    keep = pa.array([r is None for r in reasons])
    refused = [
        {"rule_id": rid, "source": s, "target": t, "reason": r}
        for rid, (s, t), r in zip(data["rule_id"].to_pylist(), pairs, reasons, strict=True)
        if r is not None
    ]
    return RewriteTable.from_arrow(data.filter(keep), meta=table.meta), refused


def run_nightly(
    workspace: Path,
    cfg: NightlyConfig | None = None,
    detector: PairScorer | None = None,
    engine: Engine | None = None,
    reader: Reader | None = None,
    protected: Collection[str] | None = None,
) -> NightlyResult:
    """One night: chains from the logs, rules mined, guarded and published, online layers trained.

    `reader` is the deployment's own understanding (`rewrite.guard.nlu_reader(model)`): with it,
    every rule's source and target are re-read and a rule into a protected intent the source did
    not mean is refused, whatever the log claims; without it the log's claim is all the guard has.
    `protected` is the deployment's set (the one its NLU stage guards at serve time); None: the
    miner's own (`protected_intents`), and none at all when the miner is told `allow_protected`.
    Without a `reader`, the workspace's own NLU model is used when it holds one.
    """
    cfg = cfg or NightlyConfig()
    if reader is None:
        reader, default_protected = workspace_reader(Path(workspace))
        protected = default_protected if protected is None else protected
    det = detector if detector is not None else HeuristicRephraseDetector()
    own_engine = engine is None
    eng = engine if engine is not None else make_engine(cfg.engine)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        chains, n_turns = mine_chains(eng, Path(workspace) / "logs", det, cfg)
        timings["detect_s"] = time.perf_counter() - t0
        store = RewriteStore(workspace)
        previous = store.current()
        t1 = time.perf_counter()
        # An engine that can solve the rephrase graph's components (Spark) does; else in-process.
        solver: ComponentSolver | None = getattr(eng, "solve_components", None)
        miner = MarkovRewriteMiner(
            min_users=cfg.min_users, min_probability=cfg.min_probability, margin=cfg.margin, **cfg.miner
        ).fit(chains, previous=previous, solver=solver)
        timings["mine_s"] = time.perf_counter() - t1
    finally:
        if own_engine:
            eng.close()
    if miner.allow_protected:
        protected = ()
    elif protected is None:
        protected = miner.protected_intents
    else:
        protected = set(protected) | set(miner.protected_intents)
    guard = ProtectedGuard.of(protected, reader)
    table, refused = guard_table(miner.to_table(), guard)
    version = None
    if cfg.publish:
        version = store.publish(table, {"engine": cfg.engine, "turns": n_turns, "chains": chains.num_rows})
    online_summary = None
    if cfg.online is not None:
        from dataclasses import asdict

        from selflearn.rewrite.online_train import OnlineTrainConfig, train_online

        t2 = time.perf_counter()
        online_cfg = OnlineTrainConfig(**{"min_users": cfg.min_users, **cfg.online})
        trained = train_online(
            Path(workspace), chains, online_cfg, previous_table=store.current(), guard=guard
        )
        online_summary = asdict(trained)
        timings["online_s"] = time.perf_counter() - t2
    return NightlyResult(
        version=version,
        rules=len(table),
        chains=chains.num_rows,
        turns=n_turns,
        seconds=time.perf_counter() - t0,
        timings=timings,
        online=online_summary,
        refused=refused,
    )
