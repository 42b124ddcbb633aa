from __future__ import annotations

import itertools
import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selflearn.assistant.component import Component, TurnState, Utterance
from selflearn.logs.records import AsrHypothesis, AsrStage, DeviceInfo, DeviceType, Turn
from selflearn.rewrite.online import OnlineModel, OnlineRewriter, OnlineStore, parse_layers
from selflearn.rewrite.ranking import FEATURES, RewriteRanker
from selflearn.rewrite.retrieval import BiEncoder, CandidateIndex, PersonalIndexes
from selflearn.rewrite.store import RewriteStore

from .chains import rule_row, table_of

PERSONAL_TEXT = "turn on my reading lamp"
GLOBAL_TEXT = "turn off the kitchen lights"


class AlwaysFire(RewriteRanker):
    """Fires the best-ranked candidate whatever it is: isolates retrieval and the layers' privacy."""

    def __init__(self) -> None:
        super().__init__()
        self.threshold_ = 0.0
        self.calibration_ = None

    def decide(self, x: np.ndarray) -> tuple[int, float, float]:
        if len(x) < 2:
            return 0, 0.0, 0.0
        best = 1 + int(np.argmax(x[1:, 1]))  # highest dense similarity
        return best, 1.0, 0.9


@pytest.fixture(scope="module")
def encoder() -> BiEncoder:
    return BiEncoder.load(None)


def _index(layer: str, texts: list[str], enc: BiEncoder, users: list[list[str]]) -> CandidateIndex:
    n = len(texts)
    return CandidateIndex(
        layer=layer,
        texts=texts,
        embeddings=enc.encode(texts),
        interpretations=[None] * n,
        intents=[None] * n,
        nlu_confidence=np.full(n, 0.95),
        counts=np.full(n, 3.0),
        distinct_users=np.array([float(len(u)) for u in users]),
        last_seen=np.zeros(n),
        contexts=[{} for _ in range(n)],
        users=users,
    )


@pytest.fixture(scope="module")
def model(encoder: BiEncoder) -> OnlineModel:
    glob = _index("global", [GLOBAL_TEXT], encoder, [["u3", "u4", "u5"]])
    personal = PersonalIndexes({"u1": _index("personal", [PERSONAL_TEXT], encoder, [["u1"]])})
    return OnlineModel(
        encoder=encoder, global_index=glob, personal=personal, ranker=AlwaysFire(), version="v0001"
    )


_TURN_IDS = itertools.count(1)


def state(
    text: str, user: str = "u1", asr_conf: float = 0.5, turn_id: str | None = None, replay: bool = False
) -> TurnState:
    turn = Turn(
        turn_id=turn_id or f"t{next(_TURN_IDS)}",
        session_id="s1",
        user_id=user,
        timestamp=datetime(2024, 1, 1, 8, tzinfo=UTC),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
        asr=AsrStage(engine="test", nbest=[AsrHypothesis(text=text, confidence=asr_conf)]),
    )
    return TurnState(turn=turn, utterance=Utterance(text=text), replay=replay)


def test_parse_layers() -> None:
    assert parse_layers("global+personal") == {"global", "personal"}
    assert parse_layers("off") == frozenset()
    with pytest.raises(ValueError, match="unknown online layers"):
        parse_layers("everyone")


def test_personal_rewrite_fires_for_its_owner_only(model: OnlineModel) -> None:
    rw = OnlineRewriter(model=model, layers="personal")
    assert isinstance(rw, Component) and rw.name == "rewrite"
    out = rw(state("turn on my reading lump", user="u1")).turn
    assert out.rewrite is not None and out.rewrite.rewritten == PERSONAL_TEXT
    assert out.rewrite.source == "online-personal" and out.rewrite.rule_id.startswith("online:personal:v0001")
    assert out.rewrite.table_version == "v0001"
    # Another user asking the very same thing never receives u1's request, whatever the layers.
    for layers in ("personal", "global+personal"):
        other = OnlineRewriter(model=model, layers=layers)(state("turn on my reading lump", user="u2")).turn
        assert other.rewrite is None or other.rewrite.rewritten != PERSONAL_TEXT


def test_layers_are_separable(model: OnlineModel) -> None:
    q = "turn of the kitchen lites"
    assert OnlineRewriter(model=model, layers="personal")(state(q, user="u2")).turn.rewrite is None
    glob = OnlineRewriter(model=model, layers="global")(state(q, user="u2")).turn.rewrite
    assert glob is not None and glob.rewritten == GLOBAL_TEXT and glob.source == "online-global"
    # the global layer alone never proposes a personal request, even to its owner
    only_global = OnlineRewriter(model=model, layers="global")(state("turn on my reading lump")).turn.rewrite
    assert only_global is None or only_global.rewritten != PERSONAL_TEXT
    assert OnlineRewriter(model=model, layers="off")(state(q)).turn.rewrite is None


