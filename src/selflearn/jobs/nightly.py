"""The nightly job: from all logs so far, detect feedback, build rephrase chains, mine rewrites
with the absorbing Markov chain, and publish a new rewrite table version atomically.

Reads only workspace/logs (never truth/); the same graph runs on either engine."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.feedback.late import apply_late_feedback, late_feedback, turn_owners
from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector, PairScorer
from selflearn.jobs.engine import Engine, make_engine
from selflearn.jobs.graph import Artifact, NightlyGraph, Step, table_digest
from selflearn.jobs.steps import DetectStep, sessionize
from selflearn.logs.flat import FLAT_SCHEMA
from selflearn.offpolicy import Comparison
from selflearn.rewrite.guard import ProtectedGuard, Reader, workspace_reader
from selflearn.rewrite.markov import ComponentSolver, MarkovRewriteMiner
from selflearn.rewrite.store import RewriteStore
from selflearn.rewrite.table import RewriteTable
from selflearn.util.workspace import Workspace

#: The evaluate step's gates (`NightlyConfig.evaluate_gate`).
GATES = ("off", "no_worse", "interval")


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
    # The precomputed rewrites (absorbing Markov chain). False: the miner does not run and the
    # night publishes an empty table (what serves is versioned all the same); the guard still
    # protects the other learners.
    markov: bool = True
    miner: dict[str, Any] = field(default_factory=dict)
    # Online rewrite layers (selflearn.rewrite.online_train.OnlineTrainConfig overrides): None = off.
    online: dict[str, Any] | None = None
    # Context-aware interpretation (selflearn.context): retrain and publish the reranker nightly.
    context: bool = False
    # Automatic labels (selflearn.labels): fit the labeller on the logs' own feedback and label
    # every request turn; the mapping is Labeller's parameters plus "refit" (default True: a new
    # labeller each night; False: label with the live one when there is one). None = off.
    labels: dict[str, Any] | None = None
    # Failure point isolation (selflearn.fpi): the live fpi model's failure point for every turn.
    fpi: bool = False
    # The understanding step (selflearn.labels.nlu_night): retrain the NLU on wordings people
    # rephrased their way out of; the mapping overrides nlu_night's holdout and min_gain (its
    # min_people is min_users). None = off.
    nlu: dict[str, Any] | None = None
    # The evaluate step's gate on the rewrite table (selflearn.offpolicy, the direct method on the
    # logged turns): "off" records the estimate in the manifest and publishes as before; "no_worse"
    # keeps the live table when the candidate is confidently worse (the interval of the difference
    # lies above zero); "interval" publishes only when the candidate's upper bound is below the
    # live table's estimate.
    evaluate_gate: str = "off"
    evaluate_level: float = 0.95

    def __post_init__(self) -> None:
        if self.evaluate_gate not in GATES:
            raise ValueError(f"evaluate_gate must be one of {', '.join(GATES)}; got {self.evaluate_gate!r}")
        if not 0 < self.evaluate_level < 1:
            raise ValueError(f"evaluate_level must be in (0, 1); got {self.evaluate_level}")


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
    summary: Path | None = None  # the run's nightly/<run>/summary.json
    context: Any = None  # the context step's `ContextNight`, when it ran
    labels: Any = None  # the labels step's `LabelsNight`, when it ran
    nlu: Any = None  # the nlu step's `NluNight`, when it ran
    fpi: Any = None  # the fpi step's `FpiNight`, when it ran


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
    only: str | None = None,
) -> NightlyResult:
    """One night: chains from the logs, rules mined, guarded and published, online layers trained
    (`nightly_graph`; the run's summary goes to ``<workspace>/nightly/<run>/summary.json``).

    `reader` is the deployment's own understanding (`rewrite.guard.nlu_reader(model)`): with it,
    every rule's source and target are re-read and a rule into a protected intent the source did
    not mean is refused, whatever the log claims; without it the log's claim is all the guard has.
    `protected` is the deployment's set (the one its NLU stage guards at serve time); None: the
    miner's own (`protected_`: by default `contracts.domain`'s policy over the logged intents),
    and none at all when the miner is told `allow_protected`.
    Without a `reader`, the workspace's own NLU model is used when it holds one. `only` runs one
    step and the steps it needs.
    """
    cfg = cfg or NightlyConfig()
    if reader is None:
        reader, default_protected = workspace_reader(Path(workspace))
        protected = default_protected if protected is None else protected
    det = detector if detector is not None else HeuristicRephraseDetector()
    own_engine = engine is None
    eng = engine if engine is not None else make_engine(cfg.engine)
    t0 = time.perf_counter()
    try:
        graph = nightly_graph(Path(workspace), cfg, det, eng, reader, protected)
        run = graph.run(
            only=only,
            summary_dir=Workspace(workspace).nightly,
            meta={"engine": eng.name, "workspace": str(workspace)},
        )
    finally:
        if own_engine:
            eng.close()
    secs = {s.name: s.seconds for s in run.steps}
    timings = {"detect_s": secs.get("read", 0.0) + secs.get("sessionize", 0.0) + secs.get("detect", 0.0)}
    if "mine" in secs:
        timings["mine_s"] = secs["mine"]
    if "online" in secs:
        timings["online_s"] = secs["online"]
    v = run.values
    chains = v.get("chains")
    return NightlyResult(
        version=v.get("version"),
        rules=len(v["rules"]) if "rules" in v else 0,
        chains=chains.num_rows if chains is not None else 0,
        turns=int(v.get("turns", 0)),
        seconds=time.perf_counter() - t0,
        timings=timings,
        online=v.get("online"),
        refused=list(v.get("refused", [])),
        summary=run.summary_path,
        context=v.get("context"),
        labels=v.get("labels"),
        fpi=v.get("failure_points"),
        nlu=v.get("nlu"),
    )


def nightly_graph(
    workspace: Path,
    cfg: NightlyConfig,
    detector: PairScorer,
    engine: Engine,
    reader: Reader | None = None,
    protected: Collection[str] | None = None,
) -> NightlyGraph:
    """The night as steps: read -> sessionize -> detect -> late_feedback -> mine (guarded) ->
    evaluate -> publish -> online -> nlu -> context -> labels -> fpi (the last five when
    configured). `evaluate` estimates the candidate table's defect rate against the live one's on
    the logged turns (`selflearn.offpolicy`) and `publish` follows its gate.

    Per-group work (sessions per user, chains per session) runs on `engine`, and so does the
    embedding of the online indexes' texts (the night's heaviest arithmetic, batch by batch); the
    miner and the online training fit on the aggregated chains on the driver (the chains of a night
    fit in memory on one machine, and the fits are not per-group: they need every chain at once),
    except the Markov solve, which an engine that offers `solve_components` (Spark) distributes."""
    logs = Workspace(workspace).logs
    store = RewriteStore(workspace)

    def read(_: Mapping[str, Any]) -> dict[str, Any]:
        flat = engine.read_flat(logs)
        n_turns = flat.num_rows if isinstance(flat, pa.Table) else int(flat.count())
        return {"flat": flat, "turns": n_turns}

    def sessions(v: Mapping[str, Any]) -> dict[str, Any]:
        fn = partial(sessionize, gap_s=cfg.session_gap_s)
        return {"sessions": engine.map_groups(v["flat"], "user_id", fn, FLAT_SCHEMA)}

    def detect(v: Mapping[str, Any]) -> dict[str, Any]:
        step = DetectStep(detector=detector, threshold=cfg.rephrase_threshold)
        table = engine.to_arrow(engine.map_groups(v["sessions"], "session_id", step.chains, CHAIN_SCHEMA))
        # deterministic order whatever the engine's partitioning
        return {"chains": table.sort_by([("chain_id", "ascending")])}

    def feedback(v: Mapping[str, Any]) -> dict[str, Any]:
        # what people said about a turn after the service had logged it (serve/feedback.jsonl)
        chains = v["chains"]
        late = late_feedback(workspace, turn_owners(chains)) if chains.num_rows else {}
        return {"learning_chains": apply_late_feedback(chains, late), "late_feedback": len(late)}

    guard_box: dict[str, ProtectedGuard] = {}

    def mine(v: Mapping[str, Any]) -> dict[str, Any]:
        if not cfg.markov:
            from selflearn.contracts.domain import protected_by_default

            chains = v["learning_chains"]
            intents = {i for row in chains.column("intents").to_pylist() for i in row if i}
            guard_box["guard"] = ProtectedGuard.of(
                set(protected or ()) | protected_by_default(intents), reader
            )
            return {"rules": RewriteTable.empty(), "refused": []}
        # an engine that can solve the rephrase graph's components (Spark) does; else in-process
        solver: ComponentSolver | None = getattr(engine, "solve_components", None)
        miner = MarkovRewriteMiner(
            min_users=cfg.min_users, min_probability=cfg.min_probability, margin=cfg.margin, **cfg.miner
        ).fit(v["learning_chains"], previous=store.current(), solver=solver)
        if miner.allow_protected:
            guarded: Collection[str] = ()
        elif protected is None:
            guarded = miner.protected_
        else:
            guarded = set(protected) | set(miner.protected_)
        guard_box["guard"] = ProtectedGuard.of(guarded, reader)
        table, refused = guard_table(miner.to_table(), guard_box["guard"])
        return {"rules": table, "refused": refused}

    def evaluate(v: Mapping[str, Any]) -> dict[str, Any]:
        from selflearn.offpolicy import compare_policies, logged_turns, table_policy

        live = store.current()
        comparison = compare_policies(
            logged_turns(v["learning_chains"]),
            table_policy(v["rules"]),
            table_policy(live),
            level=cfg.evaluate_level,
        )
        go, reason = gate_decision(cfg.evaluate_gate, comparison, live is not None)
        evaluation = {
            "kind": "rewrite",
            "live_version": live.version if live is not None else None,
            **comparison.to_dict(),
            "gate": cfg.evaluate_gate,
            "publish": go,
            "reason": reason,
        }
        return {"evaluation": evaluation, "report": evaluation}

    def publish(v: Mapping[str, Any]) -> dict[str, Any]:
        table: RewriteTable = v["rules"]
        evaluation = v["evaluation"]
        version = None
        published = False
        if cfg.publish and evaluation["publish"]:
            meta = {
                "engine": cfg.engine,
                "turns": v["turns"],
                "chains": v["learning_chains"].num_rows,
                "late_feedback": v["late_feedback"],
                "evaluation": evaluation,
            }
            version, published = store.publish(table, meta), True
        elif cfg.publish:
            version = store.current_version()  # the gate kept the live table
        digest = table_digest(table.to_arrow(), sort_by=["source"])
        return {"version": version, "artifact": Artifact("rewrite", version, digest, published)}

    def online(v: Mapping[str, Any]) -> dict[str, Any]:
        from dataclasses import asdict

        from selflearn.rewrite.online_train import OnlineTrainConfig, train_online

        online_cfg = OnlineTrainConfig(**{"min_users": cfg.min_users, **(cfg.online or {})})
        trained = train_online(
            workspace,
            v["learning_chains"],
            online_cfg,
            previous_table=store.current(),
            guard=guard_box.get("guard"),
            embed=engine.embed,
        )
        digest = online_digest(workspace, trained.version)
        return {"online": asdict(trained), "artifact": Artifact("online", trained.version, digest)}

    steps = [
        Step("read", (), ("flat", "turns"), read),
        Step("sessionize", ("flat",), ("sessions",), sessions),
        Step("detect", ("sessions",), ("chains",), detect),
        Step("late_feedback", ("chains",), ("learning_chains", "late_feedback"), feedback),
        Step("mine", ("learning_chains",), ("rules", "refused"), mine),
        Step("evaluate", ("rules", "learning_chains"), ("evaluation",), evaluate),
        Step(
            "publish",
            ("rules", "evaluation", "learning_chains", "turns", "late_feedback"),
            ("version",),
            publish,
        ),
    ]

    def context(_: Mapping[str, Any]) -> dict[str, Any]:
        from selflearn.context.nightly import context_night

        night = context_night(workspace, detector)
        return {"context": night, "artifact": Artifact("context", night.version, night.digest)}

    def labels(_: Mapping[str, Any]) -> dict[str, Any]:
        from selflearn.labels.nightly import labels_night

        params = dict(cfg.labels or {})
        refit = bool(params.pop("refit", True))
        night = labels_night(workspace, detector, params, refit=refit)
        version = night.version or Workspace(workspace).store("labels").current_version()
        art = Artifact("labels", version, night.digest, night.version is not None)
        return {"labels": night, "artifact": art}

    def fpi(_: Mapping[str, Any]) -> dict[str, Any]:
        from selflearn.fpi.nightly import fpi_night

        night = fpi_night(workspace, publish=cfg.publish)
        return {"failure_points": night, "artifact": Artifact("failure_points", night.version, night.digest)}

    def understanding(v: Mapping[str, Any]) -> dict[str, Any]:
        from selflearn.contracts.domain import protected_by_default
        from selflearn.labels.nlu_night import nlu_night

        chains = v["learning_chains"]
        intents = {i for row in chains.column("intents").to_pylist() for i in row if i}
        # implicit feedback never teaches a protected intent: the deployment's set, and the default
        # policy over every intent the logs name
        guarded = set(protected or ()) | protected_by_default(intents)
        night = nlu_night(
            workspace,
            chains,
            min_people=cfg.min_users,
            protected=guarded,
            publish=cfg.publish,
            **(cfg.nlu or {}),
        )
        version = night.version or Workspace(workspace).store("nlu").current_version()
        return {"nlu": night, "artifact": Artifact("nlu", version, night.digest, night.version is not None)}

    if cfg.online is not None:
        steps.append(Step("online", ("learning_chains", "version"), ("online",), online))
    if cfg.nlu is not None:
        # one model over all examples, fitted on the driver; after the rewrites, which it does not
        # need, so that a failed fit never holds them back
        steps.append(Step("nlu", ("learning_chains",), ("nlu",), understanding))
    if cfg.context:
        # after the rewrites are published in a full night (steps run in this order), but needing
        # nothing from them, so `--only context` runs it alone; trained on the driver from the
        # logged turns (per-user histories and one reranker over every user's candidates)
        steps.append(Step("context", (), ("context",), context))
    if cfg.labels is not None:
        # one neural labeller over every dialogue, fitted on the driver from the logged turns
        steps.append(Step("labels", (), ("labels",), labels))
    if cfg.fpi:
        steps.append(Step("fpi", (), ("failure_points",), fpi))
    return NightlyGraph(steps)


def gate_decision(gate: str, comparison: Comparison, has_live: bool) -> tuple[bool, str]:
    """Whether the evaluate step lets the candidate go live, and why (`NightlyConfig.evaluate_gate`)."""
    if gate not in GATES:
        raise ValueError(f"evaluate_gate must be one of {', '.join(GATES)}; got {gate!r}")
    if gate == "off":
        return True, "gate off: estimate recorded"
    if not has_live:
        return True, "no live table to compare with"
    if comparison.changed == 0:
        return True, "serves every logged turn as the live table does"
    if gate == "no_worse":
        if comparison.difference.low > 0:
            return False, "confidently worse than the live table (the difference's interval is above 0)"
        return True, "not confidently worse than the live table"
    if comparison.candidate.high < comparison.live.defect_rate:
        return True, "upper bound below the live table's estimate"
    return False, "upper bound not below the live table's estimate"


def guarded_intents(protected: Collection[str] | None, chains: pa.Table) -> set[str]:
    """What implicit feedback may never teach: the deployment's protected intents, and those the
    default policy (`contracts.domain`) finds among every intent the chains name."""
    from selflearn.contracts.domain import protected_by_default

    intents = {i for row in chains.column("intents").to_pylist() for i in row if i}
    return set(protected or ()) | protected_by_default(intents)


def online_digest(workspace: Path, version: str | None) -> str:
    """The digest of a published online version's candidates (global and personal indexes)."""
    if version is None:
        return ""
    import pyarrow.parquet as pq

    from selflearn.rewrite.online import GLOBAL_FILE, PERSONAL_FILE, OnlineStore

    vdir = OnlineStore(workspace).store.path(version)
    glob = table_digest(pq.read_table(vdir / GLOBAL_FILE), sort_by=["text"])
    personal = table_digest(pq.read_table(vdir / PERSONAL_FILE), sort_by=["user_id", "text"])
    return hashlib.sha256(f"{glob}:{personal}".encode()).hexdigest()
