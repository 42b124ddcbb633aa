"""The shipped MiniLM loads offline and gives sensible, normalised embeddings."""

from __future__ import annotations

import numpy as np

from selflearn.text.encoder import EMBEDDING_DIM, encode, load_bert, load_tokenizer


def test_encode_is_normalised_and_semantic() -> None:
    v = encode(["turn on the kitchen lights", "switch the kitchen lights on", "what's the weather in paris"])
    assert v.shape == (3, EMBEDDING_DIM)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_encode_empty() -> None:
    assert encode([]).shape == (0, EMBEDDING_DIM)


def test_bert_and_tokenizer_load() -> None:
    tok = load_tokenizer()
    ids = tok("turn on the lights", return_tensors="pt")
    out = load_bert()(**ids)
    assert out.last_hidden_state.shape[-1] == EMBEDDING_DIM
