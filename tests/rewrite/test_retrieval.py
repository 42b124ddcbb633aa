from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selflearn.rewrite.retrieval import (
    BiEncoder,
    CandidateIndex,
    PersonalIndexes,
    context_keys,
    phonetic_key,
)
from selflearn.text.encoder import EMBEDDING_DIM, encode


@pytest.fixture(scope="module")
def encoder() -> BiEncoder:
    return BiEncoder.load(None)


def _index(
    layer: str, texts: list[str], vecs: np.ndarray, users: list[list[str]] | None = None
) -> CandidateIndex:
    n = len(texts)
    return CandidateIndex(
        layer=layer,
        texts=texts,
        embeddings=vecs,
        interpretations=[f"intent{i}" for i in range(n)],
        intents=[f"intent{i}" for i in range(n)],
        nlu_confidence=np.full(n, 0.95),
        counts=np.arange(1, n + 1, dtype=np.float64),
        distinct_users=np.full(n, 3.0),
        last_seen=np.full(n, 1000.0),
        contexts=[{"dt:speaker": 1} for _ in range(n)],
        users=users or [["a", "b", "c"] for _ in range(n)],
    )


def test_phonetic_key_makes_misheard_words_close() -> None:
    from rapidfuzz import fuzz

    heard, meant, other = "turn of the lites", "turn off the lights", "play some jazz"
    assert fuzz.ratio(phonetic_key(heard), phonetic_key(meant)) > 90
    assert fuzz.ratio(phonetic_key(heard), phonetic_key(other)) < 50
    assert phonetic_key("set it to 21") != phonetic_key("set it to 12")  # numbers stay literal


def test_context_keys() -> None:
    assert context_keys("speaker", "kitchen", 7) == ["dt:speaker", "room:kitchen", "tod:morning"]
    assert context_keys(None, None, None) == []


def test_bi_encoder_matches_the_shared_encoder_and_caches(encoder: BiEncoder) -> None:
    texts = ["turn on the kitchen lights", "what's the weather tomorrow"]
    mine, shared = encoder.encode(texts), encode(texts)
    assert mine.shape == (2, EMBEDDING_DIM) and mine.dtype == np.float32
    assert np.allclose(np.sum(mine * shared, axis=1), 1.0, atol=1e-3)  # same model, same pooling
    hits = encoder.hits_
    a = encoder.encode_one("play some jazz")
    b = encoder.encode_one("play some jazz")
    assert encoder.hits_ == hits + 1 and np.array_equal(a, b)


def test_fine_tune_moves_sources_towards_targets_and_round_trips(tmp_path: Path) -> None:
    enc = BiEncoder.load(None)
    pairs = [
        ("lights of kitchen", "turn off the kitchen lights"),
        ("jaz please", "play jazz"),
        ("whether tomorrow", "what's the weather tomorrow"),
        ("lock door front", "lock the front door"),
    ]
    before = enc.encode([a for a, _ in pairs]) @ enc.encode([b for _, b in pairs]).T
    stats = enc.fine_tune(pairs, steps=6, batch_size=4, lr=5e-5)
    after = enc.encode([a for a, _ in pairs]) @ enc.encode([b for _, b in pairs]).T
    assert stats["steps"] == 6 and enc.fine_tuned_
    assert np.trace(after) > np.trace(before)  # each source closer to its own rephrase
    path = enc.save(tmp_path / "encoder.pt")
    again = BiEncoder.load(path)
    assert again.fine_tuned_
    assert np.allclose(again.encode(["play jazz"]), enc.encode(["play jazz"]), atol=2e-2)


def test_index_search_dense_and_phonetic(encoder: BiEncoder) -> None:
    texts = ["turn off the kitchen lights", "play jazz", "what's the weather tomorrow", "lock the front door"]
    idx = _index("global", texts, encoder.encode(texts))
    q = "turn of the kitchen lites"
    hits = idx.search(encoder.encode_one(q), q, k_dense=2, k_phonetic=1)
    assert idx.texts[hits[0].row] == "turn off the kitchen lights"
    assert hits[0].dense > 0.6 and hits[0].phonetic > 0.8
    assert all(-1.0 <= h.dense <= 1.0 + 1e-5 for h in hits)
    back = CandidateIndex.from_arrow("global", idx.to_arrow())
    assert back.texts == idx.texts and np.allclose(back.embeddings, idx.embeddings)
    assert back.contexts == idx.contexts and back.users == idx.users
    empty = CandidateIndex.from_arrow("global", idx.to_arrow().slice(0, 0))
    assert len(empty) == 0 and empty.search(idx.embeddings[0], q) == []


def test_index_rejects_mismatched_embeddings() -> None:
    with pytest.raises(ValueError, match="embeddings"):
        _index("global", ["a", "b"], np.zeros((3, EMBEDDING_DIM), np.float32))
    with pytest.raises(ValueError, match="layer"):
        _index("team", ["a"], np.zeros((1, EMBEDDING_DIM), np.float32))


def test_personal_indexes_only_search_the_asking_user() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2, EMBEDDING_DIM)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    mine = _index("personal", ["turn on my reading lamp"], v[:1], [["u1"]])
    theirs = _index("personal", ["call grandma on speaker"], v[1:], [["u2"]])
    personal = PersonalIndexes({"u1": mine, "u2": theirs})
    # u2's query is exactly u1's request: it still only ever sees u2's own candidates.
    idx, hits = personal.search("u2", v[:1], "turn on my reading lamp")
    assert idx is theirs and {idx.texts[h.row] for h in hits} == {"call grandma on speaker"}
    assert personal.search("nobody", v[:1], "x") == (None, [])
    back = PersonalIndexes.from_arrow(personal.to_arrow())
    assert back.users() == ["u1", "u2"] and back.get("u1").texts == ["turn on my reading lamp"]  # type: ignore[union-attr]
    assert personal.without(["u1"]).users() == ["u2"]


def test_compiled_encoder_embeds_single_queries_as_the_eager_model() -> None:
    enc = BiEncoder.load(None)
    texts = [
        "turn off the chicken lights",
        "hi",
        "play the song bohemian rhapsody by queen in the living room",
    ]
    eager = enc.encode(texts)
    for onnx, names in ((False, {"torchscript-fp32"}), (None, {"torchscript-fp32", "onnxruntime-fp32"})):
        enc.clear_cache()
        assert enc.trace(bf16=False, onnx=onnx) and enc.is_traced and enc.precision_ in names
        for text, want in zip(texts, eager, strict=True):
            assert np.allclose(enc.encode_one(text), want, rtol=0, atol=1e-5)
    # bfloat16, asked for, is close but not exact.
    enc.clear_cache()
    assert enc.trace(bf16=True, onnx=False) and enc.precision_ == "torchscript-bf16"
    for text, want in zip(texts, eager, strict=True):
        assert float(enc.encode_one(text)[0] @ want) >= 0.9995
    # A copy (pickled state) encodes eagerly, the same.
    import copy

    twin = copy.deepcopy(enc)
    twin.clear_cache()  # (the cache holds the bfloat16 embeddings)
    assert not twin.is_traced and np.allclose(twin.encode_one(texts[0]), eager[0], atol=1e-5)
    # Fine-tuning changes the weights frozen into the compiled form, so it is dropped.
    enc.fine_tune([("kitten lights off", "kitchen lights off"), ("play jas", "play jazz")], steps=1)
    assert not enc.is_traced and enc.precision_ == "eager"
