"""report.json and the defect-rate plot: the stable output of `selflearn demo` and `bench`.

Shape (stable; extend, never rename; documented in docs/report.md): {"days": [{day, turns,
request_turns, defect_rate, rewrites_published, rewrites_fired, wins, losses, ...,
first_attempt_defect_rate, goal_success_rate, control_defect_rate, ...}], "summary":
{relative_reduction, win_loss_ratio, ..., vs_control, first_attempt, goal_success}, "config":
{...}}. `win_loss_ratio` is wins / max(losses, 1) so it stays a finite number; `losses` is
reported beside it. `relative_reduction` is the old, flattering figure (last day against first day
of the learning arm alone); `vs_control` (`eval.compare`) is the one to quote."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from selflearn.util.atomic import atomic_write_text


@dataclass
class DayMetrics:
    day: int
    turns: int
    request_turns: int
    defect_rate: float
    rewrites_published: int
    rewrites_fired: int
    wins: int
    losses: int
    neutral_fired: int = 0  # fired, same outcome either way
    false_wakes: int = 0
    mean_wer: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def day_metrics(day: int, truth: pa.Table, turns: int, rewrites_published: int) -> DayMetrics:
    """Judge one day's traffic against its truth table."""
    t = pl.from_arrow(truth)
    assert isinstance(t, pl.DataFrame)
    req = t.filter(pl.col("is_request"))
    fired = t.filter(pl.col("rewrite_fired"))
    wins = fired.filter(pl.col("success") & ~pl.col("success_without_rewrite").fill_null(False)).height
    losses = fired.filter(~pl.col("success") & pl.col("success_without_rewrite").fill_null(False)).height
    return DayMetrics(
        day=day,
        turns=t.height,
        request_turns=req.height,
        defect_rate=float((~req["success"]).sum() / req.height) if req.height else 0.0,
        rewrites_published=rewrites_published,
        rewrites_fired=fired.height,
        wins=wins,
        losses=losses,
        neutral_fired=fired.height - wins - losses,
        false_wakes=int((~t["directed"]).sum()),
        mean_wer=float(req["wer"].mean() or 0.0) if req.height else 0.0,  # type: ignore[arg-type]
    )


def summarize(days: list[DayMetrics]) -> dict[str, Any]:
    if not days:
        return {"relative_reduction": 0.0, "win_loss_ratio": 0.0, "wins": 0, "losses": 0}
    first, last = days[0].defect_rate, days[-1].defect_rate
    wins = sum(d.wins for d in days)
    losses = sum(d.losses for d in days)
    return {
        "relative_reduction": (1.0 - last / first) if first > 0 else 0.0,
        "win_loss_ratio": wins / max(losses, 1),
        "wins": wins,
        "losses": losses,
        "first_day_defect_rate": first,
        "last_day_defect_rate": last,
        "rewrites_fired": sum(d.rewrites_fired for d in days),
        "final_rewrites_published": days[-1].rewrites_published,
    }


def write_report(
    out: Path,
    days: list[DayMetrics],
    config: dict[str, Any],
    extra_summary: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write out/report.json and out/defect_rate.png; return the report. `comparison` holds the
    A/B figures against the control arm (`eval.compare.compare_arms`), added to the summary."""
    summary = summarize(days)
    if extra_summary:
        summary.update(extra_summary)
    if comparison:
        summary.update(comparison)
    rows = []
    for d in days:
        row = asdict(d)
        row.update(row.pop("extra"))
        rows.append(row)
    report = {"days": rows, "summary": summary, "config": config}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, default=str))
    plot_defect_rate(out / "defect_rate.png", days, summary)
    return report


def plot_defect_rate(path: Path, days: list[DayMetrics], summary: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from selflearn.util.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    xs = [d.day for d in days]
    ax.plot(xs, [100 * d.defect_rate for d in days], marker="o", color="#c0392b", label="learning arm")
    control = [d.extra.get("control_defect_rate") for d in days]
    if all(c is not None for c in control) and control:
        ax.plot(
            xs,
            [100 * float(c) for c in control],  # type: ignore[arg-type]
            marker="s",
            linestyle="--",
            color="#34495e",
            label="control arm (learning off)",
        )
    ax.set_xlabel("day")
    ax.set_ylabel("defect rate (% of request turns)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.bar(xs, [d.wins for d in days], width=0.35, alpha=0.35, color="#27ae60", label="rewrite wins")
    ax2.bar(
        [x + 0.35 for x in xs],
        [d.losses for d in days],
        width=0.35,
        alpha=0.5,
        color="#7f8c8d",
        label="rewrite losses",
    )
    ax2.set_ylabel("turns")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper right", fontsize=8)
    vs = summary.get("vs_control")
    if isinstance(vs, dict):
        lo, hi = vs["ci95"]
        title = (
            f"selflearn: days {vs['days'][0]}-{vs['days'][-1]} defect rate "
            f"{100 * vs['defect_rate_learning']:.1f}% vs control {100 * vs['defect_rate_control']:.1f}% "
            f"({100 * vs['relative_reduction']:.1f}% less, 95% CI {100 * lo:.1f} to {100 * hi:.1f}), "
            f"win/loss {summary.get('win_loss_ratio', 0):.1f}"
        )
    else:
        title = (
            f"selflearn: defect rate {100 * summary.get('first_day_defect_rate', 0):.1f}% -> "
            f"{100 * summary.get('last_day_defect_rate', 0):.1f}%, "
            f"win/loss {summary.get('win_loss_ratio', 0):.1f}"
        )
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
