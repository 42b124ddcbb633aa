from __future__ import annotations

import numpy as np
import pytest

from selflearn.rewrite.prior import RequestPrior
from selflearn.rewrite.ranking import FEATURES, Query, candidate_features, none_features
from selflearn.rewrite.retrieval import CandidateIndex, Hit
from selflearn.text.encoder import EMBEDDING_DIM

F = {n: i for i, n in enumerate(FEATURES)}
WORKED = [
    "turn off the kitchen lights",
    "turn on the kitchen lights",
    "kitchen lights off",
    "add chicken to the shopping list",
    "play music in the kitchen",
    "turn off the bedroom lights",
]


def _index(texts: list[str], counts: list[float]) -> CandidateIndex:
    n = len(texts)
    return CandidateIndex(
        layer="global",
        texts=texts,
        embeddings=np.eye(n, EMBEDDING_DIM, dtype=np.float32),
        interpretations=[None] * n,
        intents=[None] * n,
        nlu_confidence=np.full(n, 0.95),
        counts=np.asarray(counts, dtype=np.float64),
        distinct_users=np.full(n, 3.0),
        last_seen=np.zeros(n),
        contexts=[{} for _ in range(n)],
    )


def test_a_sound_alike_swap_scores_below_the_wording_that_worked() -> None:
    prior = RequestPrior().fit(WORKED, [20, 10, 5, 3, 8, 4])
    # "chicken" is a known word (shopping), but not before "lights": only the context tells.
    assert prior.score("turn off the kitchen lights") > prior.score("turn off the chicken lights") + 1.0
    assert prior.score("kitchen lights off") > prior.score("chicken lights off")
    # A word nobody said is worse still than a known word in an odd place.
    assert prior.score("turn off the kitten lights") < prior.score("turn off the kitchen lights")
    assert prior.score("turn off the zzyzx lights") <= prior.score("turn off the chicken lights")


def test_counts_weigh_the_wording() -> None:
    frequent_on = RequestPrior().fit(["lights on", "lights off"], [16, 1])
    frequent_off = RequestPrior().fit(["lights on", "lights off"], [1, 16])
    assert frequent_on.score("lights on") > frequent_on.score("lights off")
    assert frequent_off.score("lights off") > frequent_off.score("lights on")


def test_without_evidence_every_score_is_neutral() -> None:
    assert RequestPrior().score("turn off the lights") == 0.0
    assert RequestPrior().fit([], []).score("turn off the lights") == 0.0
    assert RequestPrior().fit(["", "  "]).score("anything") == 0.0


def test_counts_must_match_texts() -> None:
    with pytest.raises(ValueError, match="2 texts but 1 counts"):
        RequestPrior().fit(["a b", "c d"], [1.0])


def test_the_index_prior_feeds_the_ranker_features() -> None:
    idx = _index(WORKED, [20, 10, 5, 3, 8, 4])
    prior = idx.prior()
    assert prior is idx.prior()  # built once
    q = Query("turn off the chicken lights", "u1", nlu_confidence=0.99, nlu_intent="lights_off")
    q = Query(**{**q.__dict__, "lm_score": prior.score(q.text)})
    kitchen = candidate_features(q, idx, Hit(row=0, dense=0.9, phonetic=0.95), prior=prior)
    shopping = candidate_features(q, idx, Hit(row=3, dense=0.3, phonetic=0.4), prior=prior)
    assert kitchen[F["lm_gain"]] > 1.0  # the candidate's wording is far more usual
    assert kitchen[F["lm_gain"]] > shopping[F["lm_gain"]]
    assert none_features(q)[F["lm_gain"]] == 0.0
    # Without a prior the feature is neutral, as for a model trained before there was one.
    assert candidate_features(q, idx, Hit(row=0, dense=0.9, phonetic=0.95))[F["lm_gain"]] == 0.0
