"""The README's measured tables, generated from benchmarks/results/*.json (never typed by hand).

    .venv/bin/python benchmarks/report.py            # rewrite README.md's generated block
    .venv/bin/python benchmarks/report.py --check    # exit 1 if the block differs from what it would write
    .venv/bin/python benchmarks/report.py --print    # print the block, write nothing

Each table row names the result file it reads, a function that extracts its figures, an optional
target with its checks, and the source paths the result depends on. A row's source cell says:

* ``stale`` when commits after the result's recorded commit touch those paths
  (``git log <commit>..HEAD -- <deps>`` is non-empty): the code changed after the measurement;
* ``same behaviour at <commit>`` instead of ``stale`` when `benchmarks/behaviour.py` recorded an
  identical fixed-seed fingerprint of that bed at a later commit after which the paths did not
  change (for refactors: a pure move keeps its measurements, on the record);
* ``dirty`` when the result was written from a working tree whose uncommitted changes touched them;
* ``no provenance`` when the file predates provenance records (`benchmarks/provenance.py`), so
  neither can be decided;
* ``not measured`` in the figures when the file, or the part of it the row reads, is missing:
  nothing is invented.

Under each table, "how each figure was made" lists each result's commit and command so that a
reader can rerun it. The output is a pure function of the result files and the git history, so
``--check`` can tell a hand edit (or a result not yet rendered) from a clean block.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance import git as _git

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"

#: git(*args, root=...) -> stdout or None; injectable for tests.
Git = Callable[..., str | None]
Data = Mapping[str, Any]

# Source paths the results depend on (relative to the repository root).
S = "src/selflearn/"
LOOP_DEPS = (
    *(S + p for p in ("assistant", "simulate", "feedback", "rewrite", "jobs", "eval", "logs", "home")),
    *(S + p for p in ("grammar", "corpora", "text", "lexicon", "contracts", "speech", "compose.py")),
    # the understanding step (labels.nlu_night) and the workspace's stores serve the loop too
    *(S + p for p in ("labels", "util")),
)
ASR_DEPS = (S + "assistant/asr", S + "speech", S + "corpora", S + "text")


# --------------------------------------------------------------------------- formatting


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def spct(x: float, digits: int = 1) -> str:
    """A signed percentage, for changes."""
    return f"{100 * x:+.{digits}f}%"


def f3(x: float) -> str:
    return f"{x:.3f}"


def interval(ci: Sequence[float] | None, scale: float = 100.0, digits: int = 1) -> str:
    if not ci:
        return ""
    return f"[{scale * ci[0]:.{digits}f}, {scale * ci[1]:.{digits}f}]"


def seeds_note(n: int) -> str:
    return "1 seed" if n == 1 else f"mean of {n} seeds"


def per_seed(values: Sequence[float], fmt: Callable[[float], str] = lambda v: f"{100 * v:.1f}") -> str:
    return " / ".join(fmt(v) for v in values)


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Target:
    """A target in words and its checks (name -> data -> met?). A check that cannot be read
    (missing key) gives no verdict."""

    text: str
    checks: Mapping[str, Callable[[Data], bool]]


@dataclass(frozen=True)
class Row:
    """One table row: `cells` turns the result JSON into the row's figure cells."""

    label: str
    result: str
    cells: Callable[[Data], Sequence[str]]
    deps: Sequence[str]
    target: Target | None = None
    #: the provenance that stands for this row (default: the file's top-level one)
    provenance: Callable[[Data], Mapping[str, Any] | None] = lambda d: d.get("provenance")
    #: which part of the file, for the footnote when parts have their own provenance
    part: str = ""
    #: the closed-loop bed the row measures: a behaviour fingerprint of that bed can carry it
    bed: str = ""

    @property
    def script(self) -> str:
        """The benchmark that writes the result: the last `benchmarks/*.py` among the deps."""
        scripts = [d for d in self.deps if d.startswith("benchmarks/") and d.endswith(".py")]
        return scripts[-1] if scripts else "benchmarks/"


@dataclass(frozen=True)
class Table:
    title: str
    intro: str
    columns: Sequence[str]  # the figure columns, between the label column and target/verdict/source
    label_column: str
    rows: Sequence[Row]
    with_target: bool = True


# --------------------------------------------------------------------------- headline: closed_loop.json

ARM_LABEL = {
    "precomputed": "precomputed rewrites",
    "precomputed+online": "precomputed + online layers",
    "precomputed+nlu": "precomputed rewrites + understanding step",
}
BED_LABEL = {
    "simulator": "simulator (realistic sessions)",
    "slurp_real_asr": "SLURP, real recognition (strict judge)",
}
CLOSED_LOOP_TARGET = {"relative_reduction": 0.30, "ci95_low": 0.20}


def _arm(d: Data, bed: str, arm: str) -> Data:
    return d["beds"][bed]["arms"][arm]


def _reduction(fig: Data) -> str:
    """Relative reduction with the people-bootstrap CI and the seeds interval (or `1 seed`)."""
    out = f"{pct(fig['relative_reduction'])} {interval(fig.get('ci95'))}".strip()
    seeds = fig.get("seeds") or []
    if fig.get("ci95_seeds"):
        out += f"; seeds {interval(fig['ci95_seeds'])}"
    elif len(seeds) == 1:
        out += "; 1 seed"
    return out


def headline_cells(bed: str, arm: str) -> Callable[[Data], Sequence[str]]:
    def cells(d: Data) -> Sequence[str]:
        e = _arm(d, bed, arm)
        vs = e["vs_control"]
        n = len(e.get("seeds") or vs.get("seeds") or [])
        return [
            pct(vs["defect_rate_control"]),
            pct(vs["defect_rate_learning"]),
            _reduction(vs),
            _reduction(e["first_attempt"]),
            _reduction(e["goal_success"]),
            f"{e['wins']:,} / {e['losses']:,}",
            str(n),
        ]

    return cells


