"""`selflearn fpi report DIR`: predicted failure points of a workspace's logs, where they fall
(intent, device, room, day) and which requests fail most at each stage, as PNG plots, one
self-contained HTML page (plots inlined) and a JSON summary, so a team knows where to invest.

Reads only DIR/logs (the flat view); the model is a saved `GbmFpi` or `MixerFpi`
(`load_model`). Writes DIR/fpi/: predictions.parquet, summary.json, by_{intent,device,room,day}.png
and report.html, each atomically.
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from selflearn.fpi.features import Encoder
from selflearn.fpi.gbm import GbmFpi
from selflearn.fpi.labels import STAGES
from selflearn.fpi.mixer import MixerFpi
from selflearn.fpi.nbest import log_features
from selflearn.util.atomic import atomic_path, atomic_write_text

__all__ = ["GROUPS", "FpiReport", "load_model", "predict_workspace", "write_report"]

GROUPS: tuple[str, ...] = ("intent", "device", "room", "day")
FAILURES: tuple[str, ...] = tuple(s for s in STAGES if s not in ("correct", "unsupported"))
_COLOURS = {
    "false_wake": "#8e44ad",
    "asr": "#c0392b",
    "nlu": "#e67e22",
    "entity_resolution": "#2980b9",
    "result": "#16a085",
    "unsupported": "#7f8c8d",
}


def load_model(directory: str | Path) -> GbmFpi | MixerFpi:
    """A saved FPI model of either kind, by its manifest."""
    d = Path(directory)
    manifest = d / "manifest.json"
    if not manifest.exists():
        raise FileNotFoundError(f"no FPI model in {d} (no manifest.json): run `selflearn fpi train`")
    kind = json.loads(manifest.read_text()).get("kind")
    if kind == GbmFpi.kind:
        return GbmFpi.load(d)
    if kind == MixerFpi.kind:
        return MixerFpi.load(d)
    raise ValueError(f"{manifest}: unknown FPI model kind {kind!r}")


def predict_workspace(
    workspace: str | Path, model: GbmFpi | MixerFpi, encoder: Encoder | None = None
) -> pa.Table:
    """One row per logged turn: turn_id, user_id, day, intent, device, room, request, response,
    the predicted failure point and the model's probability for it."""
    logs = Path(workspace) / "logs"
    if not logs.exists():
        raise FileNotFoundError(f"no logs in {logs}")
    feats = log_features(logs, encoder=encoder)
    proba = model.predict_proba(feats)
    # the model's own decision (a calibrated GBM shifts it from the plain argmax)
    best = np.array([model.classes_.index(str(s)) for s in model.predict(feats)], dtype=int)
    cols: dict[str, Any] = {k: feats.meta[k] for k in ("turn_id", "user_id", *GROUPS, "request", "response")}
    cols["stage"] = [model.classes_[i] for i in best]
    cols["probability"] = [float(proba[i, j]) for i, j in enumerate(best)]
    return pa.table(cols)


@dataclass
class FpiReport:
    turns: int
    failures: int
    by_stage: dict[str, int]
    by_group: dict[str, dict[str, dict[str, int]]]  # group -> value -> stage -> count
    top_requests: dict[str, list[dict[str, Any]]]  # stage -> [{request, count, intent}]
    files: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _summarise(pred: pa.Table, top_n: int) -> tuple[dict[str, int], dict[str, Any], dict[str, Any]]:
    rows = pred.to_pylist()
    by_stage = dict(Counter(r["stage"] for r in rows))
    by_group: dict[str, dict[str, dict[str, int]]] = {}
    for g in GROUPS:
        table: dict[str, Counter[str]] = {}
        for r in rows:
            table.setdefault(str(r[g]), Counter())[r["stage"]] += 1
        by_group[g] = {k: dict(v) for k, v in sorted(table.items())}
    top: dict[str, list[dict[str, Any]]] = {}
    for stage in (*FAILURES, "unsupported"):
        hits = [r for r in rows if r["stage"] == stage]
        if not hits:
            continue
        counts = Counter(r["request"] or "(nothing heard)" for r in hits)
        intents: dict[str, Counter[str]] = {}
        for r in hits:
            intents.setdefault(r["request"] or "(nothing heard)", Counter())[r["intent"]] += 1
        top[stage] = [
            {"request": req, "count": n, "intent": intents[req].most_common(1)[0][0]}
            for req, n in counts.most_common(top_n)
        ]
    return by_stage, by_group, top


