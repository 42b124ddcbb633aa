"""A disk cache for synthesized audio and recognitions, keyed by a hash of everything that
determines them.

Rendering and decoding are deterministic for (text, voice, engine configuration), so a key is the
SHA-256 of a canonical JSON encoding of exactly those inputs (engine versions included): changing
any of them, e.g. the language model or a decoder beam, changes the key and never serves a stale
result. Entries are written atomically (`selflearn.util.atomic`), so parallel decoders and crashed
runs leave either a complete entry or none; a corrupt entry reads as a miss and is overwritten.

Layout under the root: ``audio/<k[:2]>/<k>.wav`` and ``asr/<k[:2]>/<k>.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from selflearn.util.atomic import atomic_write_bytes, atomic_write_text

__all__ = ["SpeechCache", "default_cache_dir", "stable_key"]

_ENV = "SELFLEARN_SPEECH_CACHE"


def default_cache_dir() -> Path:
    """``$SELFLEARN_SPEECH_CACHE``, else ``$XDG_CACHE_HOME/selflearn/speech`` (``~/.cache/...``)."""
    env = os.environ.get(_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "selflearn" / "speech"


def _canonical(obj: Any) -> Any:
    """JSON-able form with a fixed shape: tuples as lists, mappings with sorted string keys."""
    if isinstance(obj, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise TypeError(f"cannot build a cache key from {type(obj).__name__}: {obj!r}")


def stable_key(*parts: Any) -> str:
    """Hex SHA-256 of the canonical JSON of `parts`: equal inputs give equal keys in any process,
    on any platform (unlike ``hash()``, which is salted per process)."""
    blob = json.dumps(_canonical(list(parts)), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()


class SpeechCache:
    """Audio (WAV bytes) and recognitions (JSON objects) on disk under `root`, by `stable_key`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        if len(key) < 8 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"cache keys are hex digests from stable_key(), got {key!r}")
        return self.root / kind / key[:2] / f"{key}{suffix}"

    def audio_path(self, key: str) -> Path:
        return self._path("audio", key, ".wav")

    def recognition_path(self, key: str) -> Path:
        return self._path("asr", key, ".json")

    def get_audio(self, key: str) -> bytes | None:
        try:
            data = self.audio_path(key).read_bytes()
        except FileNotFoundError:
            return None
        return data if data[:4] == b"RIFF" else None

    def put_audio(self, key: str, wav: bytes) -> Path:
        path = self.audio_path(key)
        atomic_write_bytes(path, wav)
        return path

    def get_recognition(self, key: str) -> dict[str, Any] | None:
        try:
            text = self.recognition_path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None  # a damaged entry is a miss; the next put overwrites it
        return value if isinstance(value, dict) else None

    def put_recognition(self, key: str, value: Mapping[str, Any]) -> Path:
        path = self.recognition_path(key)
        atomic_write_text(path, json.dumps(_canonical(value), ensure_ascii=False))
        return path