def headline_target(bed: str, arm: str) -> Target:
    def met(d: Data) -> bool:
        t = d.get("target") or CLOSED_LOOP_TARGET
        vs = _arm(d, bed, arm)["vs_control"]
        # The lower end of the wider interval: people share learned rewrites, so the bootstrap over
        # people is narrower than the spread between seeds (worlds).
        low = min(vs["ci95"][0], *(vs.get("ci95_seeds") or [vs["ci95"][0]]))
        return bool(vs["relative_reduction"] >= t["relative_reduction"] and low > t["ci95_low"])

    return Target("≥ 30%, CI low > 20%", {"reduction": met})


HEADLINE = Table(
    title="Headline: learning against a control arm on the same traffic",
    intro=(
        "Defect rates over request turns on the last two days, learning arm against a control arm "
        "that never learns, on the same people, goals and random streams (`benchmarks/closed_loop.py`; "
        "fields in `docs/report.md`). Reductions are 1 − learning / control with a 95% bootstrap "
        "interval over people and, with 3 or more seeds, a t interval across seeds. A rewrite learned "
        "from many people serves everyone, so people are not independent and the seeds interval is "
        "the one to read; the verdict takes the lower end of the wider interval."
    ),
    label_column="bed / learning arm",
    columns=(
        "control defects",
        "learning defects",
        "reduction (95% CI)",
        "first attempts",
        "goals not achieved",
        "wins / losses",
        "seeds",
    ),
    rows=tuple(
        Row(
            label=f"{BED_LABEL[bed]} / {ARM_LABEL[arm]}",
            result="closed_loop.json",
            cells=headline_cells(bed, arm),
            deps=(*LOOP_DEPS, "benchmarks/closed_loop.py"),
            target=headline_target(bed, arm),
            provenance=lambda d, bed=bed, arm=arm: _arm(d, bed, arm).get("provenance"),
            part=f"{bed} / {arm}",
            bed=bed,
        )
        for bed in BED_LABEL
        for arm in ARM_LABEL
    ),
)


# --------------------------------------------------------------------------- recognizer calibration

CAL_SIDES = ("channel_matched", "pocketsphinx", "channel_default")


def cal_cells(key: str, fmt: Callable[[Data, str], str]) -> Callable[[Data], Sequence[str]]:
    def cells(d: Data) -> Sequence[str]:
        return [fmt(d[side], key) if key in d[side] else "—" for side in CAL_SIDES]

    return cells


def _with_ci(side: Data, key: str) -> str:
    ci = side.get(f"{key}_ci95")
    return f"{side[key]:.3f} {interval(ci, scale=1.0, digits=3)}".strip()


def _share(side: Data, key: str) -> str:
    return pct(side[key])


def _num(side: Data, key: str) -> str:
    return f3(side[key])


def _repeat(side: Data, key: str) -> str:
    out = pct(side[key])
    if "repeat_identity_different_variants" in side:
        out += f" (other voice variant: {pct(side['repeat_identity_different_variants'])})"
    return out


CAL_DEPS = (*ASR_DEPS, "benchmarks/asr_calibration.py")
CALIBRATION = Table(
    title="Recognizer calibration: the simulated recognizer against pocketsphinx",
    intro=(
        "The same SLURP sentences through the simulated noisy channel (set to pocketsphinx's word "
        "error rate, and at its default rate) and through espeak-ng + pocketsphinx "
        "(`benchmarks/asr_calibration.py`). AUROC: how well confidence separates wrong from right "
        "utterances / words (95% bootstrap interval)."
    ),
    label_column="measure",
    columns=("simulated, matched WER", "pocketsphinx", "simulated, default"),
    with_target=False,
    rows=(
        Row("word error rate", "asr_calibration.json", cal_cells("wer", _share), CAL_DEPS),
        Row(
            "utterances with an error",
            "asr_calibration.json",
            cal_cells("sentence_error_rate", _share),
            CAL_DEPS,
        ),
        Row("utterance AUROC", "asr_calibration.json", cal_cells("utterance_auroc", _with_ci), CAL_DEPS),
        Row("word AUROC", "asr_calibration.json", cal_cells("word_auroc", _with_ci), CAL_DEPS),
        Row(
            "n-best holds the reference when the 1-best is wrong",
            "asr_calibration.json",
            cal_cells("nbest_contains_reference_given_wrong", _share),
            CAL_DEPS,
        ),
        Row(
            "same request heard identically twice",
            "asr_calibration.json",
            cal_cells("repeat_identity", _repeat),
            CAL_DEPS,
        ),
        Row(
            "mean confidence, right",
            "asr_calibration.json",
            cal_cells("mean_confidence_right", _num),
            CAL_DEPS,
        ),
        Row(
            "mean confidence, wrong",
            "asr_calibration.json",
            cal_cells("mean_confidence_wrong", _num),
            CAL_DEPS,
        ),
    ),
)


# --------------------------------------------------------------------------- capabilities


def rephrase_split(split: str, what: str) -> Callable[[Data], Sequence[str]]:
    def cells(d: Data) -> Sequence[str]:
        det = d["detection"][split]
        names = ("span", "lexical", "pairwise", "cosine", "rule")
        parts = [f"{n} {det[n]['f1']:.3f} ({det[n]['average_precision']:.3f})" for n in names if n in det]
        gap = d["span_vs_best_baseline"][split]
        return [
            f"{what}: F1 (AP) " + ", ".join(parts) + f"; span − best baseline ({gap['best_baseline']}): "
            f"{gap['span_minus_best_f1_points']:+.1f} F1 points; 1 seed"
        ]

    return cells


def rephrase_gap_met(split: str) -> Callable[[Data], bool]:
    return lambda d: d["span_vs_best_baseline"][split]["span_minus_best_f1_points"] >= 10.0


def rephrase_speed(d: Data) -> Sequence[str]:
    by = {(t["precision"], t["threads"]): t["turns_per_s"] for t in d["throughput"]}
    parts = [f"{p} {by[(p, 2)]:.0f}" for p in ("bf16", "fp32", "int8") if (p, 2) in by]
    return ["span model scoring on 2 threads, turns/s: " + ", ".join(parts) + " (bf16 where the CPU has it)"]


