"""Text to speech with espeak-ng: a request -> 16 kHz mono 16-bit PCM, in a voice per person.

A real recogniser misrecognises people differently (accent, speed, pitch), so every simulated user
gets a fixed `Voice`: an espeak-ng language voice (en-us, en-gb, ...), a variant (m1..m7, f1..f5,
klatt...), a speaking rate and a pitch, drawn deterministically from (speaker id, seed) by
`voice_for_speaker`. A careful retry is the same voice, slower and with longer pauses.

espeak-ng is run as a subprocess (``espeak-ng --stdout``); it writes 22,050 Hz WAV, which is
resampled here to the 16 kHz the acoustic model expects (polyphase filter, `scipy.signal`). Output is
deterministic for (text, voice, espeak-ng version), which `SpeechCache` relies on.
"""

from __future__ import annotations

import hashlib
import io
import math
import shutil
import struct
import subprocess
import wave
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.signal import resample_poly

from selflearn.speech.cache import SpeechCache, stable_key
from selflearn.util.atomic import atomic_write_bytes

__all__ = [
    "LANGUAGES",
    "SAMPLE_RATE",
    "VARIANTS",
    "EspeakNotFoundError",
    "EspeakTts",
    "Voice",
    "find_espeak",
    "mix_noise",
    "pcm_to_wav",
    "voice_for_speaker",
    "voice_variant",
    "wav_to_pcm",
]

SAMPLE_RATE = 16000

INSTALL_HINT = (
    "install it with `sudo apt-get install espeak-ng` (Debian/Ubuntu; or run "
    "scripts/install-system-deps.sh), `brew install espeak-ng` (macOS), or put an espeak-ng "
    "binary on PATH"
)

#: espeak-ng English language voices a simulated person may speak with, and their weights.
#: WER with a SLURP lm.txt LM at 35 dB SNR, 30 requests, no variant: en-us 0.31, en-us-nyc 0.44,
#: en-gb 0.49, en-gb-x-rp 0.55, en-gb-scotland 0.67; en-029 (0.85) is left out as unusable.
LANGUAGES: tuple[tuple[str, int], ...] = (
    ("en-us", 5),
    ("en-gb", 2),
    ("en-us-nyc", 1),
    ("en-gb-x-rp", 1),
    ("en-gb-scotland", 1),
)

#: espeak-ng voice variants (speaker characteristics); "" is the language voice's own. Same setup,
#: en-us: klatt* 0.24-0.26, m6 0.23, m5 0.29, f2 0.30, m1/f1/m4/f5 0.34-0.36, m7 0.38, m3 0.43,
#: m2 0.49, f3/f4 0.51-0.52.
VARIANTS: tuple[str, ...] = (
    "",
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
)


class EspeakNotFoundError(RuntimeError):
    """espeak-ng is not installed (or not where it was said to be)."""


@dataclass(frozen=True)
class Voice:
    """How one person sounds to espeak-ng.

    `language` is an espeak-ng voice name (``en-us``, ``en-gb``...), `variant` a voice variant
    (``f3``, ``klatt2``, "" for none), `speed` words per minute (espeak default 175), `pitch`
    0..99 (default 50), `gap` extra pause between words in units of 10 ms.
    """

    language: str = "en-us"
    variant: str = ""
    speed: int = 160
    pitch: int = 50
    gap: int = 0

    def __post_init__(self) -> None:
        if not self.language or any(c in self.language for c in "+/ "):
            raise ValueError(f"bad espeak language voice {self.language!r}")
        if any(c in self.variant for c in "+/ "):
            raise ValueError(f"bad espeak variant {self.variant!r}")
        if not 80 <= self.speed <= 450:
            raise ValueError(f"speed must be 80..450 words per minute, got {self.speed}")
        if not 0 <= self.pitch <= 99:
            raise ValueError(f"pitch must be 0..99, got {self.pitch}")
        if not 0 <= self.gap <= 100:
            raise ValueError(f"gap must be 0..100 (x10 ms), got {self.gap}")

    @property
    def espeak_name(self) -> str:
        """The ``-v`` argument: ``language`` or ``language+variant``."""
        return f"{self.language}+{self.variant}" if self.variant else self.language

    def args(self) -> list[str]:
        return ["-v", self.espeak_name, "-s", str(self.speed), "-p", str(self.pitch), "-g", str(self.gap)]

    def slower(self, factor: float = 0.8, extra_gap: int = 2) -> Voice:
        """The same person speaking slowly and clearly (a careful retry)."""
        return replace(self, speed=max(80, round(self.speed * factor)), gap=min(100, self.gap + extra_gap))

    @property
    def spec(self) -> str:
        """A one-string form, e.g. ``en-us+f3/s160/p50/g0``; `Voice.parse` reads it back."""
        return f"{self.espeak_name}/s{self.speed}/p{self.pitch}/g{self.gap}"

    @classmethod
    def parse(cls, spec: str) -> Voice:
        """Read a `spec` string, or a bare espeak voice name (``en-gb``, ``en-us+klatt``)."""
        name, *opts = spec.strip().split("/")
        language, _, variant = name.partition("+")
        fields: dict[str, int] = {}
        keys = {"s": "speed", "p": "pitch", "g": "gap"}
        for opt in opts:
            if len(opt) < 2 or opt[0] not in keys or not opt[1:].isdigit():
                raise ValueError(f"bad voice option {opt!r} in {spec!r}; expected s<wpm>, p<pitch>, g<gap>")
            fields[keys[opt[0]]] = int(opt[1:])
        return cls(language=language, variant=variant, **fields)


