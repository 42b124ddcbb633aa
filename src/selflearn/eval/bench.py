"""`selflearn bench`: the closed loop on real requests (a SLURP-format goals file), judged against
gold interpretations, with a choice of recogniser.

* The NLU trains on the ``--train`` file only; the goals file is what simulated people ask.
* ASR: ``noisy`` (the simulated noisy channel), ``pocketsphinx`` (espeak-ng speech decoded by
  pocketsphinx with an LM built from the *training* sentences plus optional unlabeled ``--lm-text``,
  never from the goals) or ``replay`` (a recognition-results file answering for each utterance's
  recording; utterances without one, e.g. paraphrases, fall back to the noisy channel).
* Judging: the SLURP judging rule (`selflearn.simulate.slurp_goals`): success iff no stage failed
  and the top intent and the normalized multiset of (slot type, value) equal gold.
* Each night `jobs.nightly.run_nightly` (which reads only logs/) mines and publishes rewrites.
* The rephrase detector is fitted on a separate calibration population asking the *training*
  file's requests (noisy channel, another seed), so it never sees the evaluation requests; or
  ``detector="heuristic"`` uses the untrained heuristic.

Beside the learning arm runs a control arm with learning off on the same traffic (`eval.arms`,
logs under DIR/control/); `BenchConfig.seeds` runs one bench per seed into DIR/seed=N/ and pools
them (`eval.seeds`). Writes DIR/report.json in `eval.report.write_report`'s shape, with per
day ``wer`` (corpus word error rate of request turns), ``intent_accuracy`` (top intent = gold),
``slot_exact_f1`` (micro F1 of exact normalized (type, value) slot pairs of the top hypothesis)
and ``slu_f1`` (SLURP's SLU-F1 over the same normalized pairs, `eval.slu_metrics.slu_f1`:
entities matched by type, each match credited by the word and character Levenshtein distance of
its value), plus DIR/bench_metrics.png.

Changed: ``slu_f1`` used to hold the exact-match F1, which is now ``slot_exact_f1``; ``slu_f1`` is
now SLURP's SLU-F1 (usually the higher of the two). Every other key keeps its meaning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from selflearn.eval.arms import (
    CONTROL_DIR,
    ControlArm,
    adopt_understanding,
    learning_day_figures,
    understanding_wins,
)
from selflearn.eval.loop import _online_day_extra, finish_seed, fit_rephrase_detector
from selflearn.eval.report import DayMetrics, day_metrics
from selflearn.eval.seeds import SeedRun, run_loop_seeds
from selflearn.eval.slu_metrics import slu_f1
from selflearn.labels.nlu_night import base_examples_table, publish_nlu
from selflearn.rewrite.guard import nlu_reader
from selflearn.simulate.slurp_goals import SlurpGoals
from selflearn.simulate.slurp_traffic import SlurpDayResult, SlurpSimulator, TurnScore, recording_voice
from selflearn.simulate.traffic import SimConfig
from selflearn.simulate.truth import truth_table
from selflearn.util.workspace import Workspace

__all__ = ["ASR_CHOICES", "BenchConfig", "bench_pipeline", "day_scores", "run_bench"]

ASR_CHOICES = ("noisy", "pocketsphinx", "replay")
#: The understanding models the bench can train (`BenchConfig.nlu_model`).
NLU_MODELS = ("tfidf", "transformer")


def nlu_model(kind: str) -> Any:
    """An unfitted understanding model of `kind` with its defaults."""
    if kind == "tfidf":
        from selflearn.assistant.nlu.model import NluModel

        return NluModel()
    if kind == "transformer":
        from selflearn.assistant.nlu.transformer import TransformerNlu

        return TransformerNlu()
    raise ValueError(f"nlu_model must be one of {', '.join(NLU_MODELS)}; got {kind!r}")


_DROP = ("resolution", "action")  # SLURP requests are judged, not executed on the home


@dataclass
class BenchConfig:
    goals: Path
    train: Path
    asr: str = "noisy"
    recognitions: Path | None = None
    lm_text: Path | None = None
    users: int = 200
    days: int = 7
    seed: int = 0
    engine: str = "embedded"
    min_users: int = 3
    asr_error_rate: float | None = None  # noisy channel (and replay's fallback)
    detector: str = "trained"  # trained (= lexical) | heuristic | span | another registry name
    calibration_users: int = 60
    calibration_days: int = 2
    processes: int | None = None  # pocketsphinx pre-warm workers (default: all cores)
    cache_dir: Path | None = None  # speech cache (default: selflearn.speech.cache.default_cache_dir)
    progress: bool = True
    nightly: dict[str, Any] = field(default_factory=dict)
    # Online rewrite layers: "off" | "global" | "personal" | "global+personal" (see eval.loop).
    online: str = "off"
    online_train: dict[str, Any] = field(default_factory=dict)
    online_options: dict[str, Any] = field(default_factory=dict)
    # People's pacing and chaining of requests (SimConfig.realistic_sessions), for the traffic and
    # the rephrase detector's calibration population alike.
    realistic_sessions: bool = True
    # Common random numbers across arms (SimConfig.paired_streams): for A/B comparisons; the
    # control arm needs it.
    paired_streams: bool = True
    # A control arm with learning off on the same traffic (eval.arms); its logs go to DIR/control.
    control: bool = True
    # Several seeds: one bench per seed into DIR/seed=N/, pooled into DIR/report.json.
    seeds: list[int] | None = None
    # Seeds run this many at a time, each in its own process (eval.seeds); results are the same.
    processes_seeds: int = 1
    # The online global layer also draws candidates from the training file's requests (the
    # catalog, rewrite/catalog.py), unless online_train names another catalog (or None).
    online_catalog: bool = True
    # The understanding model trained on `train` (and retrained by the nlu step): NLU_MODELS.
    nlu_model: str = "tfidf"


def day_scores(scores: list[TurnScore]) -> dict[str, float]:
    """Per-day recognition and understanding quality over request turns: ``slot_exact_f1`` says
    how often slots are exactly right, ``slu_f1`` (SLURP's) also credits nearly right values, so
    a recognition slip in one character of a value is not scored like a missing slot."""
    words = sum(s.words for s in scores)
    tp = sum(s.slot_tp for s in scores)
    denom = 2 * tp + sum(s.slot_fp + s.slot_fn for s in scores)
    slurp = slu_f1([s.gold_slots for s in scores], [s.pred_slots for s in scores])
    return {
        "wer": sum(s.edits for s in scores) / words if words else 0.0,
        "intent_accuracy": sum(s.intent_ok for s in scores) / len(scores) if scores else 0.0,
        "slot_exact_f1": 2 * tp / denom if denom else 1.0,
        "slu_f1": slurp["slu_f1"],
    }


def _asr_entry(cfg: BenchConfig, train_sentences: list[str]) -> dict[str, Any]:
    from selflearn.compose import DEFAULT_ASR_ERROR_RATE

    rate = DEFAULT_ASR_ERROR_RATE if cfg.asr_error_rate is None else cfg.asr_error_rate
    noisy = {"component": "asr.noisy_channel.v1", "seed": cfg.seed, "error_rate": rate}
    if cfg.asr == "noisy":
        return noisy
    if cfg.asr == "replay":
        if cfg.recognitions is None:
            raise ValueError("--asr replay needs --recognitions FILE")
        return {"component": "asr.replay.v1", "file": str(cfg.recognitions), "fallback": noisy}
    if cfg.asr == "pocketsphinx":
        from selflearn.speech.lm import build_language_model

        text = list(train_sentences)
        if cfg.lm_text is not None:
            text += [ln for ln in cfg.lm_text.read_text(encoding="utf-8").splitlines() if ln.strip()]
        lm = build_language_model(text, cache_dir=cfg.cache_dir)
        entry: dict[str, Any] = {"component": "asr.pocketsphinx.v1", "lm": lm, "voice_seed": cfg.seed}
        if cfg.cache_dir is not None:
            entry["cache_dir"] = str(cfg.cache_dir)
        return entry
    raise ValueError(f"unknown ASR {cfg.asr!r}; choose one of {', '.join(ASR_CHOICES)}")


def bench_pipeline(
    nlu: Any,
    asr_entry: dict[str, Any],
    seed: int = 0,
    rewrite_store: Path | None = None,
    rewrite_online: str = "off",
    online_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The default pipeline without the home stages (resolution, action), with `asr_entry` as
    its recogniser: wake, asr, (rewrite), nlu, response."""
    from selflearn.compose import default_config

    out = []
    for entry in default_config(
        seed=seed,
        nlu=nlu,
        rewrite_store=rewrite_store,
        rewrite_online=rewrite_online,
        online_options=online_options,
    ):
        name = str(entry["component"])
        if name.split(".")[0] in _DROP:
            continue
        out.append(dict(asr_entry) if name.startswith("asr.") else entry)
    return out


def _prewarm(assistant: Any, goals: SlurpGoals, seed: int, processes: int | None, progress: bool) -> int:
    """Decode every recording of every goal once, in parallel, into the disk cache."""
    from selflearn.assistant.component import Utterance
    from selflearn.speech.pocketsphinx_asr import PocketsphinxAsr

    asr = assistant.component("asr")
    if not isinstance(asr, PocketsphinxAsr):
        return 0
    utts = [
        Utterance(text=g.sentence, speaker_id=r, voice=recording_voice(r, seed), recording=r)
        for g in goals.goals
        for r in g.recordings
    ]
    asr.recognize_many(utts, processes=processes, progress=progress)
    return len(utts)


def _rephrase_detector(cfg: BenchConfig, out: Path, nlu: Any, train_goals: SlurpGoals) -> Any:
    from selflearn.compose import build_assistant
    from selflearn.feedback.rephrase.registry import load_detector, model_dir_name
    from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector

    if cfg.detector == "heuristic":
        return HeuristicRephraseDetector()
    kind = "lexical" if cfg.detector == "trained" else cfg.detector
    ws = Workspace(out)
    model_dir = ws.model_dir(model_dir_name(kind))
    if model_dir is not None:
        return load_detector(model_dir)
    cal_seed = cfg.seed + 7919  # other people, other days, and the training file's requests
    noisy = _asr_entry(
        BenchConfig(cfg.goals, cfg.train, asr_error_rate=cfg.asr_error_rate, seed=cal_seed), []
    )
    assistant = build_assistant(bench_pipeline(nlu, noisy, seed=cal_seed))
    sim = SlurpSimulator(
        SimConfig(users=cfg.calibration_users, seed=cal_seed, realistic_sessions=cfg.realistic_sessions),
        train_goals,
    )
    det = fit_rephrase_detector(sim, assistant, cfg.calibration_days, kind=kind)
    provenance = {
        "trained_on": f"simulated calibration population on {cfg.train}",
        "seed": cal_seed,
        "users": cfg.calibration_users,
    }
    ws.publish_model(model_dir_name(kind), det.save, provenance)
    return det


def run_bench(
    cfg: BenchConfig,
    out: Path,
    on_day: Callable[[DayMetrics, dict[str, Any]], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the bench into workspace `out` (which must not hold logs yet), once per seed of
    `cfg.seeds` (else at `cfg.seed`); return the report."""
    seeds = list(cfg.seeds) if cfg.seeds else [cfg.seed]
    say = status or (lambda _m: None)
    if (out / "logs").exists() and any((out / "logs").iterdir()):
        raise ValueError(f"{out} already holds logs from another run; give bench a fresh --out")

    config = {**_bench_config(cfg), "seed": cfg.seed}

    def one(seed: int, where: Path) -> SeedRun:
        tag = f"seed {seed}: " if len(seeds) > 1 else ""
        return _bench_seed(replace(cfg, seed=seed, seeds=None), where, on_day, lambda m: say(tag + m))

    child = partial(_bench_seed_in_child, cfg)
    return run_loop_seeds(seeds, one, child, out, config, cfg.processes_seeds, on_day, say)


def _bench_seed_in_child(cfg: BenchConfig, seed: int, where: Path) -> SeedRun:
    """One seed's bench, without callbacks and progress bars (it runs in a child process)."""
    return _bench_seed(replace(cfg, seed=seed, seeds=None, processes_seeds=1, progress=False), where)


def _bench_config(cfg: BenchConfig) -> dict[str, Any]:
    return {
        "goals": str(cfg.goals),
        "train": str(cfg.train),
        "asr": cfg.asr,
        "recognitions": str(cfg.recognitions) if cfg.recognitions else None,
        "lm_text": str(cfg.lm_text) if cfg.lm_text else None,
        "users": cfg.users,
        "days": cfg.days,
        "seed": cfg.seed,
        "engine": cfg.engine,
        "min_users": cfg.min_users,
        "detector": cfg.detector,
        "nlu_model": cfg.nlu_model,
        "online": cfg.online,
        "realistic_sessions": cfg.realistic_sessions,
        "paired_streams": cfg.paired_streams,
        "control": cfg.control,
        "judging": JUDGING,
    }


JUDGING = (
    "slurp: top intent and normalized (type, value) slot multiset equal gold; for a goal without slots, "
    "a rewritten request must also be one of the goal's own wordings (its sentence, a paraphrase of it, "
    "or what was heard of one of its recordings)"
)


def _bench_seed(
    cfg: BenchConfig,
    out: Path,
    on_day: Callable[[DayMetrics, dict[str, Any]], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> SeedRun:
    """One seed's bench into `out`."""
    from selflearn.compose import build_assistant
    from selflearn.corpora.slurp import read_slurp, slurp_domain, to_examples
    from selflearn.jobs.nightly import NightlyConfig, run_nightly
    from selflearn.lexicon.io import save_domain
    from selflearn.rewrite.store import RewriteStore
    from selflearn.simulate.run import write_day

    say = status or (lambda _m: None)
    if cfg.control and not cfg.paired_streams:
        raise ValueError("a control arm needs paired_streams: both arms must see the same traffic")
    if (out / "logs").exists() and any((out / "logs").iterdir()):
        raise ValueError(f"{out} already holds logs from another run; give bench a fresh --out")
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    say(f"reading {cfg.train} and {cfg.goals}")
    train = read_slurp(cfg.train).records
    if not train:
        raise ValueError(f"no readable requests in the training file {cfg.train}")
    goals = SlurpGoals.from_file(cfg.goals, seed=cfg.seed)
    # The training file's intents are this deployment's domain (the learners read it from here).
    save_domain(slurp_domain(train), out)
    say(f"training the NLU on {len(train)} requests")
    t0 = time.perf_counter()
    train_examples = to_examples(train)
    nlu = nlu_model(cfg.nlu_model)
    if cfg.nlu_model == "transformer" and cfg.lm_text is not None:
        # the unlabelled requests the recogniser's language model reads teach the encoder too
        nlu.fit(train_examples, unlabelled=Path(cfg.lm_text).read_text(encoding="utf-8").splitlines())
    else:
        nlu.fit(train_examples)
    # the examples go with the model: the nightly understanding step retrains on them
    provenance = {"trained_on": str(cfg.train), "examples": len(train_examples)}
    publish_nlu(out, nlu, base_examples_table(train_examples), provenance)
    t_nlu = time.perf_counter() - t0
    asr_entry = _asr_entry(cfg, [r.sentence for r in train])
    base_nlu = nlu  # what the understanding step's wins and losses are judged against
    assistant = build_assistant(
        bench_pipeline(
            nlu,
            asr_entry,
            seed=cfg.seed,
            rewrite_store=out,
            rewrite_online=cfg.online,
            online_options=cfg.online_options,
        )
    )
    nightly_online = None if cfg.online == "off" else {"layers": cfg.online, **cfg.online_train}
    if nightly_online is not None and cfg.online_catalog:
        nightly_online.setdefault("catalog", str(cfg.train))
    t0 = time.perf_counter()
    if cfg.asr == "pocketsphinx":
        say("decoding the goals' recordings (pocketsphinx, all cores)")
    warmed = _prewarm(assistant, goals, cfg.seed, cfg.processes, cfg.progress)
    t_warm = time.perf_counter() - t0
    say("fitting the rephrase detector")
    detector = _rephrase_detector(cfg, out, nlu, SlurpGoals.from_records(train, seed=cfg.seed))
    store = RewriteStore(out)
    rewriter = assistant.component("rewrite")
    sim_config = SimConfig(
        users=cfg.users,
        seed=cfg.seed,
        realistic_sessions=cfg.realistic_sessions,
        paired_streams=cfg.paired_streams,
    )
    sim = SlurpSimulator(sim_config, goals, voice_seed=cfg.seed)
    control = None
    if cfg.control:
        control = ControlArm(
            SlurpSimulator(sim_config, goals, voice_seed=cfg.seed),
            build_assistant(bench_pipeline(nlu, asr_entry, seed=cfg.seed)),
            out / CONTROL_DIR,
        )
    learning_truth = []
    days: list[DayMetrics] = []
    for day in range(1, cfg.days + 1):
        table = store.current()
        say(f"day {day}: simulating {cfg.users} people")
        t0 = time.perf_counter()
        res: SlurpDayResult = sim.run_day(day, assistant)
        write_day(out, res)
        t_sim = time.perf_counter() - t0
        day_truth = truth_table(res.truth)
        learning_truth.append(day_truth)
        metrics = day_metrics(day, day_truth, len(res.turns), len(table) if table else 0)
        metrics.extra.update(learning_day_figures(day_truth))
        if "nlu" in cfg.nightly:
            metrics.extra.update(understanding_wins(res.turns, res.truth, base_nlu, nlu))
        if control is not None:
            say(f"day {day}: the control arm (learning off) on the same traffic")
            metrics.extra.update(control.run_day(day))
        say(f"night {day}: mining rewrites from the logs")
        t0 = time.perf_counter()
        night = run_nightly(
            out,
            NightlyConfig(engine=cfg.engine, min_users=cfg.min_users, online=nightly_online, **cfg.nightly),
            detector=detector,
            reader=nlu_reader(nlu),
            protected=getattr(assistant.component("nlu"), "protected", None),
        )
        if rewriter is not None and hasattr(rewriter, "reload"):
            rewriter.reload()
        if night.nlu is not None:
            metrics.extra.update(night.nlu.summary())
        nlu = adopt_understanding(assistant, night.nlu, nlu)  # serves tomorrow; the guards read with it
        metrics.extra.update(
            {
                **{k: round(v, 4) for k, v in day_scores(res.scores).items()},
                "simulate_s": round(t_sim, 2),
                "nightly_s": round(time.perf_counter() - t0, 2),
                "rewrites_mined_tonight": night.rules,
                **_online_day_extra(rewriter, night.online),
            }
        )
        days.append(metrics)
        if on_day is not None:
            on_day(metrics, {"version": night.version, "seed": cfg.seed})
    config = {
        **_bench_config(cfg),
        "online_catalog": nightly_online.get("catalog") if nightly_online else None,
        "goal_requests": len(goals),
        "train_requests": len(train),
    }
    extra = {
        "nlu_train_s": round(t_nlu, 2),
        "prewarm_s": round(t_warm, 2),
        "prewarmed_utterances": warmed,
    }
    run = finish_seed(
        cfg.seed,
        out,
        days,
        learning_truth,
        control,
        config,
        round(time.perf_counter() - t_start, 1),
        extra_summary=extra,
    )
    plot_bench_metrics(out / "bench_metrics.png", days)
    return run


def plot_bench_metrics(path: Path, days: list[DayMetrics]) -> None:
    """WER, intent accuracy and SLU-F1 by day (the defect-rate plot is write_report's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from selflearn.util.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    xs = [d.day for d in days]
    for key, colour in (("wer", "#c0392b"), ("intent_accuracy", "#2980b9"), ("slu_f1", "#27ae60")):
        ax.plot(xs, [100 * float(d.extra.get(key, 0.0)) for d in days], marker="o", color=colour, label=key)
    ax.plot(xs, [100 * d.defect_rate for d in days], marker="s", color="#7f8c8d", label="defect rate")
    ax.set_xlabel("day")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("selflearn bench: recognition and understanding by day", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
