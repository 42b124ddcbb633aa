"""The operator's side of learning: `mine` and `nightly` run the nightly job on a workspace's logs;
`versions`, `rollback` and `disable` inspect and steer the published rewrite tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from selflearn.cli.common import _MIN_USERS_HELP, _load_detector, console
from selflearn.util.workspace import Workspace


def register(app: typer.Typer) -> None:
    """Add `mine`, `nightly`, `versions`, `rollback` and `disable` to the CLI."""
    app.command()(mine)
    app.command()(nightly)
    app.command()(versions)
    app.command()(rollback)
    app.command()(disable)


_DETECTOR_HELP = (
    "Rephrase detector: auto (the trained one the workspace holds, span before lexical, else the "
    "hand-set heuristic), heuristic, span, lexical or rule."
)


def mine(
    workspace: Annotated[Path, typer.Argument(help="Workspace with logs/.")],
    engine: Annotated[str, typer.Option(help="embedded or spark.")] = "embedded",
    min_users: Annotated[int, typer.Option(help=_MIN_USERS_HELP)] = 3,
    publish: Annotated[bool, typer.Option(help="Publish the mined table as a new version.")] = True,
    detector: Annotated[str, typer.Option(help=_DETECTOR_HELP)] = "auto",
) -> None:
    """Run the nightly job on a workspace's logs: feedback, chains, Markov mining, publish."""
    from selflearn.jobs.nightly import NightlyConfig, run_nightly

    det = _load_detector(workspace, detector)
    with console.status(f"mining rewrites on the {engine} engine"):
        res = run_nightly(
            workspace, NightlyConfig(engine=engine, min_users=min_users, publish=publish), detector=det
        )
    console.print(
        f"{res.turns:,} turns -> {res.chains:,} chains -> {res.rules:,} rewrites "
        f"in {res.seconds:.1f} s" + (f"; published {res.version}" if res.version else "")
    )


