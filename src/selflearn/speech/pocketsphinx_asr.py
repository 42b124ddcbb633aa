"""A real speech recogniser in the loop: espeak-ng says the request, pocketsphinx hears it.

The simulated person's words are rendered with their own voice (`voice_for_speaker`, or the
utterance's `voice` spec; a careful retry is slower), a room noise floor is mixed in, and the audio
is decoded by pocketsphinx (en-us acoustic model from the wheel) with a language model and
dictionary built from selflearn's *training* text (`selflearn.speech.lm.build_language_model`).
A real front end can instead hand in a WAV file as `Utterance.audio_path`.

Why a noise floor: espeak-ng produces digital silence between and around words, which the acoustic
model (trained on real recordings) never met. Measured on 30 SLURP requests with an LM from
SLURP's lm.txt, en-us voice: WER 0.72 clean, 0.52 at 60 dB SNR, 0.31 at 35 dB, 0.35 at 20 dB.
The default `snr_db` is 35; a speaker's ``noise_profile["snr_db"]`` overrides it (None: clean).

Confidences (all in [0, 1], decreasing, summing to at most 1):

* the 1-best is the decoder's best path; its confidence is the geometric mean of its words'
  lattice posteriors (pocketsphinx's forward-backward over the word lattice, ``Decoder.seg()``
  ``prob``). On 120 SLURP requests this separated exact recognitions from wrong ones with ROC AUC
  0.84 (min posterior 0.84, mean 0.81, whole-path posterior 0.82), but it is not calibrated: it
  runs higher than the exact-match rate;
* alternatives come from pocketsphinx's lattice n-best (fillers and pronunciation variants
  removed, duplicates and the 1-best dropped). They share the rest, 1 - c1, by a softmax of their
  path scores, ``exp(NBEST_SCALE * (ln s_i - ln s_top))``, with one extra share of weight 1 kept
  for everything not listed; each is also kept strictly below the one before it.

Decoder: pocketsphinx defaults except ``fwdflat=False`` (no second, flat-lexicon pass), for the
benchmark's time budget: on two samples of SLURP devel recordings (200 and 240) it decoded in
about 160 instead of 235 ms per recording, at a WER of 0.417 / 0.442 instead of 0.413 / 0.421.
Pass ``decoder_options={}`` for pocketsphinx's own defaults.

Repeats: a person never says a request twice in exactly the same way, so each turn is spoken in
one of `voice_variants` variants of the person's voice (`selflearn.speech.tts.voice_variant`:
speaking rate within +-6%, pitch within +-6), chosen by a stable hash of the turn id. Variant 0 is
the voice itself (and what `recognize` without a turn id uses, e.g. for a recognition file).
`benchmarks/asr_calibration.py` measures how often two turns of one request by one person are then
heard identically (without variants the cache made that 100%).

Recognitions are cached on disk (`selflearn.speech.cache`) under a key of (text, voice, noise, LM,
dictionary, decoder options, pocketsphinx and espeak-ng versions, n); the voice is the variant's, so
a person's request is decoded at most `voice_variants` times. Each entry also keeps the 1-best's
word posteriors (``words``; `recognize_words`), for calibration. `recognize_many` fills the
cache in parallel processes with a progress bar, so a benchmark decodes each request once.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import lru_cache
from importlib import metadata
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from selflearn.assistant.component import StageFailure, TurnState, Utterance, register
from selflearn.logs.records import AsrHypothesis, AsrStage, StageError
from selflearn.speech.cache import SpeechCache, default_cache_dir, stable_key
from selflearn.speech.lm import LanguageModel, tokenize
from selflearn.speech.tts import (
    SAMPLE_RATE,
    EspeakTts,
    Voice,
    mix_noise,
    resample,
    voice_for_speaker,
    voice_variant,
    wav_to_pcm,
)

__all__ = [
    "DEFAULT_DECODER_OPTIONS",
    "DEFAULT_SNR_DB",
    "DEFAULT_VOICE_VARIANTS",
    "ENGINE",
    "NBEST_SCALE",
    "PocketsphinxAsr",
    "PocketsphinxEngine",
    "nbest_confidences",
    "pocketsphinx_version",
]

ENGINE = "pocketsphinx"
DEFAULT_SNR_DB = 35.0
DEFAULT_DECODER_OPTIONS: Mapping[str, Any] = {"fwdflat": False}
DEFAULT_VOICE_VARIANTS = 4
NBEST_SCALE = 100.0
_FILLERS = frozenset({"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "<unk>"})
_INSTALL = "pocketsphinx is not installed: pip install 'pocketsphinx>=5' (its en-us model ships in the wheel)"
_UNSET: Any = object()


@lru_cache(maxsize=1)
def pocketsphinx_version() -> str:
    """Installed pocketsphinx version; ImportError with install instructions when missing."""
    try:
        return metadata.version("pocketsphinx")
    except metadata.PackageNotFoundError as e:
        raise ImportError(_INSTALL) from e


@lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _file_digest(path: Path) -> str:
    st = path.stat()
    return _digest(str(path), st.st_size, st.st_mtime_ns)


def _clean(hypstr: str) -> str:
    """Recogniser output as words: fillers dropped, pronunciation markers ("the(2)") removed."""
    words = []
    for w in hypstr.split():
        if w in _FILLERS:
            continue
        if w.endswith(")") and "(" in w:
            w = w[: w.index("(")]
        words.append(w)
    return " ".join(words)


def nbest_confidences(top_confidence: float, alternative_log_scores: Sequence[float]) -> list[float]:
    """Confidences for [1-best, *alternatives] (see module docstring): the alternatives split
    ``1 - top_confidence`` by a softmax of their log path scores (scaled by `NBEST_SCALE`) with one
    extra unit share for unlisted hypotheses; the list is strictly decreasing and sums to <= 1."""
    c1 = min(1.0, max(0.0, top_confidence))
    out = [c1]
    if not alternative_log_scores:
        return out
    ref = max(alternative_log_scores)
    weights = [math.exp(max(-700.0, NBEST_SCALE * (s - ref))) for s in alternative_log_scores]
    z = sum(weights) + 1.0
    prev = c1
    for w in weights:
        c = min((1.0 - c1) * w / z, prev * 0.999)
        out.append(max(0.0, c))
        prev = c
    return out


class PocketsphinxEngine:
    """One pocketsphinx decoder with a custom LM and dictionary, created on first use (decoders
    hold C state: they are neither picklable nor shared between processes).

    `options` are extra decoder parameters (e.g. ``{"beam": 1e-40}``); they are part of `config()`
    and so of every cache key.
    """

    def __init__(
        self, lm_path: str | Path, dict_path: str | Path, options: Mapping[str, Any] | None = None
    ) -> None:
        self.lm_path = Path(lm_path)
        self.dict_path = Path(dict_path)
        self.options = dict(options or {})
        self._decoder: Any = None

    def config(self) -> dict[str, Any]:
        return {
            "engine": ENGINE,
            "version": pocketsphinx_version(),
            "lm": _file_digest(self.lm_path),
            "dict": _file_digest(self.dict_path),
            "options": {k: self.options[k] for k in sorted(self.options)},
        }

    @property
    def decoder(self) -> Any:
        if self._decoder is None:
            try:
                import pocketsphinx
            except ImportError as e:
                raise ImportError(_INSTALL) from e
            for p in (self.lm_path, self.dict_path):
                if not p.exists():
                    raise FileNotFoundError(f"pocketsphinx model file {p} does not exist")
            self._decoder = pocketsphinx.Decoder(
                lm=str(self.lm_path), dict=str(self.dict_path), loglevel="ERROR", **self.options
            )
        return self._decoder

    def decode(self, pcm: NDArray[np.int16], n: int = 3) -> list[AsrHypothesis]:
        """N-best of 16 kHz mono int16 audio (empty list when nothing was recognised)."""
        return self.decode_detailed(pcm, n)[0]

    def decode_detailed(
        self, pcm: NDArray[np.int16], n: int = 3
    ) -> tuple[list[AsrHypothesis], list[tuple[str, float]]]:
        """(n-best, the 1-best's words with their lattice posteriors) of 16 kHz mono int16 audio."""
        d = self.decoder
        d.start_utt()
        d.process_raw(np.ascontiguousarray(pcm, dtype="<i2").tobytes(), full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        best = _clean(hyp.hypstr) if hyp is not None else ""
        if not best:
            return [], []
        words = [(_clean(s.word), float(s.prob)) for s in d.seg() if s.word not in _FILLERS]
        words = [(w, p) for w, p in words if w]
        posts = [p for _, p in words]
        c1 = math.exp(sum(math.log(max(p, 1e-12)) for p in posts) / len(posts)) if posts else 0.0
        alts: list[str] = []
        scores: list[float] = []
        if n > 1:
            seen = {best}
            it: Iterator[Any] = iter(d.nbest() or ())
            for _, h in zip(range(10 * n + 20), it, strict=False):
                text = _clean(h.hypstr)
                if text and text not in seen:
                    seen.add(text)
                    alts.append(text)
                    scores.append(math.log(max(h.score, 1e-300)))
                    if len(alts) == n - 1:
                        break
        confs = nbest_confidences(c1, scores)
        nbest = [AsrHypothesis(text=t, confidence=c) for t, c in zip([best, *alts], confs, strict=True)]
        return nbest, words


def _noise_seed(text: str, voice: Voice) -> int:
    return int(stable_key("noise", text, voice.spec)[:15], 16)


class PocketsphinxAsr:
    """ASR component: synthesise the utterance in the speaker's voice (espeak-ng), decode it with
    pocketsphinx and a selflearn-built LM, fill `turn.asr` with an n-best list.

    Params: `lm` (a `LanguageModel`, or its `to_json()` mapping) or `lm_path` + `dict_path`;
    `cache_dir` (default `default_cache_dir()`; `use_cache=False` disables caching); `n` (n-best
    size); `voice_seed` (which voice each speaker gets); `snr_db` (noise floor, None = clean audio);
    `careful_factor` (speech-rate factor of a careful retry); `voice_variants` (how many slightly
    different renderings of each person's voice turns are spread over; 1: always the same);
    `decoder_options` (None: the
    defaults above, {}: pocketsphinx's own); `cache_audio`
    (also keep WAVs, ~30 kB per second of speech; off by default since recognitions are what is
    reused). Raises `StageFailure("asr-no-text")` when nothing was recognised.
    """

    name = "asr"
    engine = ENGINE

    def __init__(
        self,
        lm: LanguageModel | Mapping[str, Any] | None = None,
        *,
        lm_path: str | Path | None = None,
        dict_path: str | Path | None = None,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        n: int = 3,
        voice_seed: int = 0,
        snr_db: float | None = DEFAULT_SNR_DB,
        careful_factor: float = 0.8,
        voice_variants: int = DEFAULT_VOICE_VARIANTS,
        decoder_options: Mapping[str, Any] | None = None,
        cache_audio: bool = False,
        espeak: str | None = None,
    ) -> None:
        if isinstance(lm, Mapping):
            lm = LanguageModel.from_json(lm)
        if lm is not None:
            lm_path, dict_path = lm_path or lm.arpa_path, dict_path or lm.dict_path
        if lm_path is None or dict_path is None:
            raise ValueError(
                "PocketsphinxAsr needs a language model: pass lm=build_language_model(training sentences) "
                "or both lm_path and dict_path"
            )
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if voice_variants < 1:
            raise ValueError(f"voice_variants must be >= 1, got {voice_variants}")
        self.lm_path = Path(lm_path)
        self.dict_path = Path(dict_path)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.use_cache = use_cache
        self.n = n
        self.voice_seed = voice_seed
        self.snr_db = snr_db
        self.careful_factor = careful_factor
        self.voice_variants = voice_variants
        self.decoder_options = dict(DEFAULT_DECODER_OPTIONS if decoder_options is None else decoder_options)
        self.cache_audio = cache_audio
        self.espeak = espeak
        self.cache = SpeechCache(self.cache_dir) if use_cache else None
        self.tts = EspeakTts(espeak, cache=self.cache if (use_cache and cache_audio) else None)
        self.recognizer = PocketsphinxEngine(self.lm_path, self.dict_path, self.decoder_options)

    def params(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this component (e.g. in a worker process)."""
        return {
            "lm_path": str(self.lm_path),
            "dict_path": str(self.dict_path),
            "cache_dir": str(self.cache_dir),
            "use_cache": self.use_cache,
            "n": self.n,
            "voice_seed": self.voice_seed,
            "snr_db": self.snr_db,
            "careful_factor": self.careful_factor,
            "voice_variants": self.voice_variants,
            "decoder_options": self.decoder_options,
            "cache_audio": self.cache_audio,
            "espeak": self.espeak,
        }

    # ----------------------------------------------------------------------------------------------

    def __call__(self, state: TurnState) -> TurnState:
        state.turn.asr = AsrStage(engine=ENGINE)
        state.turn.asr = self.recognize(state.utterance, state.turn.turn_id)
        return state

    def base_voice(self, utterance: Utterance) -> Voice:
        """The person's own voice: the utterance's `voice` spec, else the speaker's."""
        if utterance.voice:
            return Voice.parse(utterance.voice)
        return voice_for_speaker(utterance.speaker_id or "anonymous", self.voice_seed)

    def variant_index(self, utterance: Utterance, turn_id: str | None) -> int:
        """Which of the `voice_variants` renderings turn `turn_id` gets (0 without a turn id)."""
        if not turn_id or self.voice_variants <= 1:
            return 0
        key = stable_key("voice-variant", self.base_voice(utterance).spec, turn_id)
        return int(key[:12], 16) % self.voice_variants

    def voice_for(self, utterance: Utterance, turn_id: str | None = None) -> Voice:
        """The voice heard in turn `turn_id`: the person's voice, in this turn's variant; slower
        when careful. Without a turn id, the person's voice itself."""
        voice = voice_variant(self.base_voice(utterance), self.variant_index(utterance, turn_id))
        return voice.slower(self.careful_factor) if utterance.careful else voice

    def variant_utterances(self, utterance: Utterance) -> list[Utterance]:
        """`utterance` once per voice variant, each with its variant's voice spelt out: recognising
        these (without turn ids, e.g. by `recognize_many`) fills the cache for every turn."""
        base = self.base_voice(utterance)
        return [replace(utterance, voice=voice_variant(base, k).spec) for k in range(self.voice_variants)]

    def _snr(self, utterance: Utterance) -> float | None:
        if "snr_db" in utterance.noise_profile:
            v = utterance.noise_profile["snr_db"]
            return None if v is None else float(v)
        return self.snr_db

    def cache_key(self, utterance: Utterance, turn_id: str | None = None) -> str:
        """The recognition cache key of `utterance` in turn `turn_id` (what determines its
        recognition, hashed)."""
        if utterance.audio_path:
            source: Any = {"audio": _file_digest(Path(utterance.audio_path))}
        else:
            source = {
                "text": utterance.text.strip(),
                "voice": self.voice_for(utterance, turn_id).spec,
                "tts": self.tts.config(),
            }
        return stable_key("asr", self.recognizer.config(), source, self._snr(utterance), self.n)

    def audio(self, utterance: Utterance, turn_id: str | None = None) -> NDArray[np.int16]:
        """What the microphone picked up: the WAV at `audio_path`, or the synthesised request with
        the noise floor mixed in."""
        if utterance.audio_path:
            pcm, rate = wav_to_pcm(Path(utterance.audio_path).read_bytes())
            return resample(pcm, rate, SAMPLE_RATE)
        text = utterance.text.strip()
        voice = self.voice_for(utterance, turn_id)
        pcm = self.tts.synthesize(text, voice)
        snr = self._snr(utterance)
        return pcm if snr is None else mix_noise(pcm, snr, _noise_seed(text, voice))

    def recognize(self, utterance: Utterance, turn_id: str | None = None) -> AsrStage:
        """Recognise one utterance, in turn `turn_id`'s voice variant (from the cache when
        possible)."""
        if not utterance.audio_path and not tokenize(utterance.text):
            raise StageFailure(StageError.ASR_NO_TEXT, "no words in the utterance")
        key = self.cache_key(utterance, turn_id) if self.cache is not None else ""
        cached = self.cache.get_recognition(key) if self.cache is not None else None
        if cached is not None and isinstance(cached.get("nbest"), list):
            nbest = [AsrHypothesis.model_validate(h) for h in cached["nbest"]]
        else:
            t0 = time.perf_counter()
            pcm = self.audio(utterance, turn_id)
            t1 = time.perf_counter()
            nbest, words = self.recognizer.decode_detailed(pcm, self.n)
            t2 = time.perf_counter()
            if self.cache is not None:
                # Timings ride along for benchmarks (what a cold cache costs); they are not inputs.
                self.cache.put_recognition(
                    key,
                    {
                        "nbest": [h.model_dump() for h in nbest],
                        "words": [[w, round(p, 6)] for w, p in words],
                        "audio_s": round(len(pcm) / SAMPLE_RATE, 3),
                        "tts_ms": round((t1 - t0) * 1000.0, 1),
                        "decode_ms": round((t2 - t1) * 1000.0, 1),
                    },
                )
        if not nbest:
            raise StageFailure(StageError.ASR_NO_TEXT, "the recogniser heard no words")
        return AsrStage(engine=ENGINE, nbest=nbest)

    def recognize_words(
        self, utterance: Utterance, turn_id: str | None = None
    ) -> list[tuple[str, float]] | None:
        """The cached 1-best's words with their lattice posteriors (None: not cached, or cached by
        a version that did not keep them). For calibration; not part of the log contract."""
        if self.cache is None:
            return None
        entry = self.cache.get_recognition(self.cache_key(utterance, turn_id))
        words = entry.get("words") if entry is not None else None
        if not isinstance(words, list):
            return None
        return [(str(w), float(p)) for w, p in words]

    def recognize_many(
        self, utterances: Sequence[Utterance], *, processes: int | None = None, progress: bool = True
    ) -> list[AsrStage]:
        """Recognise many utterances in parallel processes (default: all cores), in input order.

        Meant for pre-warming the cache before a benchmark: each worker decodes and writes its
        results to the shared disk cache, so the pipeline later finds them. Utterances that yield
        no words come back as an `AsrStage` with ``error="asr-no-text"`` instead of raising.
        """
        return recognize_many(self, utterances, processes=processes, progress=progress)


def _safe(asr: PocketsphinxAsr, utterance: Utterance) -> AsrStage:
    try:
        return asr.recognize(utterance)
    except StageFailure as e:
        return AsrStage(engine=ENGINE, error=e.code)


_WORKER: PocketsphinxAsr | None = None


def _init_worker(params: dict[str, Any]) -> None:
    global _WORKER
    _WORKER = PocketsphinxAsr(**params)


def _work(utterance: Utterance) -> AsrStage:
    assert _WORKER is not None, "worker not initialised"
    return _safe(_WORKER, utterance)


def recognize_many(
    asr: PocketsphinxAsr,
    utterances: Sequence[Utterance],
    *,
    processes: int | None = None,
    progress: bool = True,
    description: str = "decoding",
    start_method: str | None = None,
) -> list[AsrStage]:
    """`PocketsphinxAsr.recognize_many` as a function (see there)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    procs = max(1, processes if processes is not None else (os.cpu_count() or 1))
    results: list[AsrStage | None] = [None] * len(utterances)
    todo: list[int] = []
    for i, u in enumerate(utterances):
        # Cache hits are answered here; only misses travel to the workers.
        if asr.cache is not None and (u.audio_path or tokenize(u.text)):
            hit = asr.cache.get_recognition(asr.cache_key(u))
            if hit is not None and isinstance(hit.get("nbest"), list):
                results[i] = _safe(asr, u)
                continue
        todo.append(i)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    if procs == 1 or len(todo) <= 1:
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task(description, total=len(utterances), completed=len(utterances) - len(todo))
            for i in todo:
                results[i] = _safe(asr, utterances[i])
                bar.advance(task)
    else:
        # fork where there is one: workers start without re-importing the caller's main module (spawn
        # would need an `if __name__ == "__main__"` guard in every script). Each worker builds its own
        # decoder; the parent's is never touched. All work is submitted before the progress bar's
        # refresh thread starts, so no thread is running when the workers are forked.
        method = start_method or ("fork" if "fork" in get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(
            max_workers=min(procs, len(todo)),
            mp_context=get_context(method),
            initializer=_init_worker,
            initargs=(asr.params(),),
        ) as pool:
            chunk = max(1, min(8, len(todo) // (4 * procs)))
            stream = pool.map(_work, [utterances[i] for i in todo], chunksize=chunk)
            with Progress(*columns, disable=not progress) as bar:
                task = bar.add_task(description, total=len(utterances), completed=len(utterances) - len(todo))
                for i, stage in zip(todo, stream, strict=True):
                    results[i] = stage
                    bar.advance(task)
    return [
        r if r is not None else AsrStage(engine=ENGINE, error=StageError.ASR_NO_TEXT.value) for r in results
    ]


register("asr.pocketsphinx.v1")(PocketsphinxAsr)
