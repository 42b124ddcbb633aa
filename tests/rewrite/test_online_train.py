from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selflearn.eval.loop import LoopConfig, run_loop
from selflearn.rewrite.online import OnlineStore

pytestmark = pytest.mark.slow  # a small closed loop: still run in CI


@pytest.fixture(scope="module")
def loop_ws(tmp_path_factory: pytest.TempPathFactory, small_nlu: Any) -> tuple[Path, dict[str, Any]]:
    """A tiny closed loop with both online layers: two days, trained each night from logs."""
    ws = tmp_path_factory.mktemp("online-loop")
    small_nlu.save(ws / "artifacts" / "models" / "nlu")
    report = run_loop(
        LoopConfig(
            users=30,
            days=2,
            seed=1,
            calibration_users=20,
            calibration_days=1,
            min_users=2,
            online="global+personal",
            online_train={"fine_tune_steps": 2, "batch_size": 8, "heldout_fraction": 0.0},
        ),
        ws,
    )
    return ws, report


def test_nightly_training_publishes_an_online_model(loop_ws: tuple[Path, dict[str, Any]]) -> None:
    ws, report = loop_ws
    store = OnlineStore(ws)
    assert store.versions() == ["v0001", "v0002"] and store.current_version() == "v0002"
    manifest = json.loads((store.dir / "v0002" / "manifest.json").read_text())
    assert manifest["min_users"] == 2 and manifest["result"]["personal_users"] > 0
    assert (store.dir / "v0002" / "encoder.pt").exists()  # fine-tuned weights travel with the version
    model = store.load("v0002")
    assert model.encoder.fine_tuned_
    # Both layers: the global layer carries a ranker of its own, reported beside the joint one.
    assert model.global_ranker is not None and "global_layer" in manifest["result"]["ranker"]
    # The global layer only holds requests that succeeded for >= k distinct users.
    assert all(u >= 2 for u in model.global_index.distinct_users)
    assert all(len(set(us)) >= 2 for us in model.global_index.users)
    # Each personal index holds only its owner's requests.
    for user in model.personal.users():
        idx = model.personal.get(user)
        assert idx is not None and all(us == [user] for us in idx.users)
    day2 = report["days"][1]
    assert day2["online_stats"]["turns"] > 0  # the online rewriter ran on day 2
    assert "online_training" in day2 and 0.0 <= day2["online_training"]["gate_recall"] <= 1.0


def test_fired_online_rewrites_are_logged_with_provenance(loop_ws: tuple[Path, dict[str, Any]]) -> None:
    from selflearn.logs.io import read_flat

    ws, report = loop_ws
    flat = read_flat(ws / "logs")
    sources = [s for s in flat.column("rewrite_source").to_pylist() if s]
    rules = [r for r in flat.column("rewrite_rule_id").to_pylist() if r and r.startswith("online:")]
    fired = sum(d["online_stats"]["fired"] for d in report["days"])
    assert len(rules) == fired
    assert all(s in ("precomputed", "online-global", "online-personal") for s in sources)


def test_deleting_a_user_removes_their_personal_index(loop_ws: tuple[Path, dict[str, Any]]) -> None:
    ws, _ = loop_ws
    store = OnlineStore(ws)
    user = store.load("v0002").personal.users()[0]
    assert store.delete_user(user) == 2  # every kept version
    for version in store.versions():
        model = store.load(version)
        assert model.personal.get(user) is None
        assert all(user not in us for us in model.global_index.users)