def _plot(path: Path, group: str, table: dict[str, dict[str, int]], max_bars: int = 20) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def failures(v: dict[str, int]) -> int:
        return sum(n for s, n in v.items() if s in FAILURES)

    keys = list(table) if group == "day" else sorted(table, key=lambda k: -failures(table[k]))[:max_bars]
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.32 * max(len(keys), 3)), dpi=100)
    left = np.zeros(len(keys))
    for stage in FAILURES:
        vals = np.array([table[k].get(stage, 0) for k in keys], dtype=float)
        if vals.sum() == 0:
            continue
        ax.barh(keys, vals, left=left, color=_COLOURS[stage], label=stage)
        left += vals
    totals = [sum(table[k].values()) for k in keys]
    for y, (fails, total) in enumerate(zip(left, totals, strict=True)):
        ax.text(fails, y, f" {int(fails)}/{total}", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("turns with a failure point (predicted); label: failures/turns")
    ax.set_title(f"failure points by {group}", fontsize=10)
    if left.sum() > 0:
        ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _html(report: FpiReport, plots: dict[str, Path], model_name: str) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>selflearn failure points</title>",
        "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:13px;text-align:left}th{background:#f3f3f3}img{max-width:100%}</style></head><body>",
        "<h1>Failure points</h1>",
        f"<p>{report.turns:,} logged turns; {report.failures:,} with a predicted failure point "
        f"(model: {esc(model_name)}). The failure point is the first stage that failed irrecoverably; "
        "<em>unsupported</em> requests are not stage defects.</p>",
        "<table><tr><th>stage</th><th>turns</th><th>share</th></tr>",
    ]
    for stage in STAGES:
        n = report.by_stage.get(stage, 0)
        share = n / report.turns if report.turns else 0.0
        parts.append(f"<tr><td>{esc(stage)}</td><td>{n:,}</td><td>{share:.1%}</td></tr>")
    parts.append("</table>")
    for group, path in plots.items():
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<h2>By {esc(group)}</h2><img alt='failure points by {esc(group)}' ")
        parts.append(f"src='data:image/png;base64,{data}'>")
    parts.append("<h2>Top failing requests per stage</h2>")
    for stage, items in report.top_requests.items():
        parts.append(f"<h3>{esc(stage)}</h3><table><tr><th>request (as heard)</th><th>turns</th>")
        parts.append("<th>understood intent</th></tr>")
        for it in items:
            parts.append(
                f"<tr><td>{esc(it['request'])}</td><td>{it['count']}</td><td>{esc(it['intent'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def write_report(
    workspace: str | Path,
    model: GbmFpi | MixerFpi,
    out: str | Path | None = None,
    top_n: int = 10,
    encoder: Encoder | None = None,
) -> FpiReport:
    """Predict every turn of `workspace`'s logs and write the report into `out` (default
    workspace/fpi); returns what it wrote."""
    ws = Path(workspace)
    out_dir = Path(out) if out is not None else ws / "fpi"
    out_dir.mkdir(parents=True, exist_ok=True)
    pred = predict_workspace(ws, model, encoder=encoder)
    with atomic_path(out_dir / "predictions.parquet") as tmp:
        pq.write_table(pred, tmp)
    by_stage, by_group, top = _summarise(pred, top_n)
    plots = {g: out_dir / f"by_{g}.png" for g in GROUPS}
    for g, path in plots.items():
        _plot(path, g, by_group[g])
    files = [str(out_dir / "predictions.parquet"), *(str(p) for p in plots.values())]
    files += [str(out_dir / "report.html"), str(out_dir / "summary.json")]
    report = FpiReport(
        turns=pred.num_rows,
        failures=sum(n for s, n in by_stage.items() if s in FAILURES),
        by_stage=by_stage,
        by_group=by_group,
        top_requests=top,
        files=files,
    )
    atomic_write_text(out_dir / "report.html", _html(report, plots, type(model).__name__))
    atomic_write_text(out_dir / "summary.json", json.dumps(report.to_json(), indent=2))
    return report