def rephrase_speed_met(d: Data) -> bool:
    return max(t["turns_per_s"] for t in d["throughput"] if t["threads"] == 2) >= 500


def rephrase_loops(d: Data) -> Sequence[str]:
    parts = []
    for det in ("span", "lexical"):
        loops = [x for x in d["loops"] if x["detector"] == det]
        if not loops:
            continue
        mean = sum(x["relative_reduction"] for x in loops) / len(loops)
        wins, losses = sum(x["wins"] for x in loops), sum(x["losses"] for x in loops)
        parts.append(
            f"{det} {pct(mean)} ({per_seed([x['relative_reduction'] for x in loops])}), {wins}/{losses}"
        )
    c = d["config"]
    return [
        f"closed loop {c['loop_users']} people × {c['loop_days']} days, last day vs first day (no control "
        f"arm), {seeds_note(len(d['loops']) // 2)}: " + "; ".join(parts) + " wins/losses"
    ]


ONLINE_BEDS = {
    "simulator": "simulator",
    "simulator_personal": "simulator, personal patterns",
    "slurp": "SLURP",
}


def online_cells(bed: str, file_note: str = "") -> Callable[[Data], Sequence[str]]:
    def cells(d: Data) -> Sequence[str]:
        b = d[bed]
        g = b["gains_robust"]
        seeds = sorted(b["gains_robust_per_seed"])
        per = per_seed([b["gains_robust_per_seed"][s]["online_global_vs_precomputed"] for s in seeds])
        arms = b["arms"]
        wl = ", ".join(
            f"{a} {arms[a]['wins']}/{arms[a]['losses']}" for a in ("global", "global+personal") if a in arms
        )
        sessions = d.get("config", {}).get("sessions")
        note = file_note + (f"{sessions} sessions: " if sessions else "")
        return [
            f"{note}global layer {spct(g['online_global_vs_precomputed'])} ({per}); personal layer "
            f"{spct(g['personal_vs_global'])} more; both {spct(g['online_all_vs_precomputed'])}; "
            f"wins/losses {wl}; {seeds_note(len(seeds))}"
        ]

    return cells


def online_checks(bed: str) -> Mapping[str, Callable[[Data], bool]]:
    def arms_wl(d: Data) -> bool:
        arms = d[bed]["arms"]
        return all(arms[a]["win_loss_ratio"] >= 10 for a in ("global", "global+personal") if a in arms)

    return {
        "global": lambda d: d[bed]["gains_robust"]["online_global_vs_precomputed"] >= 0.15,
        "personal": lambda d: d[bed]["gains_robust"]["personal_vs_global"] >= 0.05,
        "win/loss": arms_wl,
    }


ONLINE_TARGET_TEXT = "global ≥ +15%, personal ≥ +5%, win/loss ≥ 10"
ONLINE_DEPS = (*LOOP_DEPS, "benchmarks/online_rewrite.py")


def robustness_cells(d: Data) -> Sequence[str]:
    parts = []
    for name, run in d["runs"].items():
        g = run["simulator"]["gains_robust"]
        parts.append(
            f"{name.replace('_', ' ')}: global {spct(g['online_global_vs_precomputed'])}, personal "
            f"{spct(g['personal_vs_global'])}, both {spct(g['online_all_vs_precomputed'])}"
        )
    return ["simulator away from its defaults: " + "; ".join(parts) + "; 1 seed"]


def ceiling_cells(d: Data) -> Sequence[str]:
    ws = [w for w in d["workspaces"] if "/slurp-" in w["workspace"]]
    own = sum(w["counts"]["own_success_first"] for w in ws)
    failed = sum(w["failed"] for w in ws)
    per = per_seed([w["personal_ceiling"] for w in ws])
    return [
        f"SLURP: at most {pct(own / failed)} of the remaining failures ({own:,} of {failed:,}; {per} "
        f"per seed) were goals their asker had achieved before: the most a perfect personal layer "
        f"could fix; {len(ws)} seeds"
    ]


def serve_cells(model: str) -> Callable[[Data], Sequence[str]]:
    def cells(d: Data) -> Sequence[str]:
        h = next(x for x in d["http"] if x["layers"] == "global+personal")
        pre = next(x for x in d["in_process"] if x["layers"] == "off")
        most = max(
            (w["throughput_rps"] for w in d.get("wrk", []) if w.get("layers") == "global+personal"),
            default=None,
        )
        out = (
            f"{model}, both layers, HTTP at {h['target_rate']:.0f} req/s: p50 {h['p50_ms']:.1f} ms, "
            f"p99 {h['p99_ms']:.1f} ms, {h['errors']} errors"
        )
        if most is not None:
            out += f"; at most {most:.0f} req/s"
        return [out + f"; precomputed path in process p99 {pre['p99_ms']:.2f} ms; 1 run"]

    return cells


SERVE_CHECKS: Mapping[str, Callable[[Data], bool]] = {
    "p50": lambda d: next(x for x in d["http"] if x["layers"] == "global+personal")["p50_ms"] <= 10,
    "p99": lambda d: next(x for x in d["http"] if x["layers"] == "global+personal")["p99_ms"] <= 25,
    "errors": lambda d: next(x for x in d["http"] if x["layers"] == "global+personal")["errors"] == 0,
}
SERVE_DEPS = (S + "serve", S + "rewrite", S + "text", "benchmarks/serve_load.py")


def context_hard(d: Data) -> Sequence[str]:
    seeds = d["config"]["seeds"]
    return [
        f"8 ambiguity kinds: right {pct(d['hard_kinds_context_accuracy'])} with the context reranker, "
        f"{pct(d['hard_kinds_context_free_accuracy'])} without ({d['hard_kinds_n']:,} turns); "
        f"{seeds_note(len(seeds))} (pooled)"
    ]