def test_late_feedback_from_the_service_overrides_defective_flags(tmp_path: Path) -> None:
    import pyarrow as pa

    from selflearn.feedback.chains import CHAIN_SCHEMA
    from selflearn.rewrite.online_train import apply_late_feedback, late_feedback

    flat = pa.table({"turn_id": ["a1", "a2", "b1"], "user_id": ["u1", "u1", "u2"]})
    (tmp_path / "serve").mkdir()
    lines = [
        {"turn_id": "a2", "user": "u1", "explicit": "negative"},  # the chain's last turn was wrong
        {"turn_id": "b1", "user": "u1", "explicit": "negative"},  # someone else's turn: ignored
        {"turn_id": "a1", "user": "u1", "barge_in": True},
        {"turn_id": "zz", "user": "u1", "explicit": "negative"},  # unknown turn: ignored
    ]
    text = "\n".join(json.dumps(x) for x in lines) + "\n{torn"
    (tmp_path / "serve" / "feedback.jsonl").write_text(text)
    fb = late_feedback(tmp_path, flat)
    assert fb == {"a2": True, "a1": True}
    rows = [
        {"chain_id": "c1", "turn_ids": ["a1", "a2"], "defective": [False, False], "outcome": "success"},
        {"chain_id": "c2", "turn_ids": ["b1"], "defective": [False], "outcome": "success"},
    ]
    chains = pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA)
    out = apply_late_feedback(chains, fb)
    assert out.schema == chains.schema
    assert out.column("defective").to_pylist() == [[True, True], [False]]
    assert out.column("outcome").to_pylist() == ["failure", "success"]
    assert apply_late_feedback(chains, {}) is chains


def test_retry_feedback_marks_unreliable_texts_and_suppresses_rewrites() -> None:
    from selflearn.rewrite.online_train import (
        OnlineTrainConfig,
        retry_stats,
        suppressed_by,
        suppressed_rewrites,
        unreliable_texts,
    )

    from .chains import build_chains

    specs: list[dict[str, Any]] = []
    for i in range(5):
        # "does it deliver" reads as a success, but the user asks again in the same session.
        specs.append({"user": f"u{i}", "texts": ["does it deliver"], "session": f"s{i}", "start": 10 * i})
        specs.append({"user": f"u{i}", "texts": ["what time is it"], "session": f"s{i}", "start": 10 * i + 1})
        specs.append({"user": f"v{i}", "texts": ["lights on"], "session": f"w{i}", "start": 10 * i})
    for i in range(3):  # an online rewrite that users kept retrying after
        specs.append(
            {
                "user": f"x{i}",
                "texts": ["does it deliver"],
                "asr": ["does it delivers"],
                "rules": ["online:global:v0001:abc"],
                "session": f"x{i}",
                "start": 100 + 10 * i,
            }
        )
        specs.append({"user": f"x{i}", "texts": ["order food"], "session": f"x{i}", "start": 101 + 10 * i})
    chains = build_chains(specs)
    stats = retry_stats(chains, "session")
    assert stats["does it deliver"] == (8, 8) and stats["lights on"] == (5, 0)
    assert stats["what time is it"] == (5, 0)
    cfg = OnlineTrainConfig(retry_signal="session")
    assert unreliable_texts(stats, cfg) == {"does it deliver"}
    assert unreliable_texts(stats, OnlineTrainConfig(retry_share_max=None)) == set()
    assert suppressed_rewrites(chains, cfg) == {"does it delivers": ["does it deliver"]}
    # who said the suppressed request, so that deleting them can take it out of the manifest
    assert suppressed_by(chains, cfg, suppressed_rewrites(chains, cfg)) == {
        "does it delivers": ["x0", "x1", "x2"]
    }
    strict = OnlineTrainConfig(retry_signal="session", suppress_min_retried=4)
    assert suppressed_rewrites(chains, strict) == {}
    # By rephrase chain, a session's next, unrelated request is no retry: nothing is unreliable.
    by_chain = retry_stats(chains, "chain")
    assert by_chain["does it deliver"] == (8, 0)
    assert unreliable_texts(by_chain, cfg) == set()
    assert suppressed_rewrites(chains, OnlineTrainConfig(retry_signal="chain")) == {}
    with pytest.raises(ValueError, match="retry signal"):
        retry_stats(chains, "turn")


def test_personal_rewrites_are_never_published_as_suppressed() -> None:
    from selflearn.rewrite.online_train import OnlineTrainConfig, suppressed_rewrites

    from .chains import build_chains

    specs: list[dict[str, Any]] = []
    for i in range(3):
        specs.append(
            {
                "user": "u1",
                "texts": ["my den lamp"],
                "asr": ["my then lamp"],
                "rules": ["online:personal:v0001:abc"],
                "session": f"p{i}",
                "start": 10 * i,
            }
        )
        specs.append({"user": "u1", "texts": ["lights on"], "session": f"p{i}", "start": 10 * i + 1})
    assert suppressed_rewrites(build_chains(specs), OnlineTrainConfig(retry_signal="session")) == {}