class NeverFire(RewriteRanker):
    """Ranks like AlwaysFire but never leaves "no rewrite"."""

    def __init__(self) -> None:
        super().__init__()
        self.threshold_ = float("inf")
        self.calibration_ = None

    def decide(self, x: np.ndarray) -> tuple[int, float, float]:
        return 0, -1.0, 0.1


def test_with_both_layers_the_global_layer_decides_as_alone(model: OnlineModel) -> None:
    # the joint ranker declines everything, so the global layer's own ranker decides its candidates
    both = replace(model, ranker=NeverFire(), global_ranker=AlwaysFire())
    q = "turn of the kitchen lites"
    for user in ("u1", "u2"):  # u1 has a personal index, u2 none
        out = OnlineRewriter(model=both, layers="global+personal")(state(q, user=user)).turn.rewrite
        assert out is not None and out.rewritten == GLOBAL_TEXT and out.source == "online-global"
    # The global ranker never sees a personal candidate: u1's own request is not proposed by it.
    out = OnlineRewriter(model=both, layers="global+personal")(state("turn on my reading lump")).turn.rewrite
    assert out is None or out.rewritten != PERSONAL_TEXT
    # A personal fire of the joint ranker comes first.
    first = replace(model, global_ranker=NeverFire())
    out = OnlineRewriter(model=first, layers="global+personal")(state("turn on my reading lump")).turn.rewrite
    assert out is not None and out.rewritten == PERSONAL_TEXT and out.source == "online-personal"
    # ...but a global candidate the joint ranker picks is the global ranker's to decide.
    out = OnlineRewriter(model=first, layers="global+personal")(state(q, user="u2")).turn.rewrite
    assert out is None


def test_precomputed_table_is_consulted_first(model: OnlineModel) -> None:
    table = table_of(rule_row("turn of the kitchen lites", "switch off kitchen lights", probability=0.8))
    rw = OnlineRewriter(model=model, layers="global+personal", table=table)
    out = rw(state("turn of the kitchen lites")).turn
    assert out.rewrite is not None and out.rewrite.source == "precomputed"
    assert out.rewrite.rewritten == "switch off kitchen lights"
    assert rw.stats["precomputed"] == 1


def test_gate_skips_confident_requests(model: OnlineModel, small_nlu: Any) -> None:
    rw = OnlineRewriter(model=model, layers="global", nlu=small_nlu, gate_nlu=0.5, gate_asr=0.5)
    conf, _ = rw.nlu_view("turn off the kitchen lights")
    assert conf >= 0.5
    out = rw(state("turn off the kitchen lights", user="u2", asr_conf=0.95)).turn
    assert out.rewrite is None and rw.stats["gated"] == 1
    rw(state("turn off the kitchen lights", user="u2", asr_conf=0.2))  # the recogniser was unsure
    assert rw.stats["retrieved"] == 1


def test_to_encode_names_only_what_rewrite_will_embed_and_is_not_cached(
    model: OnlineModel, small_nlu: Any
) -> None:
    table = table_of(rule_row("turn of the kitchen lites", "switch off kitchen lights", probability=0.8))
    rw = OnlineRewriter(model=model, layers="global", nlu=small_nlu, table=table, gate_nlu=0.5, gate_asr=0.5)
    assert rw.to_encode("turn of the kitchen lites", "u2", 0.2) is None  # the table answers it
    assert rw.to_encode("turn off the kitchen lights", "u2", 0.95) is None  # the gate stops it
    text = rw.to_encode("Turn off the  kitchen light bulbs", "u2", 0.2)
    assert text == "turn off the kitchen light bulbs"  # normalised, as `rewrite` embeds it
    alone = rw.rewrite("Turn off the  kitchen light bulbs", "u2", 0.2)
    model.encoder.clear_cache()
    misses = model.encoder.misses_
    model.encoder.prefetch(text)
    assert rw.to_encode("Turn off the  kitchen light bulbs", "u2", 0.2) is None
    prefetched = rw.rewrite("Turn off the  kitchen light bulbs", "u2", 0.2)
    assert model.encoder.misses_ == misses  # the request found its embedding ready
    assert (prefetched.rewritten, prefetched.layer) == (alone.rewritten, alone.layer)


