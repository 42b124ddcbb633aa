from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selflearn.rewrite.ranking import (
    FEATURES,
    Query,
    RankerReport,
    RewriteRanker,
    candidate_features,
    none_features,
)
from selflearn.rewrite.retrieval import CandidateIndex, Hit
from selflearn.text.encoder import EMBEDDING_DIM

F = {n: i for i, n in enumerate(FEATURES)}


def _groups(n_groups: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half the groups: a request that failed, one candidate (high dense + NLU gain) is the fix.
    The other half: a request that was fine; "no rewrite" is right."""
    rng = np.random.default_rng(seed)
    xs, ys, sizes = [], [], []
    for g in range(n_groups):
        fix = g % 2 == 0
        q = Query("q", "u", asr_confidence=0.6, nlu_confidence=0.3 if fix else 0.85)
        rows = [none_features(q)]
        labels = [0 if fix else 2]
        good = int(rng.integers(0, 4)) if fix else -1
        for c in range(4):
            f = np.zeros(len(FEATURES))
            f[F["nlu_confidence"]] = q.nlu_confidence
            f[F["dense"]] = 0.9 + 0.05 * rng.random() if c == good else 0.4 + 0.3 * rng.random()
            f[F["cand_nlu_confidence"]] = 0.97 if c == good else 0.5 + 0.4 * rng.random()
            f[F["nlu_gain"]] = f[F["cand_nlu_confidence"]] - q.nlu_confidence
            rows.append(f)
            labels.append(2 if c == good else 0)
        xs.extend(rows)
        ys.extend(labels)
        sizes.append(len(rows))
    return np.vstack(xs), np.array(ys), np.array(sizes)


@pytest.fixture(scope="module")
def ranker() -> RewriteRanker:
    x, y, g = _groups(120)
    return RewriteRanker(n_estimators=40, min_child_samples=5).fit(x, y, g)


def test_fires_on_fixable_requests_and_leaves_good_ones(ranker: RewriteRanker) -> None:
    x, y, g = _groups(40, seed=1)
    starts = np.r_[0, np.cumsum(g)[:-1]]
    right = fired_wrong = 0
    for s, n in zip(starts, g, strict=True):
        chosen, _margin, prob = ranker.decide(x[s : s + n])
        assert 0.0 <= prob <= 1.0
        if chosen:
            right += int(y[s + chosen] == 2)
            fired_wrong += int(y[s + chosen] != 2)
    assert right >= 15 and fired_wrong <= 1
    assert math.isfinite(ranker.threshold_) and ranker.report_.oof_fired > 0
    rep = ranker.report_
    assert rep.oof_correct / (rep.oof_correct + rep.oof_losses) >= ranker.target_precision


def test_never_fires_when_nothing_is_precise_enough() -> None:
    rng = np.random.default_rng(3)
    x, y, g = _groups(60)
    starts = np.r_[0, np.cumsum(g)[:-1]]
    # labels unrelated to the features: a random half of the requests were fine ("no rewrite" is
    # right, any rewrite a loss), the other half has a random right candidate
    y[:] = 0
    for s, n in zip(starts, g, strict=True):
        if rng.random() < 0.5:
            y[s] = 2
        else:
            y[s + int(rng.integers(1, n))] = 2
    r = RewriteRanker(n_estimators=20, target_precision=0.99).fit(x, y, g)
    assert math.isinf(r.threshold_)
    assert r.decide(x[: g[0]])[0] == 0


def test_save_load_round_trip(ranker: RewriteRanker, tmp_path: Path) -> None:
    x, _, g = _groups(4, seed=2)
    again = RewriteRanker.load(ranker.save(tmp_path / "ranker"))
    assert again.threshold_ == pytest.approx(ranker.threshold_)
    assert np.allclose(again.scores(x[: g[0]]), ranker.scores(x[: g[0]]))
    assert again.decide(x[: g[0]])[:2] == pytest.approx(ranker.decide(x[: g[0]])[:2])


def test_the_bag_scores_by_the_mean_of_its_boosters_and_travels_whole(
    ranker: RewriteRanker, tmp_path: Path
) -> None:
    x, _, g = _groups(4, seed=3)
    rows = x[: g[0]]
    assert len(ranker.model_.boosters) == ranker.bags == 3
    each = [b.predict(rows) for b in ranker.model_.boosters]
    assert not np.allclose(each[0], each[1])  # different rows and features per booster
    assert np.allclose(ranker.scores(rows), np.mean(each, axis=0))
    path = ranker.save(tmp_path / "ranker")
    assert sorted(p.name for p in path.glob("booster*.txt")) == [f"booster{i}.txt" for i in range(3)]
    (path / "booster2.txt").unlink()
    with pytest.raises(ValueError, match=r"3 booster\(s\).*booster2.txt"):
        RewriteRanker.load(path)


def test_a_single_booster_saved_before_bagging_still_loads(ranker: RewriteRanker, tmp_path: Path) -> None:
    x, _, g = _groups(4, seed=4)
    path = ranker.save(tmp_path / "ranker")
    # how the ranker used to save itself: ranker.json with a subset of the parameters
    meta = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    keep = ("n_estimators", "num_leaves", "learning_rate", "target_precision", "loss_cost")
    meta["params"] = {k: meta["params"][k] for k in keep}
    (path / "manifest.json").unlink()
    (path / "ranker.json").write_text(json.dumps(meta), encoding="utf-8")
    (path / "booster0.txt").rename(path / "booster.txt")
    for extra in ("booster1.txt", "booster2.txt"):
        (path / extra).unlink()
    old = RewriteRanker.load(path)
    assert len(old.model_.boosters) == 1
    assert np.allclose(old.scores(x[: g[0]]), ranker.model_.boosters[0].predict(x[: g[0]]))


def test_a_ranker_of_another_feature_set_says_what_differs_and_how_to_fix_it(
    ranker: RewriteRanker, tmp_path: Path
) -> None:
    path = ranker.save(tmp_path / "ranker")
    meta = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    meta["features"] = [f for f in meta["features"] if f != "lm_gain"]  # saved by an older version
    (path / "manifest.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match=r"missing \['lm_gain'\].*selflearn online train"):
        RewriteRanker.load(path)


def test_rejects_bad_training_input() -> None:
    x, y, g = _groups(4)
    with pytest.raises(ValueError, match="start with"):
        RewriteRanker().fit(x[1:], y[1:], np.r_[g[0] - 1, g[1:]])
    with pytest.raises(ValueError, match="groups summing"):
        RewriteRanker().fit(x, y, g + 1)


def test_query_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="asr_confidence"):
        Query("turn on", "u1", asr_confidence=1.5)


def test_candidate_features_from_an_index() -> None:
    idx = CandidateIndex(
        layer="global",
        texts=["turn off the kitchen lights"],
        embeddings=np.eye(1, EMBEDDING_DIM, dtype=np.float32),
        interpretations=["lights_off|device=light.kitchen"],
        intents=["lights_off"],
        nlu_confidence=np.array([0.97]),
        counts=np.array([4.0]),
        distinct_users=np.array([3.0]),
        last_seen=np.array([0.0]),
        contexts=[{"dt:speaker": 3, "room:kitchen": 4}],
    )
    q = Query(
        "turn of the kitchen lites",
        "u1",
        nlu_confidence=0.4,
        nlu_intent="lights_off",
        device_type="speaker",
        room="kitchen",
        entity_ids=frozenset({"light.kitchen"}),
    )
    f = candidate_features(q, idx, Hit(row=0, dense=0.8, phonetic=0.9), precomputed_probability=0.7)
    assert f[F["is_none"]] == 0 and f[F["is_personal"]] == 0
    assert f[F["nlu_gain"]] == pytest.approx(0.57)
    assert f[F["ctx_room"]] == 1.0 and f[F["ctx_device"]] == pytest.approx(0.75)
    assert f[F["entity_match"]] == 1.0 and f[F["same_intent"]] == 1.0
    assert f[F["precomputed_probability"]] == 0.7
    assert f[F["user_recency_days"]] == 365.0  # the user never used it
    assert none_features(q)[F["is_none"]] == 1.0


def test_threshold_maximises_net_wins_under_the_precision_floor() -> None:
    r = RewriteRanker(target_precision=0.9, loss_cost=1.0)
    rep = RankerReport()
    # out-of-fold groups by margin: the top ones are right, a loss at -0.1, then mostly neutral
    margins = np.array([2.0, 1.5, 1.0, 0.5, -0.05, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -2.0])
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0], dtype=bool)
    loss = np.array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1], dtype=float)
    t = r._calibrate(margins, correct, loss, rep)
    # firing down to -0.5 gives 9 wins, 1 loss (precision 0.9, net 8): negative margins are allowed
    assert t < -0.49 and t > -0.6
    assert rep.oof_correct == 9 and rep.oof_losses == 1.0
    # a stricter floor stops before the first loss
    strict = RewriteRanker(target_precision=0.95)._calibrate(margins, correct, loss, RankerReport())
    assert -0.1 < strict <= -0.05
    # a loss that costs more than a win is worth moves the line up
    costly = RewriteRanker(target_precision=0.5, loss_cost=10.0)._calibrate(
        margins, correct, loss, RankerReport()
    )
    assert -0.1 < costly <= -0.05


def test_unexplained_words_separate_misheard_from_other_meanings() -> None:
    from selflearn.rewrite.ranking import _unexplained

    def both(q: str, c: str) -> tuple[float, float]:
        return _unexplained(q.split(), c.split()), _unexplained(c.split(), q.split())

    assert both("turn of the kitchen lites", "turn off the kitchen lights") == (0.0, 0.0)  # misheard
    room = both("switch of the lights in the living room", "switch off the lights in the kitchen")
    assert room[0] > 0.2 and room[1] > 0.1  # another room: words on both sides unexplained
    assert both("please play jazz", "play jazz") == (0.0, 0.0)  # politeness changes nothing
    assert both("what is the weather", "set an alarm for six")[0] >= 0.5


def test_unknown_words_counts_content_words_no_allowed_index_holds() -> None:
    from selflearn.rewrite.ranking import unknown_words

    from .test_online import _index

    class _NoEncoder:
        def encode(self, texts: list[str]) -> np.ndarray:
            return np.zeros((len(texts), 384), np.float32)

    glob = _index("global", ["turn off the kitchen lights"], _NoEncoder(), [["u3", "u4", "u5"]])  # type: ignore[arg-type]
    mine = _index("personal", ["lights out in the sleepy biscuit"], _NoEncoder(), [["u1"]])  # type: ignore[arg-type]
    assert unknown_words("turn off the kitchen lights", [glob]) == 0.0
    assert unknown_words("turn off the kitten lights", [glob]) == 0.25  # fillers ("the") do not count
    # A private name is known only through its owner's own index.
    assert unknown_words("sleepy biscuit lights off", [glob]) == 0.5
    assert unknown_words("sleepy biscuit lights off", [glob, mine]) == 0.0
    assert unknown_words("please", [glob]) == 0.0 and unknown_words("anything", [None]) == 1.0


def test_numbers_in_words_must_match_too() -> None:
    idx = CandidateIndex(
        layer="global",
        texts=["set an alarm for five", "set an alarm for 6"],
        embeddings=np.zeros((2, EMBEDDING_DIM), dtype=np.float32),
        interpretations=["alarm_set|time=five", "alarm_set|time=6"],
        intents=["alarm_set", "alarm_set"],
        nlu_confidence=np.array([0.9, 0.9]),
        counts=np.array([3.0, 3.0]),
        distinct_users=np.array([3.0, 3.0]),
        last_seen=np.zeros(2),
        contexts=[{}, {}],
    )
    q = Query("set alarm tomorrow at six am", "u1")
    five = candidate_features(q, idx, Hit(row=0, dense=0.9, phonetic=0.9))
    assert five[F["number_match"]] == 0.0  # "six" against "five"
    same = candidate_features(
        Query("set an alarm for five please", "u1"), idx, Hit(row=0, dense=0.9, phonetic=0.9)
    )
    assert same[F["number_match"]] == 1.0


def test_each_layer_fires_at_its_own_threshold(tmp_path: Path) -> None:
    """Personal candidates (the user's own earlier success) are always right here; global ones
    only when they are very close. One shared line would let the global layer set it for both."""
    rng = np.random.default_rng(0)
    xs, ys, sizes = [], [], []
    for g in range(300):
        personal = g % 2 == 0
        q = Query("q", "u", asr_confidence=0.6, nlu_confidence=0.4)
        rows, labels = [none_features(q)], [0]
        f = np.zeros(len(FEATURES))
        f[F["is_personal"]] = float(personal)
        f[F["dense"]] = 0.6 + 0.4 * rng.random()
        right = personal or f[F["dense"]] > 0.85
        labels[0] = 0 if right else 2
        rows.append(f)
        labels.append(2 if right else 0)
        xs.extend(rows)
        ys.extend(labels)
        sizes.append(2)
    r = RewriteRanker(n_estimators=40, min_child_samples=5, target_precision=0.9)
    r.fit(np.vstack(xs), np.array(ys), np.array(sizes))
    lines = r.layer_thresholds()
    assert set(lines) == {"personal", "global"}
    assert "threshold_personal" in r.report_.extra
    again = RewriteRanker.load(r.save(tmp_path / "ranker"))
    assert again.layer_thresholds() == pytest.approx(lines)
    # A personal candidate fires where a global one with the same similarity does not.
    q = Query("q", "u", asr_confidence=0.6, nlu_confidence=0.4)
    cand = np.zeros(len(FEATURES))
    cand[F["dense"]] = 0.7
    glob = np.vstack([none_features(q), cand])
    cand_p = cand.copy()
    cand_p[F["is_personal"]] = 1.0
    mine = np.vstack([none_features(q), cand_p])
    assert again.decide(mine)[0] == 1 and again.decide(glob)[0] == 0


def test_a_number_facing_its_sound_alike_is_a_recognition_error() -> None:
    idx = CandidateIndex(
        layer="personal",
        texts=["set the kitchen lights to zero percent", "reminder to call mom"],
        embeddings=np.zeros((2, EMBEDDING_DIM), dtype=np.float32),
        interpretations=[None, None],
        intents=[None, None],
        nlu_confidence=np.array([0.9, 0.9]),
        counts=np.array([1.0, 1.0]),
        distinct_users=np.array([1.0, 1.0]),
        last_seen=np.zeros(2),
        contexts=[{}, {}],
    )
    hit = Hit(row=0, dense=0.9, phonetic=0.9)
    assert (
        candidate_features(Query("set the kitchen lights two zero percent", "u1"), idx, hit)[
            F["number_match"]
        ]
        == 1.0
    )
    assert (
        candidate_features(Query("remainder two call mom", "u1"), idx, Hit(1, 0.9, 0.9))[F["number_match"]]
        == 1.0
    )
    # a real difference of numbers still counts
    assert (
        candidate_features(Query("set the kitchen lights to ten percent", "u1"), idx, hit)[F["number_match"]]
        == 0.0
    )


def test_a_personal_candidate_keeps_the_crowd_support_it_also_has() -> None:
    def index(layer: str, texts: list[str], users: list[float]) -> CandidateIndex:
        n = len(texts)
        return CandidateIndex(
            layer=layer,
            texts=texts,
            embeddings=np.eye(n, EMBEDDING_DIM, dtype=np.float32),
            interpretations=["lights_off"] * n,
            intents=["lights_off"] * n,
            nlu_confidence=np.full(n, 0.97),
            counts=np.full(n, 4.0),
            distinct_users=np.asarray(users),
            last_seen=np.zeros(n),
            contexts=[{} for _ in range(n)],
        )

    mine = index("personal", ["kitchen lights off", "kill the kitchen glow"], [1.0, 1.0])
    crowd = index("global", ["turn off the lights", "kitchen lights off"], [40.0, 12.0])
    q = Query("chicken lights off", "u1", nlu_confidence=0.9, nlu_intent="lights_off")
    shared = candidate_features(q, mine, Hit(row=0, dense=0.9, phonetic=0.9), mine, crowd=crowd)
    own_only = candidate_features(q, mine, Hit(row=1, dense=0.5, phonetic=0.5), mine, crowd=crowd)
    assert shared[F["global_users"]] == pytest.approx(math.log1p(12.0))
    assert own_only[F["global_users"]] == pytest.approx(math.log1p(1.0))
    assert shared[F["is_personal"]] == 1.0
    # Without the global index the personal row only knows its one user.
    alone = candidate_features(q, mine, Hit(row=0, dense=0.9, phonetic=0.9), mine)
    assert alone[F["global_users"]] == pytest.approx(math.log1p(1.0))


def test_scoring_threads_change_speed_not_scores(ranker: RewriteRanker) -> None:
    from selflearn.rewrite import ranking

    x, _, g = _groups(4, seed=5)
    rows = x[: g[0]]
    one = ranker.scores(rows)
    try:
        ranking.set_predict_threads(2)
        assert np.array_equal(ranker.scores(rows), one)
    finally:
        ranking.set_predict_threads(1)
    with pytest.raises(ValueError, match="ranker threads must be >= 1"):
        ranking.set_predict_threads(0)


def test_compiled_ranker_scores_as_lightgbm_and_reuses_its_cached_code(
    ranker: RewriteRanker, tmp_path: Path
) -> None:
    x, _, g = _groups(6, seed=7)
    saved = ranker.save(tmp_path / "ranker")
    loaded = RewriteRanker.load(saved)
    starts = np.r_[0, np.cumsum(g)[:-1]]
    before = [loaded.scores(x[s : s + n]) for s, n in zip(starts, g, strict=True)]
    decisions = [loaded.decide(x[s : s + n])[0] for s, n in zip(starts, g, strict=True)]
    assert not loaded.is_compiled
    loaded.compile()  # cached beside the boosters
    assert loaded.is_compiled
    objects = sorted((saved / "compiled").glob("*.o"))
    assert len(objects) == len(ranker.model_.boosters) == 3
    for (s, n), want, chose in zip(zip(starts, g, strict=True), before, decisions, strict=True):
        assert np.allclose(loaded.scores(x[s : s + n]), want, rtol=0, atol=1e-9)
        assert loaded.decide(x[s : s + n])[0] == chose
    # A second load reuses the objects; another booster gets its own (a stale object never loads).
    stamps = [o.stat().st_mtime_ns for o in objects]
    again = RewriteRanker.load(saved).compile()
    assert [o.stat().st_mtime_ns for o in objects] == stamps
    assert np.allclose(again.scores(x[: g[0]]), before[0], rtol=0, atol=1e-9)
    xs, ys, gs = _groups(60, seed=3)
    other = RewriteRanker(n_estimators=10, min_child_samples=5, bags=1).fit(xs, ys, gs)
    other.compile(saved / "compiled")
    assert len(list((saved / "compiled").glob("*.o"))) == 4
    assert not list((saved / "compiled").glob("*.part"))
    # A copy scores with LightGBM (native code does not pickle), the same.
    import pickle

    twin = pickle.loads(pickle.dumps(again))
    assert not twin.is_compiled and np.allclose(twin.scores(x[: g[0]]), before[0], rtol=0, atol=1e-9)
    # Refitting drops the compiled code of the earlier trees.
    other.fit(xs, ys, gs)
    assert not other.is_compiled


def test_keeps_the_learner_contract(tmp_path: Path, check_learner: Any) -> None:
    from selflearn.context.reranker import ContextReranker

    x, y, g = _groups(60)
    check_learner(
        RewriteRanker(n_estimators=10, min_child_samples=5),
        lambda est: est.fit(x, y, g),
        lambda est: est.scores(x[: g[0]]),
        tmp_path,
        other_kind=ContextReranker,
    )
