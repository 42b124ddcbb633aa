"""Make a recognition-results file for a SLURP-format file with espeak-ng + pocketsphinx.

SLURP's text release names the recordings people made of each request but carries no audio. To
evaluate on a real recogniser's errors anyway, every recording is stood in for by a synthetic
voice seeded by the recording's file name (so the same recording always sounds the same, and two
recordings of one request sound different), decoded by pocketsphinx with an LM built from the
given *training* sentences. The result is the JSONL that `selflearn.assistant.asr.replay` reads:
``{"file", "text", "confidence", "nbest"}`` per recording.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from selflearn.assistant.component import Utterance
from selflearn.corpora.slurp import SlurpError, iter_slurp
from selflearn.speech.cache import default_cache_dir
from selflearn.speech.lm import LanguageModel, build_language_model, tokenize
from selflearn.speech.pocketsphinx_asr import DEFAULT_SNR_DB, PocketsphinxAsr
from selflearn.speech.tts import voice_for_speaker
from selflearn.text.wer import word_errors
from selflearn.util.atomic import atomic_write_text

__all__ = ["RecognitionSummary", "make_recognitions", "recording_utterances"]


@dataclass
class RecognitionSummary:
    """What a `make_recognitions` run produced and measured."""

    out: str
    recordings: int
    requests: int
    wer: float  # corpus WER of the 1-best against the SLURP sentence
    sentence_accuracy: float  # share of recordings recognised exactly
    no_text: int  # recordings heard as nothing (written with text "")
    mean_decode_ms: float | None  # per recording, decoder only, over recordings decoded in this run
    mean_tts_ms: float | None
    decoded: int  # recordings decoded in this run (the rest came from the cache)
    wall_s: float
    lm_vocabulary: int
    lm_overlap: float  # share of the file's requests that occur verbatim in the LM text (should be ~0)
    errors: list[str] = field(default_factory=list)  # bad SLURP lines

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def recording_utterances(
    slurp_path: str | Path, *, limit: int | None = None, seed: int = 0, errors: list[SlurpError] | None = None
) -> list[tuple[str, Utterance]]:
    """(reference sentence, utterance) per recording in file order, at most `limit` recordings;
    each utterance carries the recording name and a voice seeded by it."""
    out: list[tuple[str, Utterance]] = []
    for rec in iter_slurp(slurp_path, errors=errors if errors is not None else []):
        for r in rec.recordings:
            if limit is not None and len(out) >= limit:
                return out
            voice = voice_for_speaker(r.file, seed)
            out.append(
                (
                    rec.sentence,
                    Utterance(text=rec.sentence, speaker_id=r.file, voice=voice.spec, recording=r.file),
                )
            )
    return out


def make_recognitions(
    slurp_path: str | Path,
    out_jsonl: str | Path,
    lm_sentences: Iterable[str] | LanguageModel,
    limit: int | None = None,
    processes: int = 2,
    *,
    cache_dir: str | Path | None = None,
    n: int = 3,
    seed: int = 0,
    snr_db: float | None = DEFAULT_SNR_DB,
    progress: bool = True,
) -> RecognitionSummary:
    """Synthesize and decode every recording of `slurp_path` (the first `limit`), write the
    recognition-results file `out_jsonl` atomically, and return a summary with WER and timings.

    `lm_sentences` is the training text the recogniser's LM is built from (or a built model);
    it must not contain the requests of `slurp_path` when that file is used for evaluation.
    """
    t_start = time.perf_counter()
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    lm_text: set[str] = set()
    if isinstance(lm_sentences, LanguageModel):
        lm = lm_sentences
    else:
        sentences = list(lm_sentences)
        lm_text = {" ".join(tokenize(s)) for s in sentences}
        lm = build_language_model(sentences, cache_dir=cache_root)
    asr = PocketsphinxAsr(lm, cache_dir=cache_root, n=n, voice_seed=seed, snr_db=snr_db)

    slurp_errors: list[SlurpError] = []
    items = recording_utterances(slurp_path, limit=limit, seed=seed, errors=slurp_errors)
    utterances = [u for _, u in items]
    assert asr.cache is not None
    cached_before = {
        i for i, u in enumerate(utterances) if asr.cache.get_recognition(asr.cache_key(u)) is not None
    }
    stages = asr.recognize_many(utterances, processes=processes, progress=progress)

    rows: list[str] = []
    edits = words = exact = no_text = 0
    decode_ms: list[float] = []
    tts_ms: list[float] = []
    for i, ((ref, utt), stage) in enumerate(zip(items, stages, strict=True)):
        text = stage.text
        row: dict[str, Any] = {"file": utt.recording, "text": text}
        if stage.nbest:
            row["confidence"] = round(stage.confidence, 6)
            row["nbest"] = [{"text": h.text, "confidence": round(h.confidence, 6)} for h in stage.nbest]
        else:
            no_text += 1
        rows.append(json.dumps(row, ensure_ascii=False))
        e, w = word_errors(ref, text)
        edits += e
        words += w
        exact += " ".join(tokenize(ref)) == text
        if i not in cached_before:
            entry = asr.cache.get_recognition(asr.cache_key(utt)) or {}
            if "decode_ms" in entry:
                decode_ms.append(float(entry["decode_ms"]))
                tts_ms.append(float(entry.get("tts_ms", 0.0)))
    atomic_write_text(out_jsonl, "\n".join(rows) + ("\n" if rows else ""))

    refs = {" ".join(tokenize(ref)) for ref, _ in items}
    return RecognitionSummary(
        out=str(out_jsonl),
        recordings=len(items),
        requests=len(refs),
        wer=edits / words if words else 0.0,
        sentence_accuracy=exact / len(items) if items else 0.0,
        no_text=no_text,
        mean_decode_ms=sum(decode_ms) / len(decode_ms) if decode_ms else None,
        mean_tts_ms=sum(tts_ms) / len(tts_ms) if tts_ms else None,
        decoded=len(decode_ms),
        wall_s=time.perf_counter() - t_start,
        lm_vocabulary=lm.vocabulary_size,
        lm_overlap=(len(refs & lm_text) / len(refs)) if refs and lm_text else 0.0,
        errors=[str(e) for e in slurp_errors],
    )