def _fitted_ranker() -> RewriteRanker:
    ranker = RewriteRanker(n_estimators=5)
    x = np.zeros((4, len(FEATURES)))
    x[[0, 2], 0] = 1.0
    ranker.fit(x, np.array([2, 0, 2, 0]), np.array([2, 2]))
    return ranker


def _publish(root: Path, model: OnlineModel, compile_rankers: bool = False) -> str:
    store = OnlineStore(root)
    return store.publish(
        model.global_index.to_arrow(),
        model.personal.to_arrow(),
        _fitted_ranker(),
        None,
        {"min_users": 3},
        compile_rankers=compile_rankers,
    )


def test_a_serving_rewriter_scores_with_compiled_rankers(tmp_path: Path, model: OnlineModel) -> None:
    version = _publish(tmp_path, model, compile_rankers=True)
    cached = sorted((tmp_path / "artifacts" / "online" / version / "ranker" / "compiled").glob("*.o"))
    assert len(cached) == 3  # built at publish, so a service only loads it
    rw = OnlineRewriter(root=tmp_path, layers="global+personal", check_interval_s=0.0, compiled=True)
    assert rw.model is not None and rw.model.ranker.is_compiled and rw.model.encoder.is_traced
    # A version published later (not compiled ahead) is served at once and compiled behind it.
    _publish(tmp_path, model)
    assert rw.reload() and rw.model.version == "v0002"
    for worker in [t for t in threading.enumerate() if t.name == "compile"]:
        worker.join(timeout=60)
    assert rw.model.ranker.is_compiled
    # Without the option the rankers score with LightGBM.
    plain = OnlineRewriter(root=tmp_path, layers="global+personal", check_interval_s=0.0)
    assert plain.model is not None and not plain.model.ranker.is_compiled


def test_store_publishes_and_deletes_a_user(tmp_path: Path, model: OnlineModel) -> None:
    version = _publish(tmp_path, model)
    store = OnlineStore(tmp_path)
    assert store.current_version() == version == "v0001"
    rw = OnlineRewriter(root=tmp_path, layers="global+personal", check_interval_s=0.0)
    assert rw.model is not None and rw.model.personal.users() == ["u1"]
    assert len(rw.model.global_index) == 1
    # Deleting u1 removes their personal index; deleting u3 drops a global candidate below k=3.
    assert store.delete_user("u1") == 1
    assert store.delete_user("u3") == 1
    assert rw.reload()
    assert rw.model.personal.users() == [] and len(rw.model.global_index) == 0
    loaded = store.load(version)
    assert loaded.personal.get("u1") is None
    manifest = json.loads((store.dir / version / "manifest.json").read_text())
    assert len(manifest["redactions"]) == 2 and "u1" not in json.dumps(manifest["redactions"])
    out = rw(state("turn on my reading lump", user="u1")).turn
    assert out.rewrite is None  # nothing of u1 is left to propose


def test_store_keeps_only_recent_versions(tmp_path: Path, model: OnlineModel) -> None:
    for _ in range(3):
        _publish(tmp_path, model)
    assert OnlineStore(tmp_path).versions() == ["v0002", "v0003"]


def test_follows_both_stores(tmp_path: Path, model: OnlineModel) -> None:
    rw = OnlineRewriter(root=tmp_path, layers="global+personal", check_interval_s=0.0)
    assert rw.model is None and rw(state("turn of the kitchen lites")).turn.rewrite is None
    RewriteStore(tmp_path).publish(table_of(rule_row("turn of the kitchen lites", GLOBAL_TEXT)))
    _publish(tmp_path, model)
    assert rw.reload()
    out = rw(state("turn of the kitchen lites")).turn
    assert out.rewrite is not None and out.rewrite.source == "precomputed"