def _unit(*parts: object) -> float:
    h = hashlib.blake2b(":".join(map(str, parts)).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def voice_for_speaker(speaker_id: str, seed: int = 0) -> Voice:
    """The fixed voice of a simulated person: language voice (weighted by `LANGUAGES`), variant,
    speed 140..190 wpm and pitch 25..75, each from a stable hash of (seed, speaker id)."""
    total = sum(w for _, w in LANGUAGES)
    u = _unit("lang", seed, speaker_id) * total
    language = LANGUAGES[-1][0]
    for name, w in LANGUAGES:
        if u < w:
            language = name
            break
        u -= w
    variant = VARIANTS[int(_unit("variant", seed, speaker_id) * len(VARIANTS))]
    speed = 140 + int(_unit("speed", seed, speaker_id) * 51)
    pitch = 25 + int(_unit("pitch", seed, speaker_id) * 51)
    return Voice(language=language, variant=variant, speed=speed, pitch=pitch)


#: Per-repeat jitter of a person's voice (`voice_variant`): speaking rate within +-JITTER_SPEED
#: (relative) and pitch within +-JITTER_PITCH. Small on purpose: the same person on another day.
JITTER_SPEED = 0.06
JITTER_PITCH = 6


def voice_variant(voice: Voice, k: int) -> Voice:
    """Variant `k` of `voice`: the same person saying something again, a little faster or slower,
    a little higher or lower. Variant 0 is `voice` itself; the others are fixed per (voice, k), so a
    recogniser's cache holds at most a few recordings per person and request."""
    if k <= 0:
        return voice
    du = 2.0 * _unit("jitter-speed", voice.spec, k) - 1.0
    dp = 2.0 * _unit("jitter-pitch", voice.spec, k) - 1.0
    speed = min(450, max(80, round(voice.speed * (1.0 + JITTER_SPEED * du))))
    pitch = min(99, max(0, voice.pitch + round(JITTER_PITCH * dp)))
    if (speed, pitch) == (voice.speed, voice.pitch):
        speed = min(450, max(80, voice.speed + (1 if du >= 0 else -1)))
    return replace(voice, speed=speed, pitch=pitch)


def find_espeak(executable: str | None = None) -> str:
    """Path of the espeak-ng binary, or `EspeakNotFoundError` saying how to install it."""
    name = executable or "espeak-ng"
    found = shutil.which(name)
    if found is None:
        raise EspeakNotFoundError(
            f"espeak-ng not found ({name!r} is not an executable on PATH): {INSTALL_HINT}"
        )
    return found


@lru_cache(maxsize=8)
def _espeak_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    return out.split("Data at")[0].strip() or "unknown"


def wav_to_pcm(data: bytes) -> tuple[NDArray[np.int16], int]:
    """(mono int16 samples, sample rate) from WAV bytes.

    Parses the RIFF chunks by hand because ``espeak-ng --stdout`` streams its WAV with placeholder
    sizes (0x7ffff...), which `wave` rejects; the data chunk then runs to the end of the bytes.
    Stereo input is averaged to mono.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos = 12
    rate = channels = bits = 0
    while pos + 8 <= len(data):
        cid = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", data[body : body + 8])
            bits = struct.unpack("<H", data[body + 14 : body + 16])[0]
            if fmt != 1 or bits != 16:
                raise ValueError(f"only 16-bit PCM WAV is supported (format {fmt}, {bits} bits)")
        elif cid == b"data":
            if not rate:
                raise ValueError("WAV data chunk before its fmt chunk")
            end = min(len(data), body + size)
            raw = data[body:end]
            raw = raw[: len(raw) - len(raw) % (2 * channels)]
            pcm = np.frombuffer(raw, dtype="<i2").astype(np.int16)
            if channels > 1:
                pcm = pcm.reshape(-1, channels).mean(axis=1).round().astype(np.int16)
            return pcm, rate
        pos = body + size + (size & 1)
    raise ValueError("WAV has no data chunk")


def pcm_to_wav(pcm: NDArray[np.int16], sample_rate: int = SAMPLE_RATE) -> bytes:
    """Mono 16-bit WAV bytes with correct sizes."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
    return buf.getvalue()


def resample(pcm: NDArray[np.int16], rate_in: int, rate_out: int = SAMPLE_RATE) -> NDArray[np.int16]:
    """Polyphase resampling (anti-aliased) to `rate_out`, rounded and clipped back to int16."""
    if rate_in == rate_out:
        return pcm
    g = math.gcd(rate_in, rate_out)
    y = resample_poly(pcm.astype(np.float64), rate_out // g, rate_in // g)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def mix_noise(pcm: NDArray[np.int16], snr_db: float, seed: int) -> NDArray[np.int16]:
    """Add white Gaussian noise at `snr_db` relative to the signal's mean power (seeded, so the
    same inputs give the same samples). Silent input is returned unchanged."""
    x = pcm.astype(np.float64)
    power = float(np.mean(x**2)) if x.size else 0.0
    if power <= 0.0:
        return pcm
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(x.size) * math.sqrt(power / 10.0 ** (snr_db / 10.0))
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


class EspeakTts:
    """espeak-ng renderer: `synthesize(text, voice)` -> 16 kHz mono int16 samples.

    `executable` names or points to the binary (default: ``espeak-ng`` on PATH), checked when the
    renderer is made so a missing install fails early with instructions. `pad_ms` of silence is
    added at both ends (a recogniser needs some context before the first word). With a `cache`,
    WAVs are stored under a key of (text, voice, espeak version, pad, rate).
    """

    def __init__(
        self, executable: str | None = None, *, pad_ms: int = 200, cache: SpeechCache | None = None
    ) -> None:
        self.executable = find_espeak(executable)
        self.pad_ms = pad_ms
        self.cache = cache

    @property
    def version(self) -> str:
        return _espeak_version(self.executable)

    def config(self) -> dict[str, object]:
        """What besides text and voice determines the audio (part of every cache key)."""
        return {"engine": "espeak-ng", "version": self.version, "pad_ms": self.pad_ms, "rate": SAMPLE_RATE}

    def audio_key(self, text: str, voice: Voice) -> str:
        return stable_key("tts", self.config(), text, voice.spec)

    def synthesize(self, text: str, voice: Voice | None = None) -> NDArray[np.int16]:
        """Render `text` in `voice` (default `Voice()`) to 16 kHz mono int16 samples."""
        voice = voice or Voice()
        key = self.audio_key(text, voice) if self.cache is not None else ""
        if self.cache is not None:
            cached = self.cache.get_audio(key)
            if cached is not None:
                return wav_to_pcm(cached)[0]
        # Text goes in on stdin, never argv: a request starting with "-" must not become an option.
        proc = subprocess.run(
            [self.executable, "--stdout", "-b", "1", *voice.args()],
            input=text.encode("utf-8"),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0 or not proc.stdout:
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(
                f"espeak-ng failed for voice {voice.espeak_name!r} (rc={proc.returncode}): {err}"
            )
        pcm, rate = wav_to_pcm(proc.stdout)
        pcm = resample(pcm, rate, SAMPLE_RATE)
        if self.pad_ms > 0:
            pad = np.zeros(SAMPLE_RATE * self.pad_ms // 1000, dtype=np.int16)
            pcm = np.concatenate([pad, pcm, pad])
        if self.cache is not None:
            self.cache.put_audio(key, pcm_to_wav(pcm))
        return pcm

    def render(self, text: str, voice: Voice | None = None) -> bytes:
        """WAV bytes (16 kHz, mono, 16-bit) of `text` in `voice`."""
        return pcm_to_wav(self.synthesize(text, voice))

    def write(self, text: str, path: str | Path, voice: Voice | None = None) -> Path:
        """Render to a WAV file at `path` (written atomically)."""
        atomic_write_bytes(path, self.render(text, voice))
        return Path(path)