def context_plain(d: Data) -> Sequence[str]:
    r = d["plain_replay"]
    diff = d["plain_defect_diff_ci95"]
    return [
        f"ordinary traffic replayed with the reranker on: {r['harmed']} turns harmed vs {r['fixed']} fixed "
        f"of {r['n']:,} (net {100 * r['net_defect_change']:+.1f} points of defects); defect rate "
        f"{pct(d['plain_defect_rate_context'])} vs {pct(d['plain_defect_rate_context_free'])} context-free "
        f"(difference {100 * diff[0]:+.1f} points, 95% CI {interval(diff[1:])})"
    ]


def teach_cells(d: Data) -> Sequence[str]:
    c, n = d["clean"], d["noisy"]
    per = per_seed([s["next_request_success"] for s in n.get("per_seed", [])], f3)
    return [
        f"teaching turns understood {f3(c['turn_accuracy_teaching'])} clean / "
        f"{f3(n['turn_accuracy_teaching'])} "
        f"noisy ASR; next preference-dependent request succeeds {f3(c['next_request_success'])} clean / "
        f"{f3(n['next_request_success'])} noisy ({per} per seed); {seeds_note(len(d['config']['seeds']))}"
    ]


TEACH_CHECKS: Mapping[str, Callable[[Data], bool]] = {
    "turns": lambda d: (
        min(d[k]["turn_accuracy_teaching"] for k in ("clean", "noisy")) >= d["targets"]["turn_accuracy"]
    ),
    "next request": lambda d: (
        min(d[k]["next_request_success"] for k in ("clean", "noisy")) >= d["targets"]["next_request_success"]
    ),
}


def fpi_result(d: Data, setup: str, model: str) -> Data:
    return next(r for r in d["results"] if r["setup"] == setup and r["model"] == model)


FPI_UNSEEN = ("grammar + SLURP train part -> SLURP test bed", "gbm")
FPI_OTHERS = ("all labelled worlds -> SLURP test bed", "gbm-pool")
FPI_RULES = ("all labelled worlds -> SLURP test bed", "rules")


def fpi_cells(setup: tuple[str, str], what: str) -> Callable[[Data], Sequence[str]]:
    def cells(d: Data) -> Sequence[str]:
        r, rules = fpi_result(d, *setup), fpi_result(d, *FPI_RULES)
        return [
            f"{what}: accuracy {f3(r['accuracy'])}, macro-F1 {f3(r['macro_f1'])} (rules baseline "
            f"{f3(rules['accuracy'])} / {f3(rules['macro_f1'])}); 1 seed"
        ]

    return cells


def fpi_checks(setup: tuple[str, str]) -> Mapping[str, Callable[[Data], bool]]:
    return {
        "accuracy": lambda d: fpi_result(d, *setup)["accuracy"] >= d["target"]["slurp_testbed_accuracy"],
        "macro-F1": lambda d: fpi_result(d, *setup)["macro_f1"] >= d["target"]["slurp_testbed_macro_f1"],
    }


def labels_cells(d: Data) -> Sequence[str]:
    s = d["scores"]
    m, a = s["model"], s["annotator"]
    best = max(
        (x for x in d["sweep"]["defect+goal_success"] if x["precision"] >= 0.95), key=lambda x: x["coverage"]
    )
    loop = d["closed_loop"]
    return [
        f"defect F1 {f3(m['defect']['f1'])} vs a simulated 7%-error annotator {f3(a['defect']['f1'])}; "
        f"goal-success accuracy {f3(m['goal_success']['accuracy'])} vs {f3(a['goal_success']['accuracy'])}; "
        f"{pct(best['coverage'], 0)} of turns labelled at {pct(best['precision'])} precision; "
        f"NLU retrained on label-derived examples: defects {pct(loop['before']['defect_rate'])} → "
        f"{pct(loop['after']['defect_rate'])}; 1 seed"
    ]


def nlu_cells(d: Data) -> Sequence[str]:
    return [
        f"default NLU on {d['n_valid']} held-out SLURP devel requests: intent accuracy "
        f"{f3(d['intent_accuracy'])} (top-3 {f3(d['intent_top3_accuracy'])}), "
        f"slot F1 {f3(d['slot_f1']['f1'])}, "
        f"{d['latency']['cold_p50_us']:.0f} µs p50"
    ]


def nlu_transformer_cells(d: Data) -> Sequence[str]:
    rr, lat, dev = d["real_recognition"], d["latency"], d["devel_splits"]
    new, old = rr["transformer"], rr["tfidf_crf"]
    n_unlabelled = d.get("config", {}).get("unlabelled", 0)
    selftrained = f" (self-trained on {n_unlabelled:,} unlabelled requests)" if n_unlabelled else ""

    def mean(name: str, key: str) -> float:
        return sum(x[key] for x in dev[name]) / len(dev[name])

    return [
        f"MiniLM fine-tuned for intent + slots{selftrained} vs TF-IDF/CRF, trained on devel.jsonl; "
        f"real recognition "
        f"({new['n']:,} recordings): intent accuracy {pct(new['intent_accuracy'])} vs "
        f"{pct(old['intent_accuracy'])}, SLU-F1 {pct(new['slu_f1'])} vs {pct(old['slu_f1'])}; "
        f"devel splits intent accuracy {pct(mean('transformer', 'intent_accuracy'))} vs "
        f"{pct(mean('tfidf_crf', 'intent_accuracy'))}; p50/p99 {lat['transformer']['p50_ms']:.1f}/"
        f"{lat['transformer']['p99_ms']:.1f} ms on 1 thread; "
        f"trains in {d['train_seconds']['transformer']:.0f} s"
    ]


NLU_TRANSFORMER_CHECKS: Mapping[str, Callable[[Data], bool]] = {
    "intent accuracy +5 points": lambda d: bool(d["targets"]["intent_accuracy_points"]["met"]),
    "SLU-F1 +5 points": lambda d: bool(d["targets"]["slu_f1_points"]["met"]),
    "p99 <= 15 ms": lambda d: bool(d["targets"]["p99_ms"]["met"]),
}


