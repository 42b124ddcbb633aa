"""One manifest writer and reader for every saved learner.

A saved learner is a directory: `manifest.json` plus whatever files hold its fitted state. The
manifest says what the directory holds and whether this code can read it back:

* ``kind``: the learner's class name; loading a directory as another kind is an error;
* ``format``: the layout of the directory, raised when it changes incompatibly;
* ``params``: the constructor parameters (`get_params()`), so `cls(**params)` rebuilds the
  unfitted learner;
* ``feature_version``: the version of the features the learner was fitted on, when it has one;
  a model fitted on other features is refused rather than silently mis-scored;
* ``selflearn`` and ``written``: which selflearn wrote it, and when (provenance);
* anything else the learner records (fitted scalars, class lists, library versions).

Manifests written before this module kept the parameters under ``config``; `read_manifest` reads
those too. The write is atomic (temporary file + rename), so a crash never leaves half a manifest.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from importlib import metadata
from pathlib import Path
from typing import Any

from selflearn.util.atomic import atomic_write_text

__all__ = ["MANIFEST", "ManifestError", "read_manifest", "write_manifest"]

MANIFEST = "manifest.json"


class ManifestError(ValueError):
    """A saved learner's directory cannot be read back as asked (names the directory and why)."""


def _selflearn_version() -> str | None:
    try:
        return metadata.version("selflearn")
    except metadata.PackageNotFoundError:
        return None


def write_manifest(
    directory: str | Path,
    kind: str,
    params: dict[str, Any],
    *,
    format: int = 1,
    feature_version: str | None = None,
    **fields: Any,
) -> Path:
    """Write `directory/manifest.json` (creating the directory) and return the directory."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    clash = {"kind", "format", "params", "feature_version", "selflearn", "written"} & set(fields)
    if clash:
        raise ValueError(f"manifest fields {sorted(clash)} are written by write_manifest itself")
    payload: dict[str, Any] = {
        "kind": kind,
        "format": format,
        "params": params,
        "feature_version": feature_version,
        "selflearn": _selflearn_version(),
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **fields,
    }
    atomic_write_text(d / MANIFEST, json.dumps(payload, indent=2, sort_keys=True))
    return d


def read_manifest(
    directory: str | Path,
    kind: str,
    *,
    formats: Collection[int] = (1,),
    feature_version: str | None = None,
) -> dict[str, Any]:
    """The manifest of `directory`, checked: it exists and parses, holds a `kind`, in one of
    `formats`, fitted on `feature_version` when one is given. ``params`` is always present (from
    ``config`` in older manifests)."""
    d = Path(directory)
    path = d / MANIFEST
    if not path.exists():
        raise ManifestError(f"{d}: no saved model here (missing {MANIFEST})")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(m, dict):
        raise ManifestError(f"{path}: a manifest is a JSON object")
    if m.get("kind") != kind:
        raise ManifestError(f"{d} holds a {m.get('kind')!r}, not a {kind}")
    if m.get("format", 1) not in formats:
        raise ManifestError(f"{d}: {kind} format {m.get('format')!r}; this version reads {sorted(formats)}")
    if feature_version is not None and m.get("feature_version") != feature_version:
        raise ManifestError(
            f"{d}: {kind} fitted on features {m.get('feature_version')!r}, this version computes "
            f"{feature_version!r}; retrain it"
        )
    m.setdefault("params", m.get("config", {}))
    return dict(m)