def test_a_catalog_adds_known_good_phrasings_to_the_global_layer(
    loop_ws: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    import shutil

    from selflearn.feedback.rephrase_baseline import HeuristicRephraseDetector
    from selflearn.jobs.engine import make_engine
    from selflearn.jobs.nightly import NightlyConfig, mine_chains
    from selflearn.rewrite.online_train import OnlineTrainConfig, train_online

    src, _ = loop_ws
    ws = tmp_path / "ws"
    shutil.copytree(src / "logs", ws / "logs")
    shutil.copytree(src / "artifacts" / "models" / "nlu", ws / "artifacts" / "models" / "nlu")
    catalog = tmp_path / "catalog.txt"
    # Wordings nobody in the simulated loop says verbatim (a logged success keeps its own row).
    wordings = (
        "could you set an alarm for seven am for me",
        "what will the weather be like tomorrow afternoon",
    )
    catalog.write_text(f"{wordings[0]}\n{{broken\n{wordings[1]}\n")
    engine = make_engine("embedded")
    try:
        chains, _ = mine_chains(engine, ws / "logs", HeuristicRephraseDetector(), NightlyConfig())
    finally:
        engine.close()
    cfg = OnlineTrainConfig(min_users=2, fine_tune_steps=0, heldout_fraction=0.0, catalog=str(catalog))
    result = train_online(ws, chains, cfg)
    assert result.catalog_candidates == 2
    # where the night went, phase by phase, in order
    assert list(result.timings) == ["mine", "fine_tune", "embed", "index", "groups", "rank", "publish"]
    assert sum(result.timings.values()) <= result.seconds + 0.01
    assert len(result.catalog_rejected) == 1 and "catalog.txt:2" in result.catalog_rejected[0]
    model = OnlineStore(ws).load(str(result.version))
    rows = {t: i for i, t in enumerate(model.global_index.texts)}
    for text in wordings:
        i = rows[text]
        assert model.global_index.users[i] == [] and model.global_index.distinct_users[i] == 0
        assert model.global_index.interpretations[i] is not None
    # Logged candidates still need k distinct users: the catalog opens no door to private data.
    logged = [i for i in range(len(model.global_index)) if model.global_index.distinct_users[i] > 0]
    assert logged and all(model.global_index.distinct_users[i] >= 2 for i in logged)
    missing = OnlineTrainConfig(catalog=str(catalog), catalog_nlu=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="no NLU model"):
        train_online(ws, chains, missing)


def test_training_gate_knows_only_words_succeeded_with_before() -> None:
    from selflearn.rewrite.online_train import OnlineTrainConfig, SuccessEvent, TrainQuery, VocabAsOf, _passes
    from selflearn.rewrite.ranking import Query

    def ev(user: str, text: str, t: float) -> SuccessEvent:
        return SuccessEvent(user, text, None, None, 0.99, t, ())

    events = [ev(u, "turn off the kitchen lights", 1.0) for u in ("a", "b", "c")]
    events.append(ev("a", "lights out in the sleepy biscuit", 5.0))  # a's private name, said at t=5
    cfg = OnlineTrainConfig(min_users=3)
    vocab = VocabAsOf(events, cfg)

    def q(text: str, user: str, t: float) -> Query:
        return vocab.mark(TrainQuery(Query(text, user, 0.99, 0.99, timestamp=t), None, None, None)).query

    assert q("turn off the kitchen lights", "b", 2.0).unknown_words == 0.0
    assert q("turn off the kitten lights", "b", 2.0).unknown_words == 0.25
    # The private name is known to its owner only, and only after they first succeeded with it.
    assert q("sleepy biscuit lights off", "a", 4.0).unknown_words == 0.5
    assert q("sleepy biscuit lights off", "a", 6.0).unknown_words == 0.0
    assert q("sleepy biscuit lights off", "b", 6.0).unknown_words == 0.5
    # Confident recognition and NLU: only the unknown word lets the request through the gate.
    assert _passes(q("turn off the kitten lights", "b", 2.0), cfg)
    assert not _passes(q("turn off the kitchen lights", "b", 2.0), cfg)
    plain = OnlineTrainConfig(min_users=3, gate_unknown=False)
    assert not _passes(q("turn off the kitten lights", "b", 2.0), plain)


def test_the_global_layers_groups_leave_personal_candidates_out() -> None:
    from selflearn.rewrite.online_train import without_personal
    from selflearn.rewrite.ranking import FEATURES

    col = FEATURES.index("is_personal")

    def row(personal: bool = False, none: bool = False) -> np.ndarray:
        r = np.zeros(len(FEATURES))
        r[FEATURES.index("is_none")] = float(none)
        r[col] = float(personal)
        return r

    groups = [
        # needed a rewrite; reached only through the personal candidate
        ([row(none=True), row(personal=True), row()], [0, 2, 0]),
        # needed a rewrite; reached through a global candidate
        ([row(none=True), row(personal=True), row()], [0, 0, 2]),
        # was fine as it was
        ([row(none=True), row(personal=True), row()], [2, 1, 0]),
        # only personal candidates: nothing left for the global layer
        ([row(none=True), row(personal=True)], [0, 2]),
    ]
    x = np.vstack([r for g, _ in groups for r in g])
    y = np.concatenate([lab for _, lab in groups])
    sizes = np.array([len(g) for g, _ in groups])
    gx, gy, gsizes, gw = without_personal(x, y, sizes, np.array([1.0, 2.0, 3.0, 4.0]))
    assert gsizes.tolist() == [2, 2, 2] and gw.tolist() == [1.0, 2.0, 3.0]
    assert (gx[:, col] == 0).all()
    # the first request's target left with the personal row: "no rewrite" is now merely harmless
    assert gy.tolist() == [1, 0, 0, 2, 2, 0]


def test_training_gate_lets_requests_people_had_to_say_again_through() -> None:
    from selflearn.rewrite.online_train import OnlineTrainConfig, _passes, crowd_friction
    from selflearn.rewrite.ranking import Query

    from .chains import build_chains

    specs: list[dict[str, Any]] = []
    for i in range(5):  # read confidently, and each person asked again in the same session
        specs.append(
            {"user": f"u{i}", "texts": ["any appointments today"], "session": f"s{i}", "start": 10 * i}
        )
        specs.append(
            {"user": f"u{i}", "texts": ["show my calendar"], "session": f"s{i}", "start": 10 * i + 1}
        )
    for i in range(3):  # the same words after a rewrite: the friction is the rewrite's, not theirs
        specs.append(
            {
                "user": f"x{i}",
                "texts": ["what is on today"],
                "asr": ["any appointments"],
                "rules": ["online:global:v0001:abc"],
                "session": f"x{i}",
                "start": 100 + 10 * i,
            }
        )
        specs.append(
            {"user": f"x{i}", "texts": ["show my calendar"], "session": f"x{i}", "start": 101 + 10 * i}
        )
    chains = build_chains(specs)
    cfg = OnlineTrainConfig(min_users=3, gate_friction=True)
    friction = crowd_friction(chains, cfg)
    assert friction is not None
    assert friction.published() == {"any appointments today": ["u0", "u1", "u2", "u3", "u4"]}
    assert not friction.unreliable("any appointments")
    assert crowd_friction(chains, OnlineTrainConfig()) is None  # off unless asked for

    t0 = chains.column("first_ts")[0].as_py().timestamp()

    def q(t: float) -> Query:
        return Query("any appointments today", "u9", 0.99, 0.99, timestamp=t0 + 60 * t)

    # Confident recognition and NLU: the gate opens once four people (minutes 0-30) had gone on.
    assert not _passes(q(25.0), cfg, None, friction)
    assert _passes(q(35.0), cfg, None, friction)
    assert not _passes(q(35.0), OnlineTrainConfig(min_users=3, gate_friction=False), None, friction)