def mining_cells(d: Data) -> Sequence[str]:
    log = d["log"]
    parts = [f"{m['engine']} {m['seconds']:.1f} s ({m['turns_per_s']:,.0f} turns/s)" for m in d["mining"]]
    return [f"nightly job on {log['turns']:,} turns of distinct simulated sessions: " + ", ".join(parts)]


def mining_copied_cells(d: Data) -> Sequence[str]:
    parts = [f"{m['engine']} {m['seconds']:.1f} s ({m['rules']:,} rules)" for m in d["mining"]]
    return [
        f"nightly job on {d['mining'][0]['turns']:,} turns of one loop log copied under new ids: "
        + ", ".join(parts)
    ]


def nightly_graph_cells(d: Data) -> Sequence[str]:
    runs = d["engines"]
    first = next(iter(runs.values()))["summary"]["steps"]
    kinds = [s["artifact"]["kind"] for s in first if s["artifact"] is not None]
    totals = ", ".join(f"{name} {r['seconds']:.0f} s" for name, r in runs.items())
    same = "equal" if d.get("digests_equal") else "NOT equal"
    return [
        f"the nightly graph on {d['users']:,} people x {d['days']} days ({d['turns']:,} turns), "
        f"publishing {', '.join(kinds)}: {totals}; every artifact digest {same} across engines"
    ]


def logs_cells(d: Data) -> Sequence[str]:
    r = d["results"]
    return [
        f"{d['n_turns']:,} turns: write Parquet {r['write_parquet']['turns_per_s']:,} turns/s, JSONL "
        f"{r['write_jsonl']['turns_per_s']:,}; read the flat view from Parquet "
        f"{r['read_flat(parquet)']['turns_per_s']:,} turns/s"
    ]


def log_format_cells(d: Data) -> Sequence[str]:
    p, dl = d["parquet"], d["delta"]
    return [
        f"{d['n_turns']:,} turns over {d['days']} days, today's day-partitioned Parquet vs Delta Lake: "
        f"append {p['append_turns_per_s']:,.0f} vs {dl['append_turns_per_s']:,.0f} turns/s; read the flat "
        f"view {p['read_flat_turns_per_s']:,.0f} vs {dl['read_flat_turns_per_s']:,.0f} turns/s (same "
        f"view: {'yes' if dl['flat_view_equals_parquet'] else 'NO'}); forget a person "
        f"{p['forget_person_s']:.2f} vs {dl['forget_person_s']:.2f} s; Delta keeps earlier versions "
        f"(time travel) until vacuumed"
    ]


REPHRASE_DEPS = (*LOOP_DEPS, "benchmarks/rephrase.py")
REPHRASE_TARGET = "span ≥ best baseline + 10 F1 points"
MINING_DEPS = (
    S + "jobs",
    S + "rewrite",
    S + "feedback",
    S + "logs",
    S + "simulate",
    "benchmarks/rewrite_loop.py",
)
CONTEXT_DEPS = (S + "context", S + "assistant", S + "simulate", "benchmarks/context.py")

