"""Nightly training of the online rewrite layers, from logs alone.

Inputs are what the nightly job already has: the flat log view and the rephrase chains with their
implicit-feedback outcomes (defective turns, chain success). From them:

* **candidates**: every non-defective request turn is a success event (what the NLU read, how it
  was understood, when, where, on which device). The global index keeps texts that succeeded for
  >= k distinct users; each user's personal index keeps that user's own successes with frequency
  and recency.
* **pairs**: a defective turn of a chain that later succeeded -> the chain's successful text.
  They fine-tune the bi-encoder (in-batch negatives) and are the ranker's positive groups.
* **labels** come from implicit feedback only: in a positive group the candidate that reads like the
  chain's eventual success (same text or same interpretation) is relevant and "no rewrite" is not;
  for requests that succeeded at once, "no rewrite" is relevant. No truth table is read.

* **retry feedback**: a text usually followed by another request of the same session (the user
  tried again) did not really work, whatever its turn's flag says: it is left out of the global
  index. A (request, online rewrite) pair that users kept retrying after is published as
  suppressed (manifest ``suppressed``) and the runtime no longer proposes it for that request.

The ranker is trained on the distribution it will see at run time: only requests that pass the
gate, and, for personal candidates, only the user's history *before* the request.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selflearn.feedback.late import apply_late_feedback, late_feedback
from selflearn.rewrite.catalog import CatalogEntry, interpret_catalog, read_catalog, with_catalog
from selflearn.rewrite.friction import CrowdFriction
from selflearn.rewrite.guard import ProtectedGuard
from selflearn.rewrite.online import OnlineStore, parse_layers
from selflearn.rewrite.ranking import (
    FEATURES,
    Query,
    RewriteRanker,
    candidate_features,
    none_features,
    unknown_share,
    unknown_words,
)
from selflearn.rewrite.retrieval import BiEncoder, CandidateIndex, context_keys, phonetic_key
from selflearn.text.encoder import EMBEDDING_DIM
from selflearn.text.normalize import normalize_request
from selflearn.util.workspace import Workspace

log = logging.getLogger(__name__)

__all__ = [
    "OnlineTrainConfig",
    "OnlineTrainResult",
    "SuccessEvent",
    "TrainQuery",
    "apply_late_feedback",
    "build_index",
    "catalog_entries",
    "household_entities",
    "late_feedback",
    "mine_training_data",
    "read_configured_catalog",
    "retry_stats",
    "suppressed_rewrites",
    "train_online",
    "unreliable_texts",
]


@dataclass
class OnlineTrainConfig:
    min_users: int = 3  # k: distinct users a global candidate needs (privacy and precision)
    # The layers the runtime will use: the ranker trains on exactly the candidates they propose.
    layers: str = "global+personal"
    fine_tune_steps: int = 100  # 0: keep the shipped encoder
    fine_tune_layers: int | None = 2  # top transformer layers adapted (None: all weights)
    batch_size: int = 32
    # The runtime gate (the component reads it from the manifest unless told otherwise). 0.95 lets
    # the ranker see the confidently misread requests too; precision comes from the ranker.
    gate_nlu: float = 0.95
    gate_asr: float = 0.85
    # ... but a confident request holding a word no successful request of the enabled layers holds
    # (a misheard "kitten", a private name) goes to the ranker all the same.
    gate_unknown: bool = True
    # ... and so may a request at least k people said and mostly had to say again in the same
    # session (rewrite/friction.py; judged like `retry_share_max` over `retry_min_count` turns).
    # Off by default: on the SLURP bed (4 seeds) it fixed the recurring confident misreads it was
    # meant for (one seed 12.8% -> 16.1% global gain) but the ranker trained with those requests
    # fired more on unsure ones, and the mean gain moved 10.7% -> 11.1% with more losses.
    gate_friction: bool = False
    negatives_per_positive: float = 4.0  # more negatives: a steadier estimate of losses
    max_queries: int = 6000
    k_dense: int = 8
    k_phonetic: int = 4
    # Out-of-fold wins / (wins + losses) floor for the firing threshold, within which it maximises
    # net wins. The out-of-fold estimate of losses is rough (negatives are single-turn successes);
    # 0.85 kept live win/loss well above 10 on both test beds where 0.75-0.78 did not.
    target_precision: float = 0.85
    loss_cost: float = 1.0  # a loss (a fine request broken) counts this many wins in the net
    heldout_fraction: float = 0.2  # users whose pairs only evaluate the encoder
    # Log feedback on candidates: a text that is usually followed by another request of the same
    # session (the user tried again) did not really work, whatever its turn's defective flag says
    # (on SLURP such texts were a quarter of the global candidates and almost never truly right).
    # Global candidates whose smoothed share of followed occurrences exceeds this are left out, and
    # so are ranker positives that point at them. None: keep every candidate.
    retry_share_max: float | None = 0.65
    # What counts as "followed": "session" (any later request of the session) or "chain" (a later
    # request of the turn's own rephrase chain, as the rephrase detector linked them).
    retry_signal: str = "session"
    retry_min_count: int = 4  # occurrences a text needs before its retry share is trusted
    retry_filter_positives: bool = True  # also drop ranker positives whose target is unreliable
    # Log feedback on the learner's own online rewrites: a (request, rewrite) pair that fired at
    # least this many times followed by another request, at this share or more, is suppressed.
    suppress_min_retried: int = 2
    suppress_share: float = 0.6
    # Known-good phrasings (rewrite/catalog.py: the assistant's NLU training requests) that join
    # the global index as candidates without users; None: logged successes only. `catalog_nlu` is
    # the NLU directory that reads them (default: the workspace's artifacts/models/nlu).
    catalog: str | None = None
    catalog_nlu: str | None = None
    # At most this many catalog texts (the first ones): every candidate costs a phonetic match
    # per request on the serving path.
    catalog_max: int = 20000
    seed: int = 0
    keep_versions: int = 2
    publish: bool = True
    # Compile the published rankers to native code (lleaves) ahead of serving, so a service on a
    # machine like this one loads them in milliseconds instead of compiling for seconds per booster
    # (`RewriteRanker.compile`). Off for in-process simulations, which score with LightGBM.
    compile_rankers: bool = False
    threads: int = 1


Pair = tuple[str, str, str, float]  # (user, failing text, successful rephrase, time of the failure)


@dataclass(frozen=True, slots=True)
class SuccessEvent:
    user_id: str
    text: str
    interpretation: str | None
    intent: str | None
    nlu_confidence: float
    timestamp: float
    context: tuple[str, ...]
    # Who vouches for the event: the authenticated household (or device) that sent the turn, else
    # the user. A crowd is counted in principals, since user ids are free strings one client can
    # mint at will.
    principal: str = ""


@dataclass
class TrainQuery:
    """One training request: the query as the runtime saw it, and what implicit feedback says."""

    query: Query
    target_text: str | None  # the chain's eventual success (positives), None for negatives
    target_interpretation: str | None
    own_interpretation: str | None  # negatives: how the request itself was understood
    weight: float = 1.0  # how many real requests it stands for (negatives are subsampled)


@dataclass
class OnlineTrainResult:
    version: str | None
    global_candidates: int
    personal_users: int
    personal_candidates: int
    pairs: int
    positives: int
    negatives: int
    groups: int
    gate_recall: float  # share of positive requests the gate lets through
    encoder: dict[str, float] = field(default_factory=dict)
    ranker: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    late_feedback: int = 0  # turns whose defective flag came from serve/feedback.jsonl
    unreliable_texts: int = 0  # texts left out of the global index: usually followed by a retry
    suppressed_rewrites: int = 0  # (request, rewrite) pairs of this layer that users kept retrying
    friction_requests: int = 0  # confident requests k people had to say again: past the gate
    catalog_candidates: int = 0  # catalog phrasings added to the global index
    catalog_rejected: list[str] = field(default_factory=list)  # unusable catalog lines, and why
    # successful texts kept out of both layers: they read (or the log claims them) as protected
    protected_texts: int = 0
    # Seconds per phase (mine, fine_tune, embed, index, groups, rank, publish): where a night goes.
    timings: dict[str, float] = field(default_factory=dict)


def household_entities(logs_dir: Path) -> dict[str, frozenset[str]]:
    """Entity ids seen in each household's device-state snapshots (the nested log's context)."""
    from selflearn.logs.io import list_log_files

    found: dict[str, set[str]] = defaultdict(set)
    for f in list_log_files(logs_dir):
        if f.suffix != ".parquet":
            continue
        t = pq.read_table(f, columns=["household_id", "context"])
        states = pc.struct_field(t.column("context"), "device_states")
        for hh, ds in zip(t.column("household_id").to_pylist(), states.to_pylist(), strict=True):
            if hh is not None and ds:
                found[hh].update(d["entity_id"] for d in ds)
    return {k: frozenset(v) for k, v in found.items()}


def _hour(ts: float) -> int:
    return int((ts // 3600) % 24)


def mine_training_data(
    flat: pa.Table,
    chains: pa.Table,
    cfg: OnlineTrainConfig,
    entities: dict[str, frozenset[str]] | None = None,
    catalog_texts: Sequence[str] = (),
    friction: CrowdFriction | None = None,
) -> tuple[list[SuccessEvent], list[TrainQuery], list[Pair]]:
    """(success events, training queries, pairs (user, failing text, successful text, time)).

    Each query's `unknown_words` is measured against what the runtime would have known then: the
    words of requests k users succeeded with (and of the catalog), and the user's own earlier
    successes, so the gate decides in training as it will at run time."""
    cols = [
        "turn_id",
        "user_id",
        "household_id",
        "device_type",
        "room",
        "timestamp",
        "asr_text",
        "asr_confidence",
        "nlu_text",
        "nlu_intent",
        "nlu_confidence",
        "nlu_interpretation",
        "rewrite_source",
    ]
    missing = [c for c in cols if c not in flat.column_names]
    if missing:
        raise ValueError(f"flat log lacks columns {missing}")
    f = flat.select(cols)
    ts_col = pc.divide(pc.cast(pc.cast(f.column("timestamp"), pa.timestamp("us", tz="UTC")), pa.int64()), 1e6)
    f = f.set_column(f.schema.get_field_index("timestamp"), "timestamp", ts_col)
    rows = {r["turn_id"]: r for r in f.to_pylist()}
    entities = entities or {}
    events: list[SuccessEvent] = []
    positives: list[TrainQuery] = []
    negatives: list[TrainQuery] = []
    pairs: list[Pair] = []

    def query_of(r: dict[str, Any]) -> Query:
        return Query(
            text=normalize_request(r["asr_text"] or ""),
            user_id=r["user_id"],
            asr_confidence=min(1.0, max(0.0, float(r["asr_confidence"] or 0.0))),
            nlu_confidence=min(1.0, max(0.0, float(r["nlu_confidence"] or 0.0))),
            nlu_intent=r["nlu_intent"],
            device_type=r["device_type"],
            room=r["room"],
            hour=_hour(r["timestamp"]),
            timestamp=float(r["timestamp"]),
            entity_ids=entities.get(r["household_id"] or "", frozenset()),
        )

    for ch in chains.select(["turn_ids", "defective", "outcome"]).to_pylist():
        ids, defective = ch["turn_ids"], ch["defective"]
        turn_rows = [rows.get(t) for t in ids]
        for r, d in zip(turn_rows, defective, strict=True):
            if r is not None and not d and r["nlu_text"]:
                events.append(
                    SuccessEvent(
                        user_id=r["user_id"],
                        text=r["nlu_text"],
                        interpretation=r["nlu_interpretation"],
                        intent=r["nlu_intent"],
                        nlu_confidence=float(r["nlu_confidence"] or 0.0),
                        timestamp=float(r["timestamp"]),
                        context=tuple(context_keys(r["device_type"], r["room"], _hour(r["timestamp"]))),
                        principal=r["household_id"] or r["user_id"],
                    )
                )
        last = turn_rows[-1]
        if ch["outcome"] == "success" and len(ids) >= 2 and last is not None and last["nlu_text"]:
            for r, d in zip(turn_rows[:-1], defective[:-1], strict=True):
                if r is None or not d or r["rewrite_source"] is not None or not r["asr_text"]:
                    continue
                q = query_of(r)
                if q.text == last["nlu_text"]:
                    continue  # saying it again worked: nothing to rewrite
                pairs.append((r["user_id"], q.text, last["nlu_text"], q.timestamp))
                positives.append(TrainQuery(q, last["nlu_text"], last["nlu_interpretation"], None))
        elif len(ids) == 1 and not defective[0] and turn_rows[0] is not None:
            r = turn_rows[0]
            if r["rewrite_source"] is None and r["asr_text"]:
                negatives.append(TrainQuery(query_of(r), None, None, r["nlu_interpretation"]))
    vocab = VocabAsOf(events, cfg, catalog_texts)
    positives = [vocab.mark(tq) for tq in positives]
    negatives = [vocab.mark(tq) for tq in negatives]
    rng = np.random.default_rng(cfg.seed)
    n_neg = int(cfg.negatives_per_positive * max(len(positives), 10))
    known = known_sources(pairs)
    gated_neg = [n for n in negatives if _passes(n.query, cfg, known, friction)]
    if len(gated_neg) > n_neg:
        weight = len(gated_neg) / n_neg
        gated_neg = [gated_neg[i] for i in sorted(rng.choice(len(gated_neg), n_neg, replace=False))]
        for tq in gated_neg:
            tq.weight = weight
    return events, positives + gated_neg, pairs


class SessionTurn(NamedTuple):
    """A request turn of the chains, and whether another request came after it."""

    turn_id: str
    asr: str | None
    nlu: str | None
    rule: str | None
    followed: bool
    user_id: str
    timestamp: float  # epoch seconds


def _epoch(ts: Any) -> float:
    if isinstance(ts, datetime):
        return (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp()
    return float(ts)


def _session_turns(chains: pa.Table, signal: str = "session") -> list[SessionTurn]:
    """Every request turn of the chains, where `followed` says another request came after it:
    with `signal` "session", any later request of the same session; with "chain", a later request
    of its own rephrase chain (a detected retry of the same goal, so a session's next, unrelated
    goal does not count)."""
    if chains.num_rows == 0:
        return []
    if signal not in RETRY_SIGNALS:
        raise ValueError(f"retry signal {signal!r}; use one of {', '.join(RETRY_SIGNALS)}")
    cols = ["user_id", "session_id", "turn_ids", "timestamps", "asr_texts", "nlu_texts", "rule_ids"]
    if signal == "chain":
        out_c = []
        for ch in chains.select(cols).to_pylist():
            n = len(ch["turn_ids"])
            cols_c = (ch["turn_ids"], ch["timestamps"], ch["asr_texts"], ch["nlu_texts"], ch["rule_ids"])
            for i, (tid, ts, asr, nlu, rule) in enumerate(zip(*cols_c, strict=True)):
                out_c.append(SessionTurn(tid, asr, nlu, rule, i < n - 1, ch["user_id"], _epoch(ts)))
        return out_c
    Row = tuple[float, str, str | None, str | None, str | None, str]
    by_session: dict[str, list[Row]] = defaultdict(list)
    for ch in chains.select(cols).to_pylist():
        for tid, ts, asr, nlu, rule in zip(
            ch["turn_ids"], ch["timestamps"], ch["asr_texts"], ch["nlu_texts"], ch["rule_ids"], strict=True
        ):
            by_session[ch["session_id"]].append((_epoch(ts), tid, asr, nlu, rule, ch["user_id"]))
    out = []
    for turns in by_session.values():
        turns.sort(key=lambda t: (t[0], t[1]))
        for i, (ts, tid, asr, nlu, rule, user) in enumerate(turns):
            out.append(SessionTurn(tid, asr, nlu, rule, i < len(turns) - 1, user, ts))
    return out


def retry_stats(chains: pa.Table, signal: str = "session") -> dict[str, tuple[int, int]]:
    """Per text the NLU read: (occurrences, occurrences followed by another request; see
    `_session_turns` for `signal`)."""
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for turn in _session_turns(chains, signal):
        nlu, followed = turn.nlu, turn.followed
        if nlu:
            s = stats[nlu]
            s[0] += 1
            s[1] += int(followed)
    return {t: (n, f) for t, (n, f) in stats.items()}


def unreliable_texts(stats: Mapping[str, tuple[int, int]], cfg: OnlineTrainConfig) -> set[str]:
    """Texts usually followed by another request (smoothed share > cfg.retry_share_max)."""
    if cfg.retry_share_max is None:
        return set()
    return {
        t
        for t, (n, f) in stats.items()
        if n >= cfg.retry_min_count and (f + 0.5) / (n + 1.0) > cfg.retry_share_max
    }


def crowd_friction(chains: pa.Table, cfg: OnlineTrainConfig) -> CrowdFriction | None:
    """The requests people had to try again after (turns no rewrite touched), or None when the
    gate does not use them (`gate_friction` off, or no retry share configured)."""
    if not cfg.gate_friction or cfg.retry_share_max is None:
        return None
    turns = (
        (t.asr, t.user_id, t.timestamp, t.followed)
        for t in _session_turns(chains, cfg.retry_signal)
        if t.asr and t.rule is None
    )
    return CrowdFriction(cfg.min_users, cfg.retry_min_count, cfg.retry_share_max).fit(turns)


def suppressed_rewrites(chains: pa.Table, cfg: OnlineTrainConfig) -> dict[str, list[str]]:
    """The learner's own online rewrites that users kept retrying after: original -> targets."""
    hist: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for turn in _session_turns(chains, cfg.retry_signal):
        asr, nlu, rule, followed = turn.asr, turn.nlu, turn.rule, turn.followed
        # Only the global layer's rewrites: the manifest is shared by every user, and a personal
        # rewrite's target is one user's own text, which must not leave that user's data.
        if rule and rule.startswith("online:global:") and asr and nlu and asr != nlu:
            h = hist[(asr, nlu)]
            h[0] += 1
            h[1] += int(followed)
    out: dict[str, list[str]] = defaultdict(list)
    for (src, tgt), (n, f) in sorted(hist.items()):
        if f >= cfg.suppress_min_retried and f / n >= cfg.suppress_share:
            out[src].append(tgt)
    return dict(out)


