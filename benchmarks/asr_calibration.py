"""Is the simulated recogniser's confidence as informative as a real one's, and no more? (issue 20.4)

    .venv/bin/python benchmarks/asr_calibration.py [--n 400] [--processes 2] [--no-lm-text]

The same SLURP sentences are heard twice by each recogniser, as two turns of one person:

* pocketsphinx (`asr.pocketsphinx.v1`): espeak-ng says the sentence in the person's voice, in the
  voice variant each turn id picks (`PocketsphinxAsr.voice_for`), 35 dB noise floor, decoded with an
  LM built from the *other* devel sentences (`split_by_id(seed=0, valid_fraction=0.2)`: LM from the
  train part, plus SLURP's lm.txt unless `--no-lm-text`, as `selflearn bench --lm-text` does; the
  sentences heard come from the valid part);
* the noisy channel (`asr.noisy_channel.v1`), the same turn ids, each person with a noise profile
  drawn as the simulator draws them (`selflearn.simulate.population.make_user`), at two error
  rates: the simulator's default, and the rate at which the channel's WER on these sentences matches
  pocketsphinx's ("matched"; the calibration point, since how well confidence detects errors depends
  on how many there are).

Measured on each (first turn unless said otherwise):

* WER and sentence error rate of the 1-best;
* utterance AUROC: how well 1 - confidence ranks wrong 1-bests (any word error) above right ones;
* word AUROC: the same for each 1-best word against "this word is not aligned to an equal reference
  word" (pocketsphinx: lattice word posteriors; the channel: its word posteriors, which never reach
  the log);
* n-best contains the reference, among turns whose 1-best is wrong (n = 3);
* repeat identity: share of sentences whose two turns gave the same 1-best (for pocketsphinx also
  among pairs whose turns got different voice variants: the acoustic part alone).

Also the channel's WER on its own `TYPICAL_REQUESTS` (average speaker, many turns), which must stay
near its configured `error_rate`. Decodes are cached on disk (`selflearn.speech.cache`; 400
sentences are ~700 decodes, ~4 minutes on 2 cores cold, seconds warm). Prints a table and writes
benchmarks/results/asr_calibration.json.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from provenance import with_provenance
from selflearn.assistant.asr.noisy_channel import TYPICAL_REQUESTS, NoisyChannelAsr
from selflearn.assistant.component import StageFailure, Utterance
from selflearn.speech.lm import tokenize
from selflearn.text.wer import corpus_word_error_rate, word_errors
from selflearn.util.atomic import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "asr_calibration.json"
SLURP = ROOT.parent / "shared" / "data" / "slurp" / "devel.jsonl"
LM_TEXT = ROOT.parent / "shared" / "data" / "slurp" / "lm.txt"


def norm(text: str) -> str:
    """Both recognisers' outputs and references in one spelling (numbers as words)."""
    return " ".join(tokenize(text))