CAPABILITIES = Table(
    title="Capabilities",
    intro=(
        "Each capability's own benchmark (`benchmarks/<name>.py`, 2 CPU cores). Figures are single "
        "seeds unless the row says otherwise; online figures are the relative cut of the mean defect rate "
        "over days 3-4 against the precomputed-only arm on paired traffic."
    ),
    label_column="capability",
    columns=("measured",),
    rows=(
        Row(
            "rephrase detection, SLURP through real recognition",
            "rephrase.json",
            rephrase_split("slurp_real", "held-out SLURP sessions, pocketsphinx replay"),
            REPHRASE_DEPS,
            Target(REPHRASE_TARGET, {"span gap": rephrase_gap_met("slurp_real")}),
        ),
        Row(
            "rephrase detection, SLURP through the noisy channel",
            "rephrase.json",
            rephrase_split("slurp", "same people, simulated recognizer"),
            REPHRASE_DEPS,
            Target(REPHRASE_TARGET, {"span gap": rephrase_gap_met("slurp")}),
        ),
        Row(
            "rephrase detection, simulated sessions",
            "rephrase.json",
            rephrase_split("sim_test", "realistic simulated sessions"),
            REPHRASE_DEPS,
            Target(REPHRASE_TARGET, {"span gap": rephrase_gap_met("sim_test")}),
        ),
        Row(
            "rephrase detection speed",
            "rephrase.json",
            rephrase_speed,
            REPHRASE_DEPS,
            Target("≥ 500 turns/s", {"speed": rephrase_speed_met}),
        ),
        Row("rephrase detection in the loop", "rephrase.json", rephrase_loops, REPHRASE_DEPS),
        *(
            Row(
                f"online rewriting, {label}",
                "online_rewrite.json",
                online_cells(bed),
                ONLINE_DEPS,
                Target(ONLINE_TARGET_TEXT, online_checks(bed)),
            )
            for bed, label in ONLINE_BEDS.items()
        ),
        Row(
            "online rewriting, SLURP over 8 days",
            "online_rewrite_slurp8.json",
            online_cells("slurp", "judged on days 7-8: "),
            ONLINE_DEPS,
            Target(ONLINE_TARGET_TEXT, online_checks("slurp")),
        ),
        Row("online rewriting, robustness", "online_rewrite_robustness.json", robustness_cells, ONLINE_DEPS),
        Row(
            "online rewriting, SLURP's personal ceiling",
            "online_ceilings.json",
            ceiling_cells,
            (*ONLINE_DEPS, "benchmarks/online_ceilings.py"),
        ),
        Row(
            "serving (`selflearn serve`)",
            "serve_load.json",
            serve_cells("simulator model"),
            SERVE_DEPS,
            Target("p50 ≤ 10 ms, p99 ≤ 25 ms, 0 errors at 200 req/s", SERVE_CHECKS),
        ),
        Row(
            "serving, SLURP model with the catalog",
            "serve_load_slurp.json",
            serve_cells("SLURP model"),
            SERVE_DEPS,
            Target("p50 ≤ 10 ms, p99 ≤ 25 ms, 0 errors at 200 req/s", SERVE_CHECKS),
        ),
        Row(
            "context-aware interpretation",
            "context.json",
            context_hard,
            CONTEXT_DEPS,
            Target("≥ 90% where context-free ≤ 60%", {"accuracy": lambda d: bool(d["target_met"])}),
        ),
        Row(
            "context reranker on ordinary traffic",
            "context.json",
            context_plain,
            CONTEXT_DEPS,
            Target("no net harm", {"harm": lambda d: bool(d["replay_harm_ok"])}),
        ),
        Row(
            "teachable preferences",
            "teach.json",
            teach_cells,
            (S + "teach", S + "assistant", S + "simulate", "benchmarks/teach.py"),
            Target("turns ≥ 0.93, next request ≥ 0.95", TEACH_CHECKS),
        ),
        Row(
            "failure point isolation, requests never seen",
            "fpi.json",
            fpi_cells(FPI_UNSEEN, "SLURP test bed, trained on grammar + SLURP train part"),
            (S + "fpi", S + "assistant", S + "simulate", S + "corpora", "benchmarks/fpi.py"),
            Target("accuracy ≥ 0.90, macro-F1 ≥ 0.85", fpi_checks(FPI_UNSEEN)),
        ),
        Row(
            "failure point isolation, other people's traffic",
            "fpi.json",
            fpi_cells(FPI_OTHERS, "SLURP test bed, trained on all labelled worlds"),
            (S + "fpi", S + "assistant", S + "simulate", S + "corpora", "benchmarks/fpi.py"),
            Target("accuracy ≥ 0.90, macro-F1 ≥ 0.85", fpi_checks(FPI_OTHERS)),
        ),
        Row(
            "automatic labels",
            "labels.json",
            labels_cells,
            (S + "labels", S + "assistant", S + "simulate", S + "feedback", "benchmarks/labels.py"),
        ),
        Row("NLU", "nlu.json", nlu_cells, (S + "assistant/nlu", S + "corpora", "benchmarks/nlu.py")),
        Row(
            "transformer NLU",
            "nlu_transformer.json",
            nlu_transformer_cells,
            (S + "assistant/nlu", S + "corpora", S + "text", "benchmarks/nlu_transformer.py"),
            Target(
                "real recognition: +5 points intent accuracy and SLU-F1, p99 ≤ 15 ms", NLU_TRANSFORMER_CHECKS
            ),
        ),
        Row("nightly mining", "rewrite_mining.json", mining_cells, MINING_DEPS),
        Row("nightly mining, both engines", "rewrite_loop.json", mining_copied_cells, MINING_DEPS),
        Row(
            "nightly graph, both engines",
            "nightly_graph.json",
            nightly_graph_cells,
            (*LOOP_DEPS, "benchmarks/nightly_graph.py"),
        ),
        Row("log IO", "logs_io.json", logs_cells, (S + "logs", "benchmarks/logs_io.py")),
        Row(
            "log table format",
            "logs_table_format.json",
            log_format_cells,
            (S + "logs", "benchmarks/logs_io.py", "benchmarks/logs_table_format.py"),
        ),
    ),
)

# --------------------------------------------------------------------------- reliability.json

RELIABILITY_DEPS = (
    S + "serve",
    S + "privacy",
    S + "contracts",
    S + "util",
    S + "logs",
    S + "rewrite",
    S + "feedback",
    S + "jobs",
    S + "assistant/nlu",
    "benchmarks/reliability.py",
)


def _zero(section: str, key: str) -> Callable[[Data], bool]:
    return lambda d: int(d[section][key]) == 0


def crash_cells(d: Data) -> Sequence[str]:
    c = d["crash"]
    return [
        f"{c['acknowledged_turns_lost']} of {c['acknowledged_turns']:,} acknowledged turns lost over "
        f"{c['trials']} kill -9 trials; {c['duplicated']} stored twice"
        + (
            f"; `selflearn mine` killed {c['publish_kills']} times mid-run: "
            f"{c['publish_kills_left_invalid_store']} stores left invalid"
            if "publish_kills" in c
            else ""
        )
    ]


def http_cells(d: Data) -> Sequence[str]:
    h = d["http"]
    return [
        f"{h['status_5xx']} of {h['requests_tried']} malformed or hostile requests answered 5xx; "
        f"{h['echoed']} echoed long input back"
    ]


def deletion_cells(d: Data) -> Sequence[str]:
    x = d["deletion"]
    removed = sum(x["records_removed"].values())
    return [
        f"{x['traces_left']} places still naming the person after `selflearn forget` "
        f"({removed:,} records removed from {x['places_before']} places); {x['restored_by_nightly']} "
        "after the nightly job ran again"
    ]


def load_cells(d: Data) -> Sequence[str]:
    parts = [
        f"{float(rate):.0f} req/s: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {r['errors']} errors"
        for rate, r in sorted(d["load"].items(), key=lambda kv: float(kv[0]))
    ]
    return ["/v1/interpret with the fsynced journal, " + "; ".join(parts)]


def ingest_cells(d: Data) -> Sequence[str]:
    x = d["ingest"]
    return [
        f"{x['records_tried']:,} fuzzed records in {x['files']} files: {x['crashes']} crashes, "
        f"{x['files_rejected_whole']} files sunk whole, {x['silently_dropped']} silently dropped; "
        f"a file ingested twice stored {x['duplicates_stored_on_reingest']} turns twice"
    ]


