"""Online rewriting at run time: the precomputed table first, then retrieval + ranking over the
global and the asking user's personal index.

`OnlineStore` keeps versioned online models (encoder weights if fine-tuned, the global and
personal candidate indexes, the ranker) under ``artifacts/online`` with an atomically switched
CURRENT pointer, like the rewrite table store. `OnlineRewriter` is the pipeline component
``rewrite.online.v1``; its layers are separable (``layers="global"``, ``"personal"`` or
``"global+personal"``) so each is measured alone and together. A cheap gate skips retrieval when
the recogniser and the NLU are both confident: most requests are fine and encoding costs ms.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selflearn.assistant.component import TurnState, register
from selflearn.logs.records import RewriteStage, Turn
from selflearn.rewrite.friction import scrub_user
from selflearn.rewrite.ranking import (
    Query,
    RewriteRanker,
    candidate_features,
    none_features,
    unknown_words,
)
from selflearn.rewrite.retrieval import CANDIDATE_SCHEMA, BiEncoder, CandidateIndex, PersonalIndexes
from selflearn.rewrite.runtime import PrecomputedRewriter
from selflearn.rewrite.table import RewriteTable
from selflearn.text.normalize import normalize_request
from selflearn.util.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = [
    "LAYER_CHOICES",
    "Decision",
    "OnlineModel",
    "OnlineRewriter",
    "OnlineStore",
    "query_from_turn",
]

LAYER_CHOICES = ("off", "global", "personal", "global+personal")
_VERSION = re.compile(r"^v(\d{4,})$")
GLOBAL_FILE = "global.parquet"
PERSONAL_FILE = "personal.parquet"
ENCODER_FILE = "encoder.pt"
RANKER_DIR = "ranker"
GLOBAL_RANKER_DIR = "ranker_global"
MANIFEST_FILE = "manifest.json"


def parse_layers(layers: str) -> frozenset[str]:
    """ "global+personal" -> {"global", "personal"}; "off" -> {}; anything else is an error."""
    if layers not in LAYER_CHOICES:
        raise ValueError(f"unknown online layers {layers!r}; choose one of {', '.join(LAYER_CHOICES)}")
    return frozenset() if layers == "off" else frozenset(layers.split("+"))


@dataclass
class OnlineModel:
    """Everything the online layers need at run time, for one published version."""

    encoder: BiEncoder
    global_index: CandidateIndex
    personal: PersonalIndexes
    ranker: RewriteRanker
    version: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    # A model trained with both layers also carries the global layer's own ranker (trained on the
    # same requests with the personal candidates left out): the global layer then decides as it
    # would alone, and the personal layer can only add to it (see OnlineRewriter._rank).
    global_ranker: RewriteRanker | None = None
    # Log feedback on the layer's own rewrites: request text -> rewrites users kept retrying after.
    suppressed: dict[str, frozenset[str]] = field(default_factory=dict)
    # Confident requests at least k people had to say again (rewrite/friction.py): past the gate.
    friction: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.suppressed:
            raw = self.manifest.get("suppressed") or {}
            self.suppressed = {str(k): frozenset(map(str, v)) for k, v in raw.items()}
        if not self.friction:
            self.friction = frozenset(map(str, self.manifest.get("friction") or {}))


class OnlineStore:
    """Published online models under ``root/artifacts/online``, on the one versioned store
    (`util.versions`): a version is written whole under a hidden name and renamed into place,
    CURRENT switches atomically, pruning hides a version by rename before deleting it (a crash
    never leaves a half version listed), interrupted writes are cleaned, and `rollback`, `disable`
    and `enable` work as for every other kind. `delete_user` scrubs a user from every kept
    version."""

    def __init__(self, root: str | os.PathLike[str], keep: int = 2) -> None:
        self.root = Path(root)
        self.keep = keep
        self.store = Workspace(root).store("online", keep=keep)
        self.dir = self.store.dir

    @property
    def current_path(self) -> Path:
        return self.store.current_path

    def versions(self) -> list[str]:
        return self.store.versions()

    def current_version(self) -> str | None:
        """The live version; None when nothing is published or the online layers are disabled."""
        return self.store.current_version()

    def clean(self) -> list[str]:
        """Remove what interrupted publishes and prunes left behind (run at service start)."""
        return self.store.clean()

    def publish(
        self,
        global_table: pa.Table,
        personal_table: pa.Table,
        ranker: RewriteRanker,
        encoder: BiEncoder | None,
        manifest: Mapping[str, Any],
        global_ranker: RewriteRanker | None = None,
        compile_rankers: bool = False,
    ) -> str:
        """Write a new version (encoder weights only if fine-tuned) and make it CURRENT. With
        `compile_rankers`, the rankers' native code is built into the version too (seconds per
        booster, paid here rather than by a serving process; `RewriteRanker.compile`)."""

        def write(tmp: Path) -> None:
            pq.write_table(global_table.cast(CANDIDATE_SCHEMA), tmp / GLOBAL_FILE)
            pq.write_table(personal_table.cast(CANDIDATE_SCHEMA), tmp / PERSONAL_FILE)
            ranker.save(tmp / RANKER_DIR)
            if global_ranker is not None:
                global_ranker.save(tmp / GLOBAL_RANKER_DIR)
            if compile_rankers:
                compile_rankers_in(tmp)
            if encoder is not None and encoder.fine_tuned_:
                encoder.save(tmp / ENCODER_FILE)

        return self.store.publish(write, manifest)

    def load(self, version: str, encoder: BiEncoder | None = None) -> OnlineModel:
        """A published version. Pass `encoder` to reuse an already loaded shipped encoder when the
        version has no fine-tuned weights (loading MiniLM costs about a second)."""
        vdir = self.dir / version
        manifest = json.loads((vdir / MANIFEST_FILE).read_text(encoding="utf-8"))
        if (vdir / ENCODER_FILE).exists():
            enc = BiEncoder.load(vdir / ENCODER_FILE)
        elif encoder is not None and not encoder.fine_tuned_:
            enc = encoder
            enc.clear_cache()  # nothing of an older version (e.g. a since deleted user) stays
        else:
            enc = BiEncoder.load(None)
        model = OnlineModel(
            encoder=enc,
            global_index=CandidateIndex.from_arrow("global", pq.read_table(vdir / GLOBAL_FILE)),
            personal=PersonalIndexes.from_arrow(pq.read_table(vdir / PERSONAL_FILE)),
            ranker=RewriteRanker.load(vdir / RANKER_DIR),
            version=version,
            manifest=manifest,
            global_ranker=RewriteRanker.load(vdir / GLOBAL_RANKER_DIR)
            if (vdir / GLOBAL_RANKER_DIR).is_dir()
            else None,
        )
        warm_cache(model)
        return model

    def delete_user(self, user_id: str, min_users: int | None = None) -> int:
        """Remove `user_id` from every kept version: their personal index, and their support of
        global candidates (a candidate left with fewer than `min_users` distinct users, default the
        version's own k, is dropped). CURRENT is rewritten so running readers reload. Returns the
        number of versions changed."""
        changed = 0
        for version in self.versions():
            vdir = self.dir / version
            manifest = self.store.manifest(version)
            k = min_users if min_users is not None else int(manifest.get("min_users", 1))
            personal = pq.read_table(vdir / PERSONAL_FILE)
            keep = pc.invert(pc.fill_null(pc.equal(personal.column("user_id"), user_id), False))
            new_personal = personal.filter(keep)
            glob = pq.read_table(vdir / GLOBAL_FILE)
            rows = glob.to_pylist()
            new_rows = []
            for row in rows:
                users = [u for u in row["users"] or [] if u != user_id]
                if len(users) != len(row["users"] or []):
                    if len(users) < k:
                        continue
                    row = {**row, "users": users, "distinct_users": len(users)}
                new_rows.append(row)
            friction = manifest.get("friction") or {}
            new_friction = scrub_user(friction, user_id, k)
            same_friction = new_friction == {t: list(u) for t, u in friction.items()}
            # A suppressed request only this person said is their text: it goes (its rewrite may
            # be proposed for it again, as before anybody retried it).
            by = manifest.get("suppressed_by") or {}
            gone = [src for src, users in by.items() if user_id in users and not set(users) - {user_id}]
            if (
                new_personal.num_rows == personal.num_rows
                and len(new_rows) == len(rows)
                and same_friction
                and not any(user_id in users for users in by.values())
            ):
                continue
            updates: dict[str, Any] = {"friction": new_friction}
            if by:
                updates["suppressed_by"] = {
                    src: [u for u in users if u != user_id] for src, users in by.items() if src not in gone
                }
                updates["suppressed"] = {
                    src: tgts for src, tgts in (manifest.get("suppressed") or {}).items() if src not in gone
                }
            new_glob = pa.Table.from_pylist(new_rows, schema=CANDIDATE_SCHEMA)
            self.store.rewrite(
                version,
                {
                    PERSONAL_FILE: partial(_write_parquet, new_personal),
                    GLOBAL_FILE: partial(_write_parquet, new_glob),
                },
                note={},
                updates=updates,
            )
            changed += 1
        if changed:
            self.store.touch_current()  # a new inode: readers reload
        return changed


def _write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path)


def compile_rankers_in(vdir: Path) -> None:
    """Build the native code of a version's rankers into its `compiled/` caches."""
    for sub in (RANKER_DIR, GLOBAL_RANKER_DIR):
        if (vdir / sub).is_dir():
            RewriteRanker.load(vdir / sub).compile()


def compile_for_serving(model: OnlineModel) -> bool:
    """Serve `model` through compiled hot paths: the encoder traced for single queries
    (`BiEncoder.trace`) and the rankers as native code (`RewriteRanker.compile`, through each
    ranker's cache). False, with the rankers left on LightGBM, when lleaves cannot compile here:
    the scores are the same either way, only slower."""
    if not model.encoder.is_traced:
        model.encoder.trace()
    try:
        for ranker in (model.ranker, model.global_ranker):
            if ranker is not None:
                ranker.compile()
    except Exception:
        log.exception("online model %s: rankers not compiled; scoring with LightGBM", model.version)
        return False
    return True


def warm_cache(model: OnlineModel) -> int:
    """Fill the encoder's query cache with every embedding the version ships (candidates and the
    requests known to have been rephrased into them): requests recur, and a cache hit costs
    microseconds where encoding costs milliseconds. Returns the number of cached texts."""
    enc = model.encoder
    model.global_index.prior()  # the wording model: built now, not on the first request
    n = enc.warm(model.global_index.texts, model.global_index.embeddings)
    for user in model.personal.users():
        idx = model.personal.get(user)
        if idx is None:
            continue
        n += enc.warm(idx.texts, idx.embeddings)
        for srcs, vecs in zip(idx.sources, idx.source_embeddings, strict=False):
            if len(srcs) == len(vecs):
                n += enc.warm(srcs, vecs)
    return n


@dataclass
class Decision:
    """What the online layers decided for one request."""

    rewritten: str | None  # None: leave the request as it is
    score: float  # probability the rewrite is right (calibrated), or of the best candidate
    layer: str | None  # "precomputed", "global" or "personal"
    provenance: dict[str, Any] = field(default_factory=dict)
    gated: bool = False  # retrieval was skipped because the request looked fine
    candidates: int = 0


def query_from_turn(turn: Turn, nlu_confidence: float, nlu_intent: str | None) -> Query:
    """The ranker's view of a live turn (what a real log holds)."""
    local = turn.context.local_time
    hour = local.hour if local is not None else turn.timestamp.hour
    return Query(
        text=normalize_request(turn.asr.text),
        user_id=turn.user_id,
        asr_confidence=float(turn.asr.confidence),
        nlu_confidence=float(nlu_confidence),
        nlu_intent=nlu_intent,
        device_type=str(turn.device.type),
        room=turn.context.room,
        hour=hour,
        timestamp=turn.timestamp.timestamp(),
        entity_ids=frozenset(d.entity_id for d in turn.context.device_states),
    )


def _rule_id(layer: str, version: str | None, target: str) -> str:
    h = hashlib.blake2b(target.encode(), digest_size=6).hexdigest()
    return f"online:{layer}:{version or 'unpublished'}:{h}"


@register("rewrite.online.v1")
class OnlineRewriter:
    """Component ``rewrite``: the precomputed table first, then the online layers.

    Give `root` (a workspace: follows both stores as new versions are published) or fixed `table`
    and `model` (tests, services). `nlu` (a fitted NluModel, optional) gives the original's NLU
    confidence for the gate and the ranker; without it the gate uses the ASR confidence alone.
    The gate skips retrieval when NLU confidence >= `gate_nlu` and ASR confidence >= `gate_asr`;
    left None, they are those the loaded model's ranker was trained with (its manifest), else
    0.9 / 0.85: a ranker only knows the requests its gate let through.
    """

    name = "rewrite"

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        layers: str = "global+personal",
        nlu: Any = None,
        table: RewriteTable | None = None,
        model: OnlineModel | None = None,
        check_interval_s: float = 5.0,
        gate_nlu: float | None = None,
        gate_asr: float | None = None,
        k_dense: int = 8,
        k_phonetic: int = 4,
        precomputed: bool = True,
        trace: str | os.PathLike[str] | None = None,
        compiled: bool = False,
    ) -> None:
        self.layers = parse_layers(layers)
        # Serve through compiled hot paths (`compile_for_serving`: the encoder traced, the rankers
        # as native code): the first model is compiled before the first request; a model published
        # later is served as loaded while it compiles in the background (the same scores, so
        # nothing changes but the latency).
        self.compiled = compiled
        # Diagnostics: one JSON line per decided turn (what was retrieved, the ranker's margin, what
        # fired), for offline analysis of why failures were not fixed. Off by default.
        self.trace_path = Path(trace) if trace is not None else None
        self.layers_name = layers
        self.nlu = nlu
        self.gate_nlu = gate_nlu
        self.gate_asr = gate_asr
        self.k_dense = k_dense
        self.k_phonetic = k_phonetic
        self.check_interval_s = check_interval_s
        self.use_precomputed = precomputed
        if root is not None:
            self.precomputed = PrecomputedRewriter(root=root, check_interval_s=check_interval_s)
        else:
            self.precomputed = PrecomputedRewriter(table=table or RewriteTable.empty())
        self.store = OnlineStore(root) if root is not None else None
        self.model: OnlineModel | None = model
        self._signature: tuple[int, int, int] | None = None
        self._next_check = 0.0
        self._targets: dict[str, float] = {}
        self._targets_version: str | None = None
        self.stats = {"turns": 0, "precomputed": 0, "gated": 0, "retrieved": 0, "fired": 0}
        self._nlu_memo: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._nlu_memo_of: Any = None
        self.last_candidates: list[dict[str, Any]] = []  # filled only when tracing
        self.last_gated = False  # the last call's gate decision and provenance (for the service)
        self.last_provenance: dict[str, Any] = {}
        self._index_targets()
        if self.store is not None:
            try:
                self.reload()
            except Exception:  # serve the precomputed table rather than nothing; healthz shows it
                log.exception("online model in %s could not be loaded; online layers are off", root)

    def _index_targets(self) -> None:
        # The precomputed table's best probability per target: a known good rewrite target.
        targets: dict[str, float] = {}
        for rule in self.precomputed.table:
            targets[rule.target] = max(targets.get(rule.target, 0.0), float(rule.probability))
        self._targets = targets
        self._targets_version = self.precomputed.version

    def reload(self) -> bool:
        """Pick up a newly published rewrite table and online model. True if either changed."""
        changed = self.precomputed.reload()
        if changed:
            self._index_targets()
        if self.store is None:
            return changed
        self._next_check = time.monotonic() + self.check_interval_s
        try:
            st = os.stat(self.store.current_path)
            sig: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            sig = None
        if sig is None or sig == self._signature:
            return changed
        version = self.store.current_version()
        if version is None:
            return changed
        old = self.model.encoder if self.model is not None else None
        model = self.store.load(version, encoder=old)
        if self.compiled:
            if self.model is None:
                compile_for_serving(model)
            else:
                worker = threading.Thread(
                    target=compile_for_serving, args=(model,), name="compile", daemon=True
                )
                worker.start()
        self.model = model
        self._signature = sig
        log.info("online rewrite model %s loaded", version)
        return True

    def _maybe_reload(self) -> None:
        if self.store is None or time.monotonic() < self._next_check:
            return
        try:
            self.reload()
        except Exception:  # a broken publish must not take the assistant down
            log.exception("online model reload failed; keeping the loaded one")

    def gates(self) -> tuple[float, float]:
        """(NLU, ASR) confidence gate in force: explicit, else the loaded model's training gate."""
        trained = (self.model.manifest.get("config") or {}) if self.model is not None else {}
        nlu = self.gate_nlu if self.gate_nlu is not None else float(trained.get("gate_nlu", 0.9))
        asr = self.gate_asr if self.gate_asr is not None else float(trained.get("gate_asr", 0.85))
        return nlu, asr

    def gate_unknown(self) -> bool:
        """Whether unknown words open the gate: as the loaded model's ranker was trained (a model
        from before the rule was not, and keeps the plain gate)."""
        trained = (self.model.manifest.get("config") or {}) if self.model is not None else {}
        return bool(trained.get("gate_unknown", False))

    def gate_friction(self) -> bool:
        """Whether requests people had to say again open the gate: as the loaded model's ranker
        was trained (a model from before the rule was not, and keeps the plain gate)."""
        trained = (self.model.manifest.get("config") or {}) if self.model is not None else {}
        return bool(trained.get("gate_friction", False))

    def nlu_view(self, text: str) -> tuple[float, str | None]:
        """(top intent confidence, top intent) of the original text, or (0.5, None) without an NLU."""
        if self.nlu is None or not text:
            return 0.5, None
        # A service reads a request twice (`to_encode`, then `rewrite`): remember the last few
        # readings, for as long as the NLU is the same object.
        if self._nlu_memo_of is not self.nlu:
            self._nlu_memo.clear()
            self._nlu_memo_of = self.nlu
        hit = self._nlu_memo.get(text)
        if hit is not None:
            return hit
        p = self.nlu.intent_proba(text)
        i = int(np.argmax(p))
        out = (float(p[i]), str(self.nlu.classes_[i]))
        self._nlu_memo[text] = out
        if len(self._nlu_memo) > 256:
            self._nlu_memo.popitem(last=False)
        return out

    def _gated(self, q: Query, personal_idx: CandidateIndex | None) -> bool:
        """The gate trusts a confident NLU, except for a request this user has had to rephrase
        before (a private name reads as a confident intent with a slot nobody can resolve) and
        (when the model was trained so) one holding a word no successful request holds, or one
        k people had to say again."""
        gate_nlu, gate_asr = self.gates()
        model = self.model
        return (
            q.nlu_confidence >= gate_nlu
            and q.asr_confidence >= gate_asr
            and not (personal_idx is not None and personal_idx.has_source(q.text))
            and not (self.gate_unknown() and q.unknown_words > 0)
            and not (model is not None and q.text in model.friction and self.gate_friction())
        )

    def _table_rule(self, norm: str) -> Any:
        """The precomputed rule that answers a normalised request, if the table is consulted."""
        if not self.use_precomputed:
            return None
        rule = self.precomputed.table.lookup(norm)
        return rule if rule is not None and rule.probability >= self.precomputed.min_score else None

    def to_encode(self, text: str, user_id: str, asr_confidence: float = 1.0) -> str | None:
        """The text `rewrite(text, user_id, asr_confidence, ...)` will embed, when it will embed one
        that is not cached; else None (a precomputed rewrite, the gate, no model). A service
        encodes it on another core (`BiEncoder.prefetch`) before taking its request lock, so that
        a request never seen before does not hold up the cheap ones queued behind it."""
        model = self.model
        if model is None or not self.layers:
            return None
        norm = normalize_request(text)
        if not norm or model.encoder.is_cached(norm):
            return None
        if self._table_rule(norm) is not None:
            return None
        conf, intent = self.nlu_view(text)
        personal_idx = model.personal.get(user_id) if "personal" in self.layers else None
        glob = model.global_index if "global" in self.layers else None
        q = Query(norm, user_id, asr_confidence, conf, intent)
        q = replace(q, unknown_words=unknown_words(norm, [glob, personal_idx]))
        return None if self._gated(q, personal_idx) else norm

    def decide(self, q: Query) -> Decision:
        """Retrieve from the enabled layers, rank with "no rewrite" among the candidates, and fire
        above the ranker's calibrated threshold. Never looks at another user's personal index."""
        model = self.model
        if model is None or not self.layers or not q.text:
            return Decision(None, 0.0, None)
        self.last_candidates = []
        personal_idx = model.personal.get(q.user_id) if "personal" in self.layers else None
        glob = model.global_index if "global" in self.layers else None
        q = replace(q, unknown_words=unknown_words(q.text, [glob, personal_idx]))
        if self._gated(q, personal_idx):
            return Decision(None, 0.0, None, gated=True)
        # The wording prior is the global index's (k users' requests): it is shared, never personal.
        # Scored past the gate: most requests stop there and never need it.
        prior = model.global_index.prior()
        q = replace(q, lm_score=prior.score(q.text))
        vec = model.encoder.encode_one(q.text)
        rows = [none_features(q)]
        found: list[tuple[CandidateIndex, int]] = []
        seen = {q.text} | model.suppressed.get(q.text, frozenset())
        if personal_idx is not None:
            for h in personal_idx.search(vec, q.text, self.k_dense, self.k_phonetic):
                text = personal_idx.texts[h.row]
                if text in seen:
                    continue
                seen.add(text)
                found.append((personal_idx, h.row))
                rows.append(
                    candidate_features(
                        q,
                        personal_idx,
                        h,
                        personal_idx,
                        self._targets.get(text, 0.0),
                        prior=prior,
                        crowd=model.global_index,
                    )
                )
        if "global" in self.layers:
            own = model.personal.get(q.user_id) if "personal" in self.layers else None
            for h in model.global_index.search(vec, q.text, self.k_dense, self.k_phonetic):
                text = model.global_index.texts[h.row]
                if text in seen:
                    continue
                seen.add(text)
                found.append((model.global_index, h.row))
                rows.append(
                    candidate_features(
                        q, model.global_index, h, own, self._targets.get(text, 0.0), prior=prior
                    )
                )
        if self.trace_path is not None:
            self.last_candidates = [
                {"text": i.texts[r], "interpretation": i.interpretations[r], "layer": i.layer}
                for i, r in found
            ]
        if not found:
            return Decision(None, 0.0, None, candidates=0)
        chosen, margin, prob = self._rank(model, rows, found)
        if chosen == 0:
            return Decision(None, prob, None, provenance={"margin": margin}, candidates=len(found))
        idx, row = found[chosen - 1]
        target = idx.texts[row]
        provenance = {
            "layer": idx.layer,
            "candidate": target,
            "interpretation": idx.interpretations[row],
            "support_users": int(idx.distinct_users[row]),
            "count": int(idx.counts[row]),
            # A global candidate nobody has said yet comes from the catalog (rewrite/catalog.py).
            "source": "catalog" if idx.layer == "global" and idx.distinct_users[row] == 0 else "logs",
            "margin": margin,
            "model_version": model.version,
            "rule_id": _rule_id(idx.layer, model.version, target),
        }
        return Decision(target, prob, idx.layer, provenance=provenance, candidates=len(found))

    def _rank(
        self, model: OnlineModel, rows: list[np.ndarray], found: list[tuple[CandidateIndex, int]]
    ) -> tuple[int, float, float]:
        """(chosen row, margin, probability). With a global layer that has its own ranker, the
        layers decide apart: the joint ranker may fire only a personal candidate (the user's own
        history), and otherwise the global ranker decides over the global candidates alone, as the
        global layer would without the personal one. One ranker over both layers had made the
        global layer fire less once personal candidates crowded its groups (session 7: 326 online
        fires alone against 289 with both layers, seed 0)."""
        if model.global_ranker is None or "global" not in self.layers:
            return model.ranker.decide(np.vstack(rows))
        personal = [i for i, (idx, _) in enumerate(found, 1) if idx.layer == "personal"]
        if personal:
            chosen, margin, prob = model.ranker.decide(np.vstack(rows))
            if chosen in personal:
                return chosen, margin, prob
        keep = [0] + [i for i, (idx, _) in enumerate(found, 1) if idx.layer != "personal"]
        if len(keep) < 2:
            return 0, 0.0, 0.0
        chosen, margin, prob = model.global_ranker.decide(np.vstack([rows[i] for i in keep]))
        return keep[chosen], margin, prob

    def rewrite(
        self,
        text: str,
        user_id: str,
        asr_confidence: float = 1.0,
        device_type: str | None = None,
        room: str | None = None,
        hour: int | None = None,
        timestamp: float = 0.0,
        entity_ids: frozenset[str] = frozenset(),
    ) -> Decision:
        """The service's lean path (no Turn record): precomputed table first, then the online
        layers. Same decisions as the pipeline component."""
        self._maybe_reload()
        self.precomputed._maybe_reload()
        norm = normalize_request(text)
        rule = self._table_rule(norm)
        if rule is not None:
            self.stats["precomputed"] += 1
            prov = {"rule_id": rule.rule_id, "version": self.precomputed.version}
            return Decision(rule.target, min(1.0, max(0.0, rule.probability)), "precomputed", prov)
        if not self.layers or self.model is None:
            return Decision(None, 0.0, None)
        conf, intent = self.nlu_view(text)
        q = Query(norm, user_id, asr_confidence, conf, intent, device_type, room, hour, timestamp, entity_ids)
        decision = self.decide(q)
        self.stats["gated" if decision.gated else "retrieved"] += 1
        if decision.rewritten is not None:
            self.stats["fired"] += 1
        return decision

    def __call__(self, state: TurnState) -> TurnState:
        self._maybe_reload()
        turn = state.turn
        # A counterfactual replay is decided again but not counted: the counters describe live
        # traffic.
        count = dict.fromkeys(self.stats, 0) if state.replay else self.stats
        count["turns"] += 1
        self.last_gated = False
        self.last_provenance = {}
        if turn.rewrite is not None or not turn.asr.text:
            return state
        if self.use_precomputed:
            state = self.precomputed(state)  # follows the table store on its own
            if self.precomputed.version != self._targets_version:
                self._index_targets()
            if turn.rewrite is not None:
                count["precomputed"] += 1
                return state
        if not self.layers or self.model is None:
            return state
        conf, intent = self.nlu_view(turn.asr.text)
        decision = self.decide(query_from_turn(turn, conf, intent))
        if not state.replay and self.trace_path is not None:
            self._trace(turn, conf, intent, decision)
        if decision.gated:
            count["gated"] += 1
            self.last_gated = True
            return state
        count["retrieved"] += 1
        if decision.rewritten is None or decision.layer is None:
            return state
        count["fired"] += 1
        self.last_provenance = {**decision.provenance, "candidates": decision.candidates}
        turn.rewrite = RewriteStage(
            original=turn.asr.text,
            rewritten=decision.rewritten,
            rule_id=str(decision.provenance["rule_id"]),
            source=f"online-{decision.layer}",
            score=min(1.0, max(0.0, decision.score)),
            table_version=self.model.version,
        )
        return state

    def _trace(self, turn: Turn, conf: float, intent: str | None, decision: Decision) -> None:
        assert self.trace_path is not None
        rec = {
            "turn_id": turn.turn_id,
            "user_id": turn.user_id,
            "text": normalize_request(turn.asr.text),
            "asr_confidence": float(turn.asr.confidence),
            "nlu_confidence": conf,
            "nlu_intent": intent,
            "gated": decision.gated,
            "fired": decision.rewritten,
            "layer": decision.layer,
            "margin": decision.provenance.get("margin"),
            "candidates": self.last_candidates,
        }
        with open(self.trace_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, default=str) + "\n")

    def config(self) -> dict[str, Any]:
        """The settings `create("rewrite.online.v1", **settings)` rebuilds this from (the gates as
        set: None means the loaded model's); the NLU, table and model are collaborators."""
        return {
            "component": getattr(self, "created_as", "rewrite.online.v1"),
            "root": str(self.store.root) if self.store else None,
            "layers": self.layers_name,
            "check_interval_s": self.check_interval_s,
            "gate_nlu": self.gate_nlu,
            "gate_asr": self.gate_asr,
            "k_dense": self.k_dense,
            "k_phonetic": self.k_phonetic,
            "precomputed": self.use_precomputed,
            "trace": str(self.trace_path) if self.trace_path is not None else None,
            "compiled": self.compiled,
            "collaborators": ["nlu", "table", "model"],
        }