@dataclass
class Heard:
    """One turn as a recogniser heard it."""

    ref: str
    nbest: list[str]
    confidence: float
    words: list[tuple[str, float]] | None  # 1-best words with posteriors, when available


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """P(score of a positive > score of a negative), ties counting half (Mann-Whitney U)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if pos == 0 or neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def auroc_ci(scores: Sequence[float], labels: Sequence[bool], reps: int = 200) -> list[float] | None:
    """Bootstrap 95% interval of `auroc`."""
    rng = np.random.default_rng(0)
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    vals = []
    for _ in range(reps):
        idx = rng.integers(0, len(s), len(s))
        v = auroc(s[idx], y[idx])
        if v is not None:
            vals.append(v)
    if not vals:
        return None
    return [round(float(np.quantile(vals, 0.025)), 3), round(float(np.quantile(vals, 0.975)), 3)]


def word_labels(ref: str, words: Sequence[str]) -> list[bool]:
    """For each hypothesis word: True when it is *not* aligned to an equal reference word
    (substitution or insertion), by a word-level Levenshtein alignment."""
    r = ref.split()
    h = list(words)
    n, m = len(r), len(h)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (r[i - 1] != h[j - 1]))
    wrong = [True] * m
    i, j = n, m
    while i > 0 and j > 0:
        if d[i][j] == d[i - 1][j - 1] + (r[i - 1] != h[j - 1]):
            wrong[j - 1] = r[i - 1] != h[j - 1]
            i, j = i - 1, j - 1
        elif d[i][j] == d[i][j - 1] + 1:
            j -= 1
        else:
            i -= 1
    return wrong


def metrics(first: Sequence[Heard], second: Sequence[Heard]) -> dict[str, Any]:
    """The calibration numbers of one recogniser (see the module docstring)."""
    wer = corpus_word_error_rate((h.ref, h.nbest[0] if h.nbest else "") for h in first)
    wrong = [word_errors(h.ref, h.nbest[0] if h.nbest else "")[0] > 0 for h in first]
    conf = [h.confidence for h in first]
    utt = auroc([-c for c in conf], wrong)
    in_nbest = [
        any(word_errors(h.ref, alt)[0] == 0 for alt in h.nbest[1:])
        for h, w in zip(first, wrong, strict=True)
        if w
    ]
    ws: list[float] = []
    wl: list[bool] = []
    for h in first:
        if h.words:
            ws.extend(-p for _, p in h.words)
            wl.extend(word_labels(h.ref, [norm(w) or w for w, _ in h.words]))
    same = [
        norm(a.nbest[0] if a.nbest else "") == norm(b.nbest[0] if b.nbest else "")
        for a, b in zip(first, second, strict=True)
    ]
    ok_conf = [c for c, w in zip(conf, wrong, strict=True) if not w]
    bad_conf = [c for c, w in zip(conf, wrong, strict=True) if w]
    return {
        "utterances": len(first),
        "wer": round(wer, 4),
        "sentence_error_rate": round(sum(wrong) / len(first), 4),
        "utterance_auroc": None if utt is None else round(utt, 4),
        "utterance_auroc_ci95": auroc_ci([-c for c in conf], wrong),
        "word_auroc": None if (v := auroc(ws, wl)) is None else round(v, 4),
        "word_auroc_ci95": auroc_ci(ws, wl) if ws else None,
        "words_scored": len(ws),
        "word_error_share": round(sum(wl) / len(wl), 4) if wl else None,
        "nbest_contains_reference_given_wrong": round(sum(in_nbest) / len(in_nbest), 4) if in_nbest else None,
        "wrong_1best": len(in_nbest),
        "repeat_identity": round(sum(same) / len(same), 4),
        "mean_confidence_right": round(float(np.mean(ok_conf)), 4) if ok_conf else None,
        "mean_confidence_wrong": round(float(np.mean(bad_conf)), 4) if bad_conf else None,
    }


# --------------------------------------------------------------------------------------------------


def sentences(n: int) -> tuple[list[tuple[int, str]], list[str]]:
    """(slurp_id, sentence) of up to `n` distinct held-out requests, and the LM training sentences."""
    from selflearn.corpora.slurp import read_slurp, split_by_id

    train, valid = split_by_id(read_slurp(SLURP).records, seed=0, valid_fraction=0.2)
    seen: set[str] = set()
    held: list[tuple[int, str]] = []
    train_text = {norm(r.sentence) for r in train}
    for r in valid:
        key = norm(r.sentence)
        if key and key not in seen and key not in train_text:
            seen.add(key)
            held.append((r.slurp_id, r.sentence))
    return held[:n], [r.sentence for r in train]


def turn_ids(sid: int) -> tuple[str, str]:
    return f"cal-{sid}-a", f"cal-{sid}-b"


def run_pocketsphinx(
    held: list[tuple[int, str]], lm_sentences: list[str], processes: int, cache_dir: Path | None
) -> tuple[list[Heard], list[Heard], dict[str, Any]]:
    from selflearn.speech.lm import build_language_model
    from selflearn.speech.pocketsphinx_asr import PocketsphinxAsr

    lm = build_language_model(lm_sentences, cache_dir=cache_dir)
    asr = PocketsphinxAsr(lm, n=3, **({"cache_dir": cache_dir} if cache_dir else {}))
    jobs: list[Utterance] = []
    plan: list[tuple[Utterance, Utterance, bool]] = []
    for sid, text in held:
        base = Utterance(text=text, speaker_id=f"cal-speaker-{sid}")
        ta, tb = turn_ids(sid)
        # Spell each turn's variant voice out, so recognize_many (no turn ids) decodes exactly it.
        ua = replace(base, voice=asr.voice_for(base, ta).spec)
        ub = replace(base, voice=asr.voice_for(base, tb).spec)
        plan.append((ua, ub, asr.variant_index(base, ta) != asr.variant_index(base, tb)))
        jobs.append(ua)
        if ub.voice != ua.voice:
            jobs.append(ub)
    t0 = time.perf_counter()
    asr.recognize_many(jobs, processes=processes, progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0

    def heard(text: str, u: Utterance) -> Heard:
        try:
            stage = asr.recognize(u)
        except StageFailure:
            return Heard(norm(text), [], 0.0, [])
        return Heard(
            norm(text), [norm(h.text) for h in stage.nbest], stage.confidence, asr.recognize_words(u)
        )

    first = [heard(t, ua) for (_, t), (ua, _, _) in zip(held, plan, strict=True)]
    second = [heard(t, ub) for (_, t), (_, ub, _) in zip(held, plan, strict=True)]
    differ = [i for i, (_, _, d) in enumerate(plan) if d]
    acoustic = sum(first[i].nbest[:1] == second[i].nbest[:1] for i in differ) / max(1, len(differ))
    extra = {
        "voice_variants": asr.voice_variants,
        "repeat_identity_different_variants": round(acoustic, 4),
        "pairs_with_different_variants": len(differ),
        "decodes": len(jobs),
        "decode_wall_s": round(wall, 1),
        "lm_sentences": len(lm_sentences),
    }
    return first, second, extra


def channel_profiles(held: list[tuple[int, str]], seed: int = 0) -> dict[int, dict[str, float]]:
    """One simulated person per sentence, with a noise profile drawn as the simulator draws them."""
    from selflearn.simulate.population import make_user

    rng = random.Random(seed)
    return {sid: dict(make_user(rng, f"cal-speaker-{sid}", "cal-home").noise_profile) for sid, _ in held}


def run_channel(
    held: list[tuple[int, str]],
    profiles: dict[int, dict[str, float]],
    error_rate: float,
    detailed: bool = True,
) -> tuple[list[Heard], list[Heard]]:
    asr = NoisyChannelAsr(error_rate=error_rate, n=3)
    first: list[Heard] = []
    second: list[Heard] = []
    for sid, text in held:
        u = Utterance(text=text, speaker_id=f"cal-speaker-{sid}", noise_profile=profiles[sid])
        for tid, out in zip(turn_ids(sid), (first, second), strict=True):
            try:
                stage, words = asr.recognize_detailed(u, tid)
            except StageFailure:
                out.append(Heard(norm(text), [], 0.0, []))
                continue
            out.append(
                Heard(
                    norm(text),
                    [norm(h.text) for h in stage.nbest],
                    stage.confidence,
                    words if detailed else None,
                )
            )
    return first, second


def matched_rate(held: list[tuple[int, str]], profiles: dict[int, dict[str, float]], target: float) -> float:
    """The channel error_rate whose WER on `held` is `target` (bisection; WER rises with the rate)."""
    lo, hi = 0.0, 2.0
    for _ in range(14):
        mid = (lo + hi) / 2.0
        first, _ = run_channel(held, profiles, mid, detailed=False)
        wer = corpus_word_error_rate((h.ref, h.nbest[0] if h.nbest else "") for h in first)
        lo, hi = (mid, hi) if wer < target else (lo, mid)
    return round((lo + hi) / 2.0, 4)


def typical_wer(error_rate: float, reps: int = 30) -> float:
    asr = NoisyChannelAsr(error_rate=error_rate)
    pairs = []
    for k in range(reps):
        for j, req in enumerate(TYPICAL_REQUESTS):
            try:
                hyp = asr.recognize(Utterance(req), f"typ{k}-{j}").text
            except StageFailure:
                hyp = ""
            pairs.append((req, hyp))
    return round(corpus_word_error_rate(pairs), 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=400, help="held-out sentences (default 400)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--no-lm-text", action="store_true", help="LM from the train part only, not lm.txt")
    ap.add_argument("--cache-dir", type=Path, default=None, help="speech cache (default: the user cache)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    from selflearn.compose import DEFAULT_ASR_ERROR_RATE

    t_start = time.perf_counter()
    held, train = sentences(a.n)
    lm_sentences = list(train)
    if not a.no_lm_text and LM_TEXT.exists():
        lm_sentences += [ln for ln in LM_TEXT.read_text(encoding="utf-8").splitlines() if ln.strip()]
    ps_first, ps_second, ps_extra = run_pocketsphinx(held, lm_sentences, a.processes, a.cache_dir)
    ps = {**metrics(ps_first, ps_second), **ps_extra}

    profiles = channel_profiles(held)
    rate = matched_rate(held, profiles, ps["wer"])
    ch_matched = {"error_rate": rate, **metrics(*run_channel(held, profiles, rate))}
    ch_default = {
        "error_rate": DEFAULT_ASR_ERROR_RATE,
        **metrics(*run_channel(held, profiles, DEFAULT_ASR_ERROR_RATE)),
    }
    typical = {str(e): typical_wer(e) for e in (DEFAULT_ASR_ERROR_RATE, 0.15, 0.3)}

    rows = [
        ("pocketsphinx", ps),
        (f"channel matched ({rate})", ch_matched),
        (f"channel default ({DEFAULT_ASR_ERROR_RATE})", ch_default),
    ]
    keys = [
        ("WER", "wer"),
        ("sent. err", "sentence_error_rate"),
        ("utt AUROC", "utterance_auroc"),
        ("word AUROC", "word_auroc"),
        ("ref in n-best | wrong", "nbest_contains_reference_given_wrong"),
        ("repeat identity", "repeat_identity"),
        ("conf right", "mean_confidence_right"),
        ("conf wrong", "mean_confidence_wrong"),
    ]
    print(f"{len(held)} held-out SLURP devel sentences, 2 turns each\n")
    print(f"{'':24}" + "".join(f"{name:>26}" for name, _ in rows))
    for label, k in keys:
        cells = "".join(f"{('-' if r.get(k) is None else format(r[k], '.3f')):>26}" for _, r in rows)
        print(f"{label:24}{cells}")
    print(
        f"\npocketsphinx repeat identity when the two turns' voice variants differ: "
        f"{ps['repeat_identity_different_variants']:.3f} ({ps['pairs_with_different_variants']} pairs)"
    )
    print(
        "channel WER on TYPICAL_REQUESTS (average speaker): "
        + ", ".join(f"error_rate {k}: {v}" for k, v in typical.items())
    )

    result = {
        "utterances": len(held),
        "lm": "devel train part" + ("" if a.no_lm_text else " + lm.txt"),
        "pocketsphinx": ps,
        "channel_matched": ch_matched,
        "channel_default": ch_default,
        "channel_typical_requests_wer": typical,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out, json.dumps(with_provenance(result), indent=2))
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