def poisoning_cells(d: Data) -> Sequence[str]:
    x = d["poisoning"]
    if x is None:
        raise KeyError("poisoning")  # "not measured"
    smallest = x["min_fake_principals_for_global_rule"]
    crowd = (
        f"{smallest} fake principals (own tokens) in one burst installed a global rule at k = {x['k']}"
        if smallest is not None
        else f"no burst of up to {max(map(int, x['principals_tried']))} fake principals (own tokens) "
        f"installed a global rule at k = {x['k']}"
    )
    if x.get("min_fake_principals_spaced_out") is not None:
        crowd += f"; spaced out, {x['min_fake_principals_spaced_out']} did"
    one = "did" if x["one_credential_installs"] else "did not"
    ctl = x["control_without_guard"]["protected_rules_installed"]
    return [
        f"{crowd}; one token with {x['one_credential_user_ids']} user ids {one}; "
        f"{x['protected_attack_principals']} fake principals plus "
        f"{x['forged_turns_ingested']:,} forged turns (households and intents forged): "
        f"{x['protected_rules_installed']} protected rules installed "
        f"({ctl} with the guard off), {x['protected_online_candidates']} protected online candidates, "
        f"{x['protected_served_to_ordinary_people']} protected actions served to ordinary people"
    ]


RELIABILITY = Table(
    title="Reliability and security",
    intro=(
        "`benchmarks/reliability.py` on a small simulated workspace, the service in its own process "
        "over loopback (2 CPU cores). Fuzzed ingestion exercises `selflearn ingest`'s function with "
        "10,000 records; poisoning sends fake crowds' rephrases through the service, each fake "
        "principal with its own token, and forges log fields in an ingested file."
    ),
    label_column="property",
    columns=("measured",),
    rows=(
        Row(
            "no acknowledged turn lost",
            "reliability.json",
            crash_cells,
            RELIABILITY_DEPS,
            Target(
                "0 lost, 0 twice, ≥ 10 kills",
                {
                    "lost": _zero("crash", "acknowledged_turns_lost"),
                    "twice": _zero("crash", "duplicated"),
                    "trials": lambda d: int(d["crash"]["trials"]) >= 10,
                    "publish": lambda d: int(d["crash"].get("publish_kills_left_invalid_store", 0)) == 0,
                },
            ),
        ),
        Row(
            "malformed requests",
            "reliability.json",
            http_cells,
            RELIABILITY_DEPS,
            Target(
                "0 answered 5xx, none echoed",
                {
                    "5xx": _zero("http", "status_5xx"),
                    "echo": _zero("http", "echoed"),
                },
            ),
        ),
        Row(
            "deletion that lasts",
            "reliability.json",
            deletion_cells,
            RELIABILITY_DEPS,
            Target(
                "0 traces, 0 restored",
                {
                    "traces": _zero("deletion", "traces_left"),
                    "restored": _zero("deletion", "restored_by_nightly"),
                },
            ),
        ),
        Row("interpret under load", "reliability.json", load_cells, RELIABILITY_DEPS),
        Row(
            "poisoning: protected rules installed by fake crowds",
            "reliability.json",
            poisoning_cells,
            RELIABILITY_DEPS,
            Target(
                "0 protected rules, candidates or actions served; k credentials needed, one never enough",
                {
                    "protected": _zero("poisoning", "protected_rules_installed"),
                    "candidates": _zero("poisoning", "protected_online_candidates"),
                    "served": _zero("poisoning", "protected_served_to_ordinary_people"),
                    "k": lambda d: all(
                        (d["poisoning"].get(f) or 10**9) >= d["poisoning"]["k"]
                        for f in ("min_fake_principals_for_global_rule", "min_fake_principals_spaced_out")
                    ),
                    "one credential": lambda d: not d["poisoning"]["one_credential_installs"],
                },
            ),
            part="poisoning",
        ),
        Row(
            "ingestion: fuzzed records",
            "reliability.json",
            ingest_cells,
            RELIABILITY_DEPS,
            Target(
                "0 crashes, 0 dropped, 0 files sunk whole, 0 stored twice",
                {
                    "crashes": _zero("ingest", "crashes"),
                    "dropped": _zero("ingest", "silently_dropped"),
                    "whole files": _zero("ingest", "files_rejected_whole"),
                    "stored twice": _zero("ingest", "duplicates_stored_on_reingest"),
                },
            ),
        ),
    ),
)


TABLES = (HEADLINE, CALIBRATION, CAPABILITIES, RELIABILITY)


# --------------------------------------------------------------------------- staleness


@dataclass
class Sources:
    """Reads result files and judges them against the git history of `root`."""

    results: Path
    root: Path
    git: Git = _git
    _cache: dict[tuple[str, tuple[str, ...]], str | None] = field(default_factory=dict)

    def load(self, name: str) -> Data | None:
        path = self.results / name
        if not path.exists():
            return None
        data: Data = json.loads(path.read_text())
        return data

    def changed_since(self, commit: str, deps: Sequence[str]) -> str | None:
        """Commits after `commit` touching deps (newline-separated), or None when git cannot say."""
        key = (commit, tuple(deps))
        if key not in self._cache:
            self._cache[key] = self.git("log", "--format=%H", f"{commit}..HEAD", "--", *deps, root=self.root)
        return self._cache[key]

    def same_code(self, a: str, b: str, deps: Sequence[str]) -> bool:
        """Whether commits `a` and `b` hold the same content under deps (`git diff`)."""
        key = (f"{a}^{b}", tuple(deps))
        if key not in self._cache:
            self._cache[key] = self.git("diff", "--name-only", a, b, "--", *deps, root=self.root)
        out = self._cache[key]
        return out is not None and not out.strip()

    def carried_to(self, commit: str, deps: Sequence[str], bed: str) -> str | None:
        """A later commit at which the loop's behaviour on `bed` was shown identical to `commit`'s
        (a chain of equal fingerprints in behaviour.json), with no change to deps after it."""
        if not bed:
            return None
        same = [
            r
            for r in (self.load("behaviour.json") or {}).get("comparisons", [])
            if r.get("same") and r.get("bed") == bed
        ]
        # A comparison starts from the result's own commit, or from any commit whose copy of the
        # deps is identical to it (the same code behaves the same).
        reached, frontier = {commit}, [commit]
        while frontier:
            at = frontier.pop()
            for r in same:
                start, to = str(r["from"]), str(r["to"])
                if to not in reached and (start == at or self.same_code(at, start, deps)):
                    reached.add(to)
                    frontier.append(to)
        for to in sorted(reached - {commit}):
            changed = self.changed_since(to, deps)
            if changed is not None and not changed.strip():
                return to
        return None

    def flags(self, prov: Mapping[str, Any] | None, deps: Sequence[str], bed: str = "") -> list[str]:
        if not prov or not prov.get("commit"):
            return ["no provenance"]
        out = []
        changed = self.changed_since(str(prov["commit"]), deps)
        if changed is None:
            out.append("unknown commit")
        elif changed.strip():
            carried = self.carried_to(str(prov["commit"]), deps, bed)
            out.append(f"same behaviour at `{carried[:7]}`" if carried else "stale")
        if any(_under(p, deps) for p in prov.get("dirty_paths") or ()):
            out.append("dirty")
        return out