def test_replays_of_a_turn_are_not_counted_again(model: OnlineModel, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    rw = OnlineRewriter(model=model, layers="global", trace=trace)
    rw(state("turn of the kitchen lites", user="u2", turn_id="live-1"))
    # the simulator's counterfactual replay runs the same turn through the component again, flagged
    replayed = rw(state("turn of the kitchen lites", user="u2", turn_id="live-1", replay=True)).turn
    assert replayed.rewrite is not None  # decided again, the same way
    assert rw.stats["turns"] == 1 and rw.stats["retrieved"] == 1 and rw.stats["fired"] == 1
    # the decision trace holds the live turn once, with what was retrieved
    lines = [json.loads(ln) for ln in trace.read_text().splitlines()]
    assert len(lines) == 1 and lines[0]["fired"] == GLOBAL_TEXT
    assert [c["text"] for c in lines[0]["candidates"]] == [GLOBAL_TEXT]


def test_gate_lets_a_users_own_habitual_failure_through(encoder: BiEncoder, small_nlu: Any) -> None:
    # u1 said "switch on old betsy" before, it failed, and they rephrased it into PERSONAL_TEXT
    idx = _index("personal", [PERSONAL_TEXT], encoder, [["u1"]])
    idx = CandidateIndex(
        **{k: getattr(idx, k) for k in ("layer", "texts", "embeddings", "interpretations", "intents")},
        nlu_confidence=idx.nlu_confidence,
        counts=idx.counts,
        distinct_users=idx.distinct_users,
        last_seen=idx.last_seen,
        contexts=idx.contexts,
        users=idx.users,
        sources=[["switch on old betsy"]],
    )
    assert idx.has_source("switch on old betsy") and not idx.has_source("switch on the radio")
    m = OnlineModel(
        encoder=encoder,
        global_index=_index("global", [GLOBAL_TEXT], encoder, [["u3", "u4", "u5"]]),
        personal=PersonalIndexes({"u1": idx}),
        ranker=AlwaysFire(),
        version="v0001",
    )
    # a gate that trusts everything: only the user's own history can open it
    rw = OnlineRewriter(model=m, layers="global+personal", nlu=small_nlu, gate_nlu=0.0, gate_asr=0.0)
    out = rw(state("switch on old betsy", user="u1", asr_conf=0.99)).turn
    assert out.rewrite is not None and out.rewrite.rewritten == PERSONAL_TEXT
    assert out.rewrite.source == "online-personal"
    # another user saying the same words is gated as usual: u1's history is u1's alone
    other = OnlineRewriter(model=m, layers="global+personal", nlu=small_nlu, gate_nlu=0.0, gate_asr=0.0)
    assert other(state("switch on old betsy", user="u2", asr_conf=0.99)).turn.rewrite is None
    assert other.stats["gated"] == 1
    # the global layer alone does not look at personal history
    only_global = OnlineRewriter(model=m, layers="global", nlu=small_nlu, gate_nlu=0.0, gate_asr=0.0)
    assert only_global(state("switch on old betsy", user="u1", asr_conf=0.99)).turn.rewrite is None


def test_rewrites_users_kept_retrying_after_are_suppressed(model: OnlineModel) -> None:
    q = "turn of the kitchen lites"
    sup = OnlineModel(
        encoder=model.encoder,
        global_index=model.global_index,
        personal=model.personal,
        ranker=AlwaysFire(),
        version="v0002",
        manifest={"suppressed": {q: [GLOBAL_TEXT]}},
    )
    assert sup.suppressed == {q: frozenset([GLOBAL_TEXT])}
    assert OnlineRewriter(model=sup, layers="global")(state(q, user="u2")).turn.rewrite is None
    other = OnlineRewriter(model=sup, layers="global")(state("turn off the kitchen lites", user="u2"))
    assert other.turn.rewrite is not None and other.turn.rewrite.rewritten == GLOBAL_TEXT


def test_gate_opens_for_a_word_nobody_succeeded_with(model: OnlineModel, small_nlu: Any) -> None:
    trained = OnlineModel(
        encoder=model.encoder,
        global_index=model.global_index,
        personal=model.personal,
        ranker=model.ranker,
        manifest={"config": {"gate_unknown": True, "gate_nlu": 0.5, "gate_asr": 0.5}},
    )
    rw = OnlineRewriter(model=trained, layers="global", nlu=small_nlu)
    assert rw.nlu_view("turn off the kitten lights")[0] >= 0.5
    rw(state("turn off the kitchen lights", user="u2", asr_conf=0.95))
    assert rw.stats["gated"] == 1  # every word is one people succeeded with
    out = rw(state("turn off the kitten lights", user="u2", asr_conf=0.95)).turn
    assert rw.stats["gated"] == 1 and rw.stats["retrieved"] == 1
    assert out.rewrite is not None and out.rewrite.rewritten == GLOBAL_TEXT
    # A model trained before the rule keeps the plain gate: its ranker never saw such requests.
    old = OnlineRewriter(model=model, layers="global", nlu=small_nlu, gate_nlu=0.5, gate_asr=0.5)
    old(state("turn off the kitten lights", user="u2", asr_conf=0.95))
    assert old.stats["gated"] == 1


def test_gate_opens_for_a_request_people_had_to_say_again(
    tmp_path: Path, model: OnlineModel, small_nlu: Any
) -> None:
    q = "turn off the kitchen lights"
    trained = OnlineModel(
        encoder=model.encoder,
        global_index=model.global_index,
        personal=model.personal,
        ranker=model.ranker,
        manifest={
            "config": {"gate_friction": True, "gate_nlu": 0.5, "gate_asr": 0.5},
            "friction": {q: ["u3", "u4", "u5"]},
        },
    )
    assert trained.friction == frozenset([q])
    rw = OnlineRewriter(model=trained, layers="global", nlu=small_nlu)
    assert rw.nlu_view(q)[0] >= 0.5
    rw(state(q, user="u2", asr_conf=0.95))
    assert rw.stats["gated"] == 0 and rw.stats["retrieved"] == 1
    assert rw.to_encode("turn off the kitchen light", "u2", 0.95) is None  # confident, no friction
    # A model trained before the rule keeps the plain gate: its ranker never saw such requests.
    old = OnlineModel(
        encoder=model.encoder,
        global_index=model.global_index,
        personal=model.personal,
        ranker=model.ranker,
        manifest={"config": {"gate_nlu": 0.5, "gate_asr": 0.5}, "friction": {q: ["u3", "u4", "u5"]}},
    )
    plain = OnlineRewriter(model=old, layers="global", nlu=small_nlu)
    plain(state(q, user="u2", asr_conf=0.95))
    assert plain.stats["gated"] == 1

    # Deleting one of the people behind it leaves fewer than k: the request is gated again.
    store = OnlineStore(tmp_path)
    version = store.publish(
        model.global_index.to_arrow(),
        model.personal.to_arrow(),
        _fitted_ranker(),
        None,
        {"min_users": 3, "config": {"gate_friction": True}, "friction": {q: ["u3", "u4", "u5"]}},
    )
    assert store.load(version).friction == frozenset([q])
    assert store.delete_user("u4") == 1
    assert store.load(version).friction == frozenset()
    manifest = json.loads((store.dir / version / "manifest.json").read_text())
    assert "u4" not in json.dumps(manifest)


def test_deleting_a_user_takes_the_requests_only_they_said_out_of_the_suppressions(
    tmp_path: Path, model: OnlineModel
) -> None:
    store = OnlineStore(tmp_path)
    mine, shared = "turn of the kitchen lites", "turn off the kitchen lites"
    version = store.publish(
        model.global_index.to_arrow(),
        model.personal.to_arrow(),
        _fitted_ranker(),
        None,
        {
            "min_users": 3,
            "suppressed": {mine: [GLOBAL_TEXT], shared: [GLOBAL_TEXT]},
            "suppressed_by": {mine: ["u7"], shared: ["u7", "u8"]},
        },
    )
    assert store.delete_user("u7") == 1
    loaded = store.load(version)
    assert loaded.suppressed == {shared: frozenset([GLOBAL_TEXT])}
    manifest = json.loads((store.dir / version / "manifest.json").read_text())
    assert manifest["suppressed_by"] == {shared: ["u8"]}
    assert "u7" not in json.dumps(manifest) and mine not in json.dumps(manifest)
    assert store.delete_user("u7") == 0  # nothing of theirs is left


def test_online_versions_roll_back_disable_and_never_list_a_half_version(
    tmp_path: Path, model: OnlineModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The online model is a kind of the one versioned store: parent, rollback, disable, clean."""
    import shutil as _shutil

    store = OnlineStore(tmp_path)
    v1, v2 = _publish(tmp_path, model), _publish(tmp_path, model)
    assert store.store.manifest(v2)["parent"] == v1 and store.store.manifest(v2)["kind"] == "online"
    rw = OnlineRewriter(root=tmp_path, layers="global+personal", check_interval_s=0.0)
    assert store.store.rollback() == v1 and store.current_version() == v1
    store.store.disable("bad rewrites reported")
    assert store.current_version() is None
    rw.reload()
    assert rw(state("turn of the kitchen lites")).turn.rewrite is None  # disabled: nothing served
    assert store.store.enable() and store.current_version() == v1
    # A crash while pruning (after the rename that hides the old version, before its deletion)
    # leaves it hidden, never listed half-deleted; the next start cleans it.
    real = _shutil.rmtree

    def crash(path: object, *a: object, **k: object) -> None:
        if ".trash-" in str(path):
            raise KeyboardInterrupt("killed while pruning")
        real(path, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(_shutil, "rmtree", crash)
    store.store._switch(v2)  # live again on v2, so v1 is its parent and kept
    with pytest.raises(KeyboardInterrupt):
        _publish(tmp_path, model)  # v3; pruning v1 is interrupted
    monkeypatch.setattr(_shutil, "rmtree", real)
    assert store.versions() == ["v0002", "v0003"]
    assert any(p.name.startswith(".trash-") for p in store.dir.iterdir())
    assert store.clean() and not any(p.name.startswith(".") for p in store.dir.iterdir())