def nightly(
    workspace: Annotated[Path, typer.Argument(help="Workspace with logs/.")],
    engine: Annotated[str, typer.Option(help="embedded or spark.")] = "embedded",
    master: Annotated[
        str | None, typer.Option(help="Spark master URL (spark engine; default local[*]).")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            help="Run one step (and the steps it needs): read, sessionize, detect, late_feedback, "
            "mine, publish, online, nlu, context, labels, fpi."
        ),
    ] = None,
    online: Annotated[
        str, typer.Option(help="Online layers to train: off, global, personal or global+personal.")
    ] = "off",
    min_users: Annotated[int, typer.Option(help=_MIN_USERS_HELP)] = 3,
    detector: Annotated[str, typer.Option(help=_DETECTOR_HELP)] = "auto",
    context: Annotated[
        bool,
        typer.Option(help="Also retrain and publish the context reranker (needs WORKSPACE/domain.json)."),
    ] = False,
    labels: Annotated[
        bool,
        typer.Option(help="Also fit and publish the automatic labeller and label every request turn."),
    ] = False,
    label_epochs: Annotated[int, typer.Option(help="The labeller's training epochs.")] = 3,
    nlu: Annotated[
        bool,
        typer.Option(
            help="Also retrain the understanding model on wordings people rephrased their way out of, "
            "published only if it beats the live one on held-back people's logs."
        ),
    ] = False,
    fpi: Annotated[
        bool,
        typer.Option(
            help="Also publish each turn's failure point (needs a published fpi model: "
            "`selflearn fpi train LABELLED_WS --publish WORKSPACE`)."
        ),
    ] = False,
    evaluate_gate: Annotated[
        str,
        typer.Option(
            help="The evaluate step's gate on the rewrite table: off (record the estimate), "
            "no_worse (keep the live table when the candidate is confidently worse), or interval "
            "(publish only when the candidate's upper bound is below the live table's estimate)."
        ),
    ] = "off",
) -> None:
    """Run the nightly learning graph and write WORKSPACE/nightly/<run>/summary.json: each step's
    duration, each artifact's kind, version and content digest, and the evaluate step's estimate."""
    from selflearn.jobs.engine import make_engine
    from selflearn.jobs.graph import GraphError
    from selflearn.jobs.nightly import GATES, NightlyConfig, run_nightly

    if not (workspace / "logs").is_dir():
        raise typer.BadParameter(f"no logs under {workspace}", param_hint="WORKSPACE")
    if online not in ("off", "global", "personal", "global+personal"):
        raise typer.BadParameter(f"unknown layers {online!r}", param_hint="--online")
    det = _load_detector(workspace, detector)
    if context and not (workspace / "domain.json").exists():
        raise typer.BadParameter(
            f"no domain.json in {workspace}: the context reranker needs the deployment's intents "
            "(`selflearn domain export`)",
            param_hint="--context",
        )
    if evaluate_gate not in GATES:
        raise typer.BadParameter(f"choose one of {', '.join(GATES)}", param_hint="--evaluate-gate")
    cfg = NightlyConfig(
        engine=engine,
        min_users=min_users,
        online=None if online == "off" else {"layers": online},
        context=context,
        labels={"train": {"epochs": label_epochs}} if labels else None,
        fpi=fpi,
        nlu={} if nlu else None,
        evaluate_gate=evaluate_gate,
    )
    if fpi and Workspace(workspace).model_dir("fpi") is None:
        raise typer.BadParameter(
            f"no published fpi model in {workspace}: `selflearn fpi train LABELLED_WS --publish {workspace}`",
            param_hint="--fpi",
        )
    try:
        eng = make_engine(engine, **({"master": master} if master and engine == "spark" else {}))
    except (ValueError, TypeError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--engine") from exc
    try:
        with console.status(f"the nightly graph on the {engine} engine"):
            res = run_nightly(workspace, cfg, detector=det, engine=eng, only=only)
    except GraphError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    finally:
        eng.close()
    assert res.summary is not None
    summary = json.loads(res.summary.read_text(encoding="utf-8"))
    table = Table("step", "seconds", "published", "digest")
    for step in summary["steps"]:
        art = step["artifact"] or {}
        published = f"{art['kind']} {art['version']}" if art else ""
        if art and not art.get("published", True):
            published += " (kept)"
        table.add_row(step["name"], f"{step['seconds']:.2f}", published, (art.get("digest") or "")[:16])
    console.print(table)
    evaluation = next((s["report"] for s in summary["steps"] if s["name"] == "evaluate"), None)
    if evaluation:
        cand, live, diff = evaluation["candidate"], evaluation["live"], evaluation["difference"]
        console.print(
            f"evaluate: candidate defect rate {cand['defect_rate']:.1%} "
            f"({cand['low']:.1%}-{cand['high']:.1%}), "
            f"live {live['defect_rate']:.1%}, difference {diff['defect_rate']:+.2%} "
            f"({diff['low']:+.2%} to {diff['high']:+.2%}) over {evaluation['changed']} changed turns; "
            f"{'published' if evaluation['publish'] else 'kept the live table'}: {evaluation['reason']}"
        )
    if res.refused:
        console.print(f"{len(res.refused)} rules refused by the protected-action guard")
    console.print(f"summary: {res.summary}")


def versions(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
) -> None:
    """List published rewrite-table versions: when, how many rules, what made them, and their
    parent; the live one is marked with *."""
    from rich.table import Table

    from selflearn.rewrite.store import RewriteStore

    store = RewriteStore(workspace)
    cur = store.current_version()
    table = Table("", "version", "published (UTC)", "rules", "made by", "parent")
    for v in store.versions():
        m = store.manifest(v)
        counts = m.get("counts") or {}
        made = m.get("action") or ("mine" if m.get("miner") else "publish")
        if m.get("disabled"):
            made += f" ({len(m['disabled'].get('rule_ids', []))}: {m['disabled'].get('reason', '')})"
        table.add_row(
            "*" if v == cur else "",
            v,
            str(m.get("created_at", ""))[:19].replace("T", " "),
            str(counts.get("rules", "")),
            made,
            str(m.get("parent") or "-"),
        )
    console.print(table if store.versions() else f"no rewrite table published under {workspace}")


def rollback(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    to: Annotated[
        str | None, typer.Option(help="Version to roll back to (default: the previous one).")
    ] = None,
) -> None:
    """Point the live rewrite table back to the previous (or a given) version."""
    from selflearn.rewrite.store import RewriteStore

    v = RewriteStore(workspace).rollback(to)
    console.print(f"rewrite table rolled back; live version is now {v}")


def disable(
    workspace: Annotated[Path, typer.Argument(help="Workspace.")],
    rule_ids: Annotated[list[str], typer.Argument(help="Rule ids to take out.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the manifest).")] = "disabled by operator",
) -> None:
    """Take single rewrites out: publishes a new version without them."""
    from selflearn.rewrite.store import RewriteStore

    v = RewriteStore(workspace).disable(rule_ids, reason)
    console.print(f"published {v} without {len(rule_ids)} rule(s)")