def _under(path: str, deps: Sequence[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


# --------------------------------------------------------------------------- rendering


#: what a row's extractor raises when the JSON lacks what it reads: the row is "not measured"
READ_ERRORS = (KeyError, IndexError, TypeError, StopIteration, ValueError, ZeroDivisionError)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def verdict(target: Target, data: Data) -> str:
    missed, unknown = [], False
    for name, check in target.checks.items():
        try:
            ok = check(data)
        except READ_ERRORS:
            unknown = True
            continue
        if not ok:
            missed.append(name)
    if missed:
        return "**missed**" + (f" ({', '.join(missed)})" if len(target.checks) > 1 else "")
    return "—" if unknown else "met"


def _made(name: str, row: Row, prov: Mapping[str, Any] | None) -> str:
    what = f"`{name}`" + (f" ({row.part})" if row.part else "")
    if not prov or not prov.get("commit"):
        return f"{what}: no provenance (written before results recorded their commit); made by `{row.script}`"
    # A benchmark rewriting its own result files is not a change to the code it measured.
    code = [p for p in prov.get("dirty_paths") or () if not str(p).startswith("benchmarks/results/")]
    dirty = ", from a dirty tree" if code else ""
    written = str(prov.get("written", ""))[:10]
    when = f", {written}" if written else ""
    return f"{what}: commit `{str(prov['commit'])[:7]}`{dirty}{when}: `{prov.get('command', '?')}`"


def render_table(table: Table, src: Sources) -> str:
    header = [table.label_column, *table.columns]
    if table.with_target:
        header += ["target", "verdict"]
    header.append("source")
    lines = [f"### {table.title}", "", table.intro, "", "| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    made: dict[str, None] = {}
    for row in table.rows:
        data = src.load(row.result)
        blank = ["not measured", *("" for _ in table.columns[1:])]
        cells: list[str] = blank
        target_cells = [row.target.text, "—"] if row.target else ["", ""]
        if data is None:
            flags = ["missing"]
            made[f"`{row.result}`: not measured yet; make it with `python {row.script}`"] = None
        else:
            try:
                cells = [str(c) for c in row.cells(data)]
            except READ_ERRORS:
                # the file is there but not the part this row reads
                what = f"`{row.result}`" + (f" ({row.part})" if row.part else "")
                flags = ["not measured"]
                made[f"{what}: not measured yet; make it with `python {row.script}`"] = None
            else:
                if row.target:
                    target_cells = [row.target.text, verdict(row.target, data)]
                try:
                    prov = row.provenance(data)
                except READ_ERRORS:
                    prov = None
                flags = src.flags(prov, row.deps, row.bed)
                made[_made(row.result, row, prov)] = None
        if len(cells) != len(table.columns):
            raise ValueError(f"row {row.label!r} gives {len(cells)} cells for {len(table.columns)} columns")
        line = [row.label, *cells]
        if table.with_target:
            line += target_cells
        line.append(f"`{row.result}`" + "".join(f" · {f}" for f in flags))
        lines.append("| " + " | ".join(_cell(c) for c in line) + " |")
    if made:
        lines += ["", "How each figure was made:", ""]
        lines += [f"- {m}" for m in made]
    return "\n".join(lines)


LEGEND = (
    "Generated by `python benchmarks/report.py` from `benchmarks/results/*.json`; do not edit by hand "
    "(`--check` fails on a block that differs). Source flags: `stale` = the code the result depends on "
    "changed after it was measured; `same behaviour at <commit>` = it changed, and a fixed-seed "
    "fingerprint of the loop (`benchmarks/behaviour.py`) came out identical at that later commit; "
    "`dirty` = measured with uncommitted changes to that code; "
    "`no provenance` = written before results recorded their commit; `missing` = no result file; "
    "`not measured` = the file lacks that part. "
    "Missed targets are in bold."
)


def render(src: Sources, tables: Sequence[Table] = TABLES) -> str:
    return "\n\n".join([LEGEND, *(render_table(t, src) for t in tables)])


def replace_block(text: str, block: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {BEGIN} ... {END} block")
    return text[: start + len(BEGIN)] + "\n" + block + "\n" + text[end:]


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None, git: Git = _git) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--check", action="store_true", help="exit 1 if README's block is not what would be written"
    )
    ap.add_argument("--print", dest="show", action="store_true", help="print the block; write nothing")
    ap.add_argument("--results", type=Path, default=RESULTS)
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument(
        "--root", type=Path, default=ROOT, help="the git repository the results are judged against"
    )
    a = ap.parse_args(argv)
    block = render(Sources(a.results, a.root, git))
    if a.show:
        print(block)
        return 0
    text = a.readme.read_text(encoding="utf-8")
    try:
        new = replace_block(text, block)
    except ValueError as e:
        print(f"{a.readme}: {e}", file=sys.stderr)
        return 2
    if a.check:
        if new != text:
            print(
                f"{a.readme}: the results block is not what benchmarks/report.py writes; rerun it",
                file=sys.stderr,
            )
            return 1
        print(f"{a.readme}: results block up to date")
        return 0
    if new != text:
        write_atomic(a.readme, new)
        print(f"wrote the results block of {a.readme}")
    else:
        print(f"{a.readme}: results block already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