def suppressed_by(
    chains: pa.Table, cfg: OnlineTrainConfig, suppressed: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """Each suppressed request -> the people whose retries after its rewrite were counted. A request
    text is its speakers' data: the manifest keeps who they were so that deleting a person takes a
    request only they said out of every published version (`OnlineStore.delete_user`)."""
    users: dict[str, set[str]] = defaultdict(set)
    for turn in _session_turns(chains, cfg.retry_signal):
        src, rule = turn.asr, turn.rule
        if src is None or src not in suppressed or not rule or not rule.startswith("online:global:"):
            continue
        if turn.nlu in suppressed[src]:
            users[src].add(turn.user_id)
    return {src: sorted(users.get(src, ())) for src in sorted(suppressed)}


RETRY_SIGNALS: tuple[str, ...] = ("session", "chain")


class VocabAsOf:
    """The words the runtime's indexes held at a request's time: the global layer's (texts at
    least k users succeeded with, and the catalog) and the user's own earlier successes."""

    def __init__(self, events: Sequence[SuccessEvent], cfg: OnlineTrainConfig, catalog: Sequence[str] = ()):
        layers = parse_layers(cfg.layers)
        self.use_personal = "personal" in layers
        words: set[str] = set()
        if "global" in layers:
            for text, agg in _aggregate(events).items():
                if len(agg["users"]) >= cfg.min_users:
                    words.update(text.split())
            for text in catalog:
                words.update(text.split())
        self.global_words = frozenset(words)
        self.by_user: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for e in events:
            self.by_user[e.user_id].append((e.timestamp, e.text))
        for evs in self.by_user.values():
            evs.sort()

    def unknown(self, q: Query) -> float:
        vocabs: list[set[str] | frozenset[str]] = [self.global_words]
        if self.use_personal:
            earlier = (text for t, text in self.by_user.get(q.user_id, ()) if t < q.timestamp)
            vocabs.append({w for text in earlier for w in text.split()})
        return unknown_share(q.text, vocabs)

    def mark(self, tq: TrainQuery) -> TrainQuery:
        return replace(tq, query=replace(tq.query, unknown_words=self.unknown(tq.query)))


def _passes(
    q: Query,
    cfg: OnlineTrainConfig,
    known: Mapping[str, Mapping[str, float]] | None = None,
    friction: CrowdFriction | None = None,
) -> bool:
    """The runtime gate: retrieval runs unless both recogniser and NLU are confident, or the
    request holds a word nobody succeeded with (`gate_unknown`), or k people had had to say this
    very request again before (`gate_friction`), or (personal layer on) the user had rephrased it
    (or one sounding the same) before."""
    if not (q.nlu_confidence >= cfg.gate_nlu and q.asr_confidence >= cfg.gate_asr):
        return True
    if cfg.gate_unknown and q.unknown_words > 0:
        return True
    if cfg.gate_friction and friction is not None and friction.unreliable(q.text, before=q.timestamp):
        return True
    if known is None or "personal" not in parse_layers(cfg.layers):
        return False
    mine = known.get(q.user_id)
    if not mine:
        return False
    for key in (q.text, "~" + phonetic_key(q.text)):
        t = mine.get(key)
        if t is not None and t < q.timestamp:
            return True
    return False


def known_sources(pairs: Iterable[Pair]) -> dict[str, dict[str, float]]:
    """Per user, each failing text they rephrased (and its phonetic key) -> the first time."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for user, src, _tgt, t in pairs:
        mine = out[user]
        for key in (src, "~" + phonetic_key(src)):
            if key not in mine or t < mine[key]:
                mine[key] = t
    return dict(out)


def _aggregate(events: Iterable[SuccessEvent]) -> dict[str, dict[str, Any]]:
    by: dict[str, dict[str, Any]] = {}
    for e in events:
        a = by.get(e.text)
        if a is None:
            a = by[e.text] = {
                "users": set(),
                "principals": set(),
                "interp": Counter(),
                "intent": Counter(),
                "conf": [],
                "count": 0,
                "last": 0.0,
                "ctx": Counter(),
            }
        a["users"].add(e.user_id)
        a["principals"].add(e.principal or e.user_id)
        a["interp"][e.interpretation] += 1
        a["intent"][e.intent] += 1
        a["conf"].append(e.nlu_confidence)
        a["count"] += 1
        a["last"] = max(a["last"], e.timestamp)
        a["ctx"].update(e.context)
    return by


def build_index(
    layer: str,
    events: Iterable[SuccessEvent],
    vectors: dict[str, np.ndarray],
    min_users: int = 1,
    sources: Iterable[tuple[str, str]] = (),
) -> CandidateIndex:
    """A layer's index from success events (texts at least `min_users` distinct principals
    succeeded with); `vectors` maps each text to its embedding; `sources`
    (personal layer only: the owner's own (failing text, successful text) pairs) are attached to
    their successful text."""
    agg = {t: a for t, a in _aggregate(events).items() if len(a["principals"]) >= min_users}
    texts = sorted(agg)
    by_target: dict[str, set[str]] = defaultdict(set)
    for src, tgt in sources:
        if tgt in agg:
            by_target[tgt].add(src)
    from selflearn.text.encoder import EMBEDDING_DIM

    emb = np.vstack([vectors[t] for t in texts]) if texts else np.zeros((0, EMBEDDING_DIM), np.float32)
    return CandidateIndex(
        layer=layer,
        texts=texts,
        embeddings=emb,
        interpretations=[agg[t]["interp"].most_common(1)[0][0] for t in texts],
        intents=[agg[t]["intent"].most_common(1)[0][0] for t in texts],
        nlu_confidence=np.array([float(np.mean(agg[t]["conf"])) for t in texts]),
        counts=np.array([agg[t]["count"] for t in texts], dtype=np.float64),
        distinct_users=np.array([len(agg[t]["users"]) for t in texts], dtype=np.float64),
        last_seen=np.array([agg[t]["last"] for t in texts], dtype=np.float64),
        contexts=[dict(agg[t]["ctx"]) for t in texts],
        users=[sorted(agg[t]["users"]) for t in texts],
        sources=[sorted(by_target.get(t, ())) for t in texts],
    )


def read_configured_catalog(cfg: OnlineTrainConfig) -> tuple[list[str], list[str]]:
    """(the catalog's texts, capped at `catalog_max`; its unusable lines, each with the reason)."""
    if not cfg.catalog:
        return [], []
    errors: list[str] = []
    texts = read_catalog(cfg.catalog, errors=errors)
    if errors:
        log.warning("online catalog %s: %d unusable lines, e.g. %s", cfg.catalog, len(errors), errors[0])
    if len(texts) > cfg.catalog_max:
        log.warning(
            "online catalog %s: %d texts, using the first %d", cfg.catalog, len(texts), cfg.catalog_max
        )
        texts = texts[: cfg.catalog_max]
    return texts, errors


def catalog_entries(workspace: Path, cfg: OnlineTrainConfig, texts: Sequence[str]) -> list[CatalogEntry]:
    """The catalog's `texts` as the workspace's (or `cfg.catalog_nlu`'s) NLU reads them."""
    from selflearn.assistant.nlu.load import load_nlu

    assert cfg.catalog is not None
    nlu_dir = Path(cfg.catalog_nlu) if cfg.catalog_nlu else Workspace(workspace).model_dir("nlu")
    if nlu_dir is None or not nlu_dir.is_dir():
        where = nlu_dir or Workspace(workspace).store("nlu").dir
        raise FileNotFoundError(f"online catalog: no NLU model at {where} to read {cfg.catalog} with")
    return interpret_catalog(texts, load_nlu(nlu_dir))


def _heldout(user_id: str, fraction: float) -> bool:
    h = int(hashlib.blake2b(user_id.encode(), digest_size=4).hexdigest(), 16)
    return (h % 1000) < fraction * 1000


#: Runs an encoder over texts, wherever (`jobs.engine.Engine.embed`): (len(texts), 384) vectors.
Embed = Callable[[BiEncoder, Sequence[str]], np.ndarray]


class Encodes(Protocol):
    """Anything that embeds texts as unit vectors, (len(texts), 384)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def retrieval_recall(
    encoder: Encodes,
    pairs: Sequence[tuple[str, str]],
    universe: Sequence[str],
    k: int = 8,
    universe_vectors: np.ndarray | None = None,
) -> float:
    """Share of (failing, successful) pairs whose successful text is in the dense top-k of the
    failing one among `universe` (all successful texts). `universe_vectors`: the universe already
    embedded by `encoder` (the nightly job embeds it for its indexes anyway)."""
    if not pairs or not universe:
        return float("nan")
    u = list(universe)
    pos = {t: i for i, t in enumerate(u)}
    emb = encoder.encode(u) if universe_vectors is None else universe_vectors
    q = encoder.encode([a for a, _ in pairs])
    sims = q @ emb.T
    top = np.argsort(-sims, axis=1)[:, :k]
    hits = [pos.get(b, -1) in set(row.tolist()) for (_, b), row in zip(pairs, top, strict=True)]
    return float(np.mean(hits))


class _ShippedVectors:
    """Embeddings by the shipped (never fine-tuned) encoder, kept across nights in one process:
    they never change, and the nightly figure of the un-tuned encoder's recall would otherwise
    re-embed every successful request each night. Bounded: past `max_texts` it starts over."""

    def __init__(self, max_texts: int = 100_000) -> None:
        self.max_texts = max_texts
        self._vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted(set(texts) - self._vectors.keys())
        if missing:
            if len(self._vectors) + len(missing) > self.max_texts:
                self._vectors.clear()
            self._vectors.update(zip(missing, _shipped_encoder().encode(missing), strict=True))
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return np.vstack([self._vectors[t] for t in texts])


_SHIPPED_VECTORS = _ShippedVectors()


def _shipped_encoder() -> BiEncoder:
    enc = _SHIPPED_ENCODER.get("encoder")
    if enc is None:
        enc = _SHIPPED_ENCODER["encoder"] = BiEncoder.load(None)
    return enc


_SHIPPED_ENCODER: dict[str, BiEncoder] = {}


def _groups(
    queries: Sequence[TrainQuery],
    events: Sequence[SuccessEvent],
    pairs: Sequence[Pair],
    global_index: CandidateIndex,
    vectors: dict[str, np.ndarray],
    encoder: BiEncoder,
    targets: dict[str, float],
    cfg: OnlineTrainConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Feature rows, relevance labels and group sizes (row 0 of each group: "no rewrite")."""
    by_user: dict[str, list[SuccessEvent]] = defaultdict(list)
    for e in events:
        by_user[e.user_id].append(e)
    for evs in by_user.values():
        evs.sort(key=lambda e: e.timestamp)
    pairs_by_user: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        pairs_by_user[p[0]].append(p)
    missing = sorted({q.query.text for q in queries} - set(vectors))
    known = dict(zip(missing, encoder.encode(missing), strict=True))
    qvecs = [vectors[q.query.text] if q.query.text in vectors else known[q.query.text] for q in queries]
    xs: list[np.ndarray] = []
    ys: list[int] = []
    sizes: list[int] = []
    ws: list[float] = []
    with_target = 0
    use_personal = "personal" in parse_layers(cfg.layers)
    use_global = "global" in parse_layers(cfg.layers)
    # A user's personal index as of a query's time changes only when they had a new success or
    # a new pair since their previous query: cache it on (user, #events, #pairs) before that time.
    cache: dict[tuple[str, int, int], CandidateIndex] = {}
    prior = global_index.prior()
    for tq, vec in zip(queries, qvecs, strict=True):
        q = tq.query
        personal = None
        if use_personal:
            evs = by_user.get(q.user_id, [])
            n_ev = bisect.bisect_left([e.timestamp for e in evs], q.timestamp)
            mine = pairs_by_user.get(q.user_id, [])
            own_pairs = [(a, b) for _, a, b, t in mine if t < q.timestamp]
            key = (q.user_id, n_ev, len(own_pairs))
            if n_ev and key not in cache:
                cache[key] = build_index("personal", evs[:n_ev], vectors, sources=own_pairs)
            personal = cache.get(key)
        q = replace(
            q,
            unknown_words=unknown_words(q.text, [personal, global_index if use_global else None]),
            lm_score=prior.score(q.text),
        )
        rows = [none_features(q)]
        labels: list[int] = []
        seen = {q.text}
        for idx in (personal, global_index if use_global else None):
            if idx is None:
                continue
            for h in idx.search(vec, q.text, cfg.k_dense, cfg.k_phonetic):
                text = idx.texts[h.row]
                if text in seen:
                    continue
                seen.add(text)
                rows.append(
                    candidate_features(
                        q, idx, h, personal, targets.get(text, 0.0), prior=prior, crowd=global_index
                    )
                )
                interp = idx.interpretations[h.row]
                if tq.target_text is not None:
                    good = text == tq.target_text or (
                        interp is not None and interp == tq.target_interpretation
                    )
                    labels.append(2 if good else 0)
                else:
                    same = interp is not None and interp == tq.own_interpretation
                    labels.append(1 if same else 0)
        if len(rows) < 2:
            continue
        if tq.target_text is not None:
            has = 2 in labels
            with_target += int(has)
            none_label = 0 if has else 1
        else:
            none_label = 2
        xs.extend(rows)
        ys.extend([none_label, *labels])
        sizes.append(len(rows))
        ws.append(tq.weight)
    if not xs:
        return np.zeros((0, len(FEATURES))), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 0
    return np.vstack(xs), np.asarray(ys, np.int64), np.asarray(sizes, np.int64), np.asarray(ws), with_target


def without_personal(
    x: np.ndarray, y: np.ndarray, sizes: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The same requests' groups with the personal candidates left out: what the global layer
    ranks on its own. A request whose reached rewrite was only personal keeps its "no rewrite"
    row as harmless (label 1), as a request with no target among the candidates does in
    `_groups`; groups left with "no rewrite" alone are dropped."""
    col = FEATURES.index("is_personal")
    xs, ys, out_sizes, out_w = [], [], [], []
    start = 0
    for n, w in zip(sizes, weights, strict=True):
        gx, gy = x[start : start + n], y[start : start + n]
        start += n
        keep = np.r_[True, gx[1:, col] != 1.0]
        if keep.sum() < 2:
            continue
        gy = gy[keep].copy()
        if gy[0] != 2:  # a request that needed a rewrite: is its target still among the rows?
            gy[0] = 0 if (gy[1:] == 2).any() else 1
        xs.append(gx[keep])
        ys.append(gy)
        out_sizes.append(int(keep.sum()))
        out_w.append(w)
    if not xs:
        return np.zeros((0, x.shape[1])), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.vstack(xs), np.concatenate(ys), np.asarray(out_sizes, np.int64), np.asarray(out_w)


def _fit_ranker(
    cfg: OnlineTrainConfig, x: np.ndarray, y: np.ndarray, sizes: np.ndarray, weights: np.ndarray
) -> RewriteRanker:
    ranker = RewriteRanker(
        target_precision=cfg.target_precision, loss_cost=cfg.loss_cost, seed=cfg.seed, n_jobs=cfg.threads
    )
    if len(sizes) >= 2 and len(set(y.tolist())) > 1:
        return ranker.fit(x, y, sizes, weights)
    # too little data: a ranker that never fires
    dummy = np.vstack([none_features(Query("a", "u")), np.zeros(len(FEATURES))] * 2)
    ranker.fit(dummy, np.array([1, 0, 0, 1]), np.array([2, 2]))
    ranker.threshold_ = float("inf")
    ranker.layer_thresholds_ = {}
    return ranker


class _PhaseClock:
    """Seconds spent in each named phase, in order (a night's cost, phase by phase)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 3)
        self._last = now


def train_online(
    workspace: Path,
    chains: pa.Table,
    cfg: OnlineTrainConfig | None = None,
    flat: pa.Table | None = None,
    previous_table: Any = None,
    guard: ProtectedGuard | None = None,
    embed: Embed | None = None,
) -> OnlineTrainResult:
    """Mine, fine-tune, index, rank, and publish the online layers for `workspace`.

    `flat` defaults to the workspace's logs; `previous_table` (a RewriteTable) supplies the
    precomputed probabilities of known targets. `guard` keeps every text that reads as a
    protected intent (re-read by the deployment's understanding, or claimed so by the log) out of
    both layers' candidates: retrieval never learns to rewrite a request into one. `embed` runs
    the encoder over the night's texts (`jobs` passes its engine's, which Spark distributes);
    None: in this process."""
    from selflearn.logs.io import read_flat

    def embedded(encoder: BiEncoder, texts: Sequence[str]) -> np.ndarray:
        return encoder.encode(texts)

    run_encoder: Embed = embed if embed is not None else embedded

    cfg = cfg or OnlineTrainConfig()
    t0 = time.perf_counter()
    clock = _PhaseClock()
    workspace = Path(workspace)
    logs = workspace / "logs"
    flat = flat if flat is not None else read_flat(logs)
    entities = household_entities(logs) if logs.exists() else {}
    late = late_feedback(workspace, flat)
    chains = apply_late_feedback(chains, late)
    catalog_texts, catalog_rejected = read_configured_catalog(cfg)
    friction = crowd_friction(chains, cfg)
    events, queries, pairs = mine_training_data(flat, chains, cfg, entities, catalog_texts, friction)
    protected: set[str] = set()
    if guard is not None and guard.protected:
        protected = {e.text for e in events if e.intent in guard.protected}
        protected |= guard.protected_texts(sorted({e.text for e in events} - protected))
        events = [e for e in events if e.text not in protected]
    unreliable = unreliable_texts(retry_stats(chains, cfg.retry_signal), cfg)
    suppressed = suppressed_rewrites(chains, cfg)
    if unreliable and cfg.retry_filter_positives:
        queries = [tq for tq in queries if tq.target_text not in unreliable]
    if len(queries) > cfg.max_queries:
        rng = np.random.default_rng(cfg.seed + 1)
        queries = [queries[i] for i in sorted(rng.choice(len(queries), cfg.max_queries, replace=False))]
    n_pos_all = sum(1 for tq in queries if tq.target_text is not None)
    known = known_sources(pairs)
    gated = [tq for tq in queries if _passes(tq.query, cfg, known, friction)]
    gate_recall = (sum(1 for tq in gated if tq.target_text is not None) / n_pos_all) if n_pos_all else 0.0
    clock.lap("mine")

    # Encoder: fine-tune on pairs of the training users, measure retrieval on held-out users' pairs.
    encoder = BiEncoder.load(None)
    universe = sorted({e.text for e in events})
    train_pairs = [(a, b) for u, a, b, _ in pairs if not _heldout(u, cfg.heldout_fraction)]
    test_pairs = [(a, b) for u, a, b, _ in pairs if _heldout(u, cfg.heldout_fraction)][:500]
    enc_report: dict[str, float] = {
        "train_pairs": float(len(train_pairs)),
        "test_pairs": float(len(test_pairs)),
    }
    tuned = cfg.fine_tune_steps > 0 and len(train_pairs) >= 8
    if tuned:
        enc_report["recall_at_8_base"] = retrieval_recall(_SHIPPED_VECTORS, test_pairs, universe)
        enc_report.update(
            encoder.fine_tune(
                train_pairs,
                steps=cfg.fine_tune_steps,
                batch_size=cfg.batch_size,
                seed=cfg.seed,
                threads=cfg.threads,
                train_layers=cfg.fine_tune_layers,
            )
        )
    clock.lap("fine_tune")
    vecs = run_encoder(encoder, universe)
    vectors = {t: v for t, v in zip(universe, vecs, strict=True)}
    if tuned:
        tuned_recall = retrieval_recall(encoder, test_pairs, universe, universe_vectors=vecs)
        enc_report["recall_at_8_tuned"] = tuned_recall
    clock.lap("embed")
    global_index = build_index(
        "global", [e for e in events if e.text not in unreliable], vectors, min_users=cfg.min_users
    )
    n_catalog = 0
    if cfg.catalog:
        entries = [e for e in catalog_entries(workspace, cfg, catalog_texts) if e.text not in unreliable]
        if guard is not None and guard.protected:
            claims = [e.intent for e in entries]
            banned = guard.protected_texts([e.text for e in entries], claims)
            protected |= banned
            entries = [e for e in entries if e.text not in banned]
        fresh = sorted({e.text for e in entries} - set(vectors))
        if fresh:
            vectors.update(zip(fresh, run_encoder(encoder, fresh), strict=True))
        global_index, n_catalog = with_catalog(global_index, entries, vectors)
    by_user: dict[str, list[SuccessEvent]] = defaultdict(list)
    for e in events:
        by_user[e.user_id].append(e)
    pairs_by_user: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for u, a, b, _ in pairs:
        pairs_by_user[u].append((a, b))
    new_sources = sorted({a for _, a, _, _ in pairs} - set(vectors))
    vectors.update(zip(new_sources, run_encoder(encoder, new_sources), strict=True))
    personal_tables = []
    for u, evs in by_user.items():
        idx = build_index("personal", evs, vectors, sources=pairs_by_user.get(u, ()))
        idx.source_embeddings = [
            np.vstack([vectors[src] for src in srcs]) if srcs else np.zeros((0, EMBEDDING_DIM), np.float32)
            for srcs in idx.sources
        ]
        personal_tables.append(idx.to_arrow(user_id=u))

    clock.lap("index")
    targets: dict[str, float] = {}
    if previous_table is not None:
        for rule in previous_table:
            targets[rule.target] = max(targets.get(rule.target, 0.0), float(rule.probability))
    x, y, sizes, weights, with_target = _groups(
        gated, events, pairs, global_index, vectors, encoder, targets, cfg
    )
    clock.lap("groups")
    ranker = _fit_ranker(cfg, x, y, sizes, weights)
    # With both layers the global layer also gets a ranker of its own, so that it decides as it
    # would alone and the personal layer can only add (OnlineRewriter._rank).
    global_ranker = None
    if parse_layers(cfg.layers) == {"global", "personal"}:
        global_ranker = _fit_ranker(cfg, *without_personal(x, y, sizes, weights))
    clock.lap("rank")
    personal = pa.concat_tables(personal_tables) if personal_tables else None
    from selflearn.rewrite.retrieval import CANDIDATE_SCHEMA

    n_pos = sum(1 for tq in gated if tq.target_text is not None)
    result = OnlineTrainResult(
        version=None,
        global_candidates=len(global_index),
        personal_users=len(personal_tables),
        personal_candidates=personal.num_rows if personal is not None else 0,
        pairs=len(pairs),
        positives=n_pos,
        negatives=len(gated) - n_pos,
        groups=len(sizes),
        gate_recall=gate_recall,
        encoder=enc_report,
        ranker={
            **asdict(ranker.report_),
            "groups_with_target": with_target,
            **({"global_layer": asdict(global_ranker.report_)} if global_ranker is not None else {}),
        },
        late_feedback=len(late),
        unreliable_texts=len(unreliable),
        friction_requests=len(friction.published()) if friction is not None else 0,
        suppressed_rewrites=sum(len(v) for v in suppressed.values()),
        catalog_candidates=n_catalog,
        catalog_rejected=catalog_rejected,
        protected_texts=len(protected),
    )
    if cfg.publish:
        store = OnlineStore(workspace, keep=cfg.keep_versions)
        result.version = store.publish(
            global_index.to_arrow(),
            personal if personal is not None else CANDIDATE_SCHEMA.empty_table(),
            ranker,
            encoder if encoder.fine_tuned_ else None,
            {
                "min_users": cfg.min_users,
                "suppressed": suppressed,
                "suppressed_by": suppressed_by(chains, cfg, suppressed),
                "friction": friction.published() if friction is not None else {},
                "config": asdict(cfg),
                "result": {k: v for k, v in asdict(result).items() if k != "version"},
            },
            global_ranker=global_ranker,
            compile_rankers=cfg.compile_rankers,
        )
    clock.lap("publish")
    result.timings = clock.laps
    result.seconds = time.perf_counter() - t0
    return result
