"""The workspace: one object that owns every path selflearn reads or writes, and the one registry
of published artifact kinds.

A workspace is a directory. Its layout is a contract between the runtime that writes logs, the
nightly graph that reads them and publishes artifacts, the service that serves the artifacts and
the privacy code that has to find a person everywhere; so the layout is written down once, here,
instead of as ``workspace / "artifacts" / "models" / "nlu"`` spelled in a dozen modules::

    WS/
      domain.json                 the deployment's domain (intents, slots, protected, vocabularies)
      logs/day=NNNN/*.parquet     every turn, stage by stage (`logs.io`)
      truth/                      the simulator's truth table (never read by a learner)
      quarantine/                 records that broke the log contract, with file, line and field
      privacy/                    tombstones of deleted people and their hashing key
      serve/                      the service: tokens, late feedback, its turn journal
      nightly/<run>/summary.json  what each night ran and published
      artifacts/<kind>/vNNNN/     every published artifact, versioned (`ARTIFACT_KINDS`)
      artifacts/preferences.sqlite  taught preferences (a live store, not a nightly artifact)

Every published kind lives in a `util.versions.VersionedStore`: versions written whole, an atomic
``CURRENT``, rollback, disable/enable, provenance in each version's manifest. The kinds whose
content is a saved learner (the NLU, the labeller, the failure-point model, the rephrase
detectors) keep it under ``vNNNN/model/``, so the learner's own manifest and the store's sit side
by side. Workspaces written before the store held those kinds kept them under
``artifacts/models/<name>``; `Workspace.model_dir` still reads that layout when no version is
published.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from selflearn.util.versions import VersionedStore

__all__ = ["ARTIFACT_KINDS", "MODEL_SUBDIR", "ArtifactKind", "Workspace", "WorkspaceError"]

#: Where a model kind's version keeps the saved learner (beside the store's manifest.json).
MODEL_SUBDIR = "model"


class WorkspaceError(ValueError):
    """A workspace request that cannot be met (an unknown artifact kind, a missing directory)."""


@dataclass(frozen=True)
class ArtifactKind:
    """One published kind: where its versions live, how many are kept (None: all), the files a
    version must hold, and whether it is a saved learner (kept under ``model/``)."""

    name: str
    directory: str
    keep: int | None
    required: tuple[str, ...]
    model: bool
    description: str
    legacy: str | None = None  # the pre-store directory of a model kind, read when nothing is published


def _model(name: str, description: str) -> ArtifactKind:
    return ArtifactKind(
        name,
        f"artifacts/{name}",
        keep=3,
        required=(f"{MODEL_SUBDIR}/manifest.json",),
        model=True,
        description=description,
        legacy=f"artifacts/models/{name}",
    )


_KINDS = (
    ArtifactKind(
        "rewrite",
        "artifacts/rewrites",
        keep=None,
        required=("table.parquet",),
        model=False,
        description="precomputed rewrites mined by the absorbing Markov chain",
    ),
    ArtifactKind(
        "online",
        "artifacts/online",
        keep=2,
        required=("global.parquet", "personal.parquet", "ranker"),
        model=False,
        description="online rewrites: global and personal candidate indexes and their rankers",
    ),
    ArtifactKind(
        "context",
        "artifacts/context",
        keep=3,
        required=("history.json",),
        model=False,
        description="context-aware interpretation: per-person histories and the reranker",
    ),
    ArtifactKind(
        "failure_points",
        "artifacts/failure_points",
        keep=7,
        required=("failure_points.parquet",),
        model=False,
        description="each night's failure point per logged turn, by the live failure-point model",
    ),
    _model("nlu", "the understanding model (intent and slots)"),
    _model("labels", "the automatic labeller"),
    _model("fpi", "the failure-point model"),
    _model("rephrase", "the lexical-phonetic rephrase detector"),
    _model("rephrase_span", "the contextual span rephrase detector"),
    _model("rephrase_rule", "the time-gap barge-in rule"),
)

#: Every kind a workspace publishes. Rewrite tables keep every version (rules are disabled by
#: publishing a version without them, and the lineage is the audit trail); the others keep a few.
ARTIFACT_KINDS: Mapping[str, ArtifactKind] = {k.name: k for k in _KINDS}


def artifact_kind(name: str) -> ArtifactKind:
    """The registered kind `name`, or a `WorkspaceError` listing the kinds there are."""
    try:
        return ARTIFACT_KINDS[name]
    except KeyError:
        raise WorkspaceError(
            f"no artifact kind {name!r}; the kinds are {', '.join(ARTIFACT_KINDS)}"
        ) from None


@dataclass(frozen=True)
class Workspace:
    """The paths of one workspace, and its artifact stores. Cheap to build: nothing is read or
    created until asked."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root))

    @classmethod
    def of(cls, ws: Workspace | str | os.PathLike[str]) -> Workspace:
        return ws if isinstance(ws, Workspace) else cls(ws)

    # -- data ------------------------------------------------------------------------------------------
    @property
    def domain_file(self) -> Path:
        return self.root / "domain.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def privacy(self) -> Path:
        return self.root / "privacy"

    @property
    def nightly(self) -> Path:
        return self.root / "nightly"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def preferences_db(self) -> Path:
        return self.artifacts / "preferences.sqlite"

    # -- the service -----------------------------------------------------------------------------------
    @property
    def serve(self) -> Path:
        return self.root / "serve"

    @property
    def tokens_file(self) -> Path:
        return self.serve / "tokens.json"

    @property
    def feedback_file(self) -> Path:
        """Late feedback: what people said about a turn after the service logged it."""
        return self.serve / "feedback.jsonl"

    @property
    def journal(self) -> Path:
        return self.serve / "journal"

    def has_logs(self) -> bool:
        return self.logs.is_dir()

    # -- artifacts -------------------------------------------------------------------------------------
    def store(self, kind: str, keep: int | Literal["default"] | None = "default") -> VersionedStore:
        """The versioned store of a registered kind (`keep` overrides how many versions it keeps)."""
        k = artifact_kind(kind)
        kept = k.keep if keep == "default" else keep
        return VersionedStore(self.root / k.directory, k.name, keep=kept, required=k.required)

    def model_dir(self, kind: str) -> Path | None:
        """The directory holding the live saved learner of a model kind: the current version's
        ``model/``; when nothing was ever published (no pointer), the pre-store directory if it
        holds a learner; else None. A disabled kind gives None."""
        k = artifact_kind(kind)
        if not k.model:
            raise WorkspaceError(f"artifact kind {kind!r} is not a saved learner")
        store = self.store(kind)
        version = store.current_version()
        if version is not None:
            return store.path(version) / MODEL_SUBDIR
        if store.pointed_version() is None and store.disabled() is None and k.legacy:
            legacy = self.root / k.legacy
            if (legacy / "manifest.json").exists():
                return legacy
        return None

    def publish_model(
        self, kind: str, save: Callable[[Path], Any], provenance: Mapping[str, Any] | None = None
    ) -> str:
        """Publish a saved learner as the next version of `kind` (`save(dir)` writes it, e.g.
        ``model.save``) and make it live; returns the version."""
        k = artifact_kind(kind)
        if not k.model:
            raise WorkspaceError(f"artifact kind {kind!r} is not a saved learner")
        return self.store(kind).publish(lambda tmp: save(tmp / MODEL_SUBDIR), provenance)

    def artifact_kinds(self) -> list[str]:
        """The registered kinds this workspace has published (or, for models, holds the old way)."""
        out = []
        for name, k in ARTIFACT_KINDS.items():
            legacy = k.legacy is not None and (self.root / k.legacy / "manifest.json").exists()
            if legacy or self.store(name).versions():
                out.append(name)
        return out
