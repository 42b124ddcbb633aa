from __future__ import annotations

import pyarrow as pa
import pytest

from selflearn.feedback.rephrase.context import (
    ASR_CONF_BASE,
    BARGE_EARLY,
    CLS_ID,
    ERR,
    LOWCONF,
    NLU_CONF_BASE,
    NO_BARGE,
    RSP,
    ContextConfig,
    TextPieces,
    build_contexts,
    conf_token,
    gap_token,
    pad_batch,
)
from selflearn.text.encoder import load_tokenizer


@pytest.fixture(scope="module")
def pieces() -> TextPieces:
    return TextPieces(load_tokenizer())


def test_one_context_per_request_with_follow_ups(
    toy: tuple[pa.Table, list[bool]], pieces: TextPieces
) -> None:
    pairs, _ = toy
    ctx = build_contexts(pairs, pieces)
    assert len(ctx) == 16  # two requests with follow-ups per session, 8 sessions
    assert ctx.turn_a[:2] == ["s0-1", "s0-2"]
    assert ctx.pair_context.tolist()[:3] == [0, 0, 1]
    seq = ctx.input_ids[0]
    assert seq[0] == CLS_ID and RSP in seq and BARGE_EARLY in seq and ERR in seq
    assert NO_BARGE in ctx.input_ids[1]


def test_span_positions_point_at_the_follow_up_text(
    toy: tuple[pa.Table, list[bool]], pieces: TextPieces
) -> None:
    pairs, _ = toy
    ctx = build_contexts(pairs, pieces)
    tok = pieces.tokenizer
    for i, want in enumerate(pairs.column("text_b").to_pylist()[:3]):
        seq = ctx.input_ids[ctx.pair_context[i]]
        got = tok.decode(seq[ctx.first[i] : ctx.last[i] + 1].tolist())
        assert got == want
        assert seq[ctx.first[i] - 1] == gap_token(4.0 if i == 0 else 46.0)  # gap since previous request


def test_gap_tokens_bucket_monotonically() -> None:
    toks = [gap_token(g) for g in (0.0, 2.0, 4.0, 9.0, 100.0)]
    assert toks == sorted(toks) and len(set(toks)) == 5


def test_missing_column_is_named(toy: tuple[pa.Table, list[bool]], pieces: TextPieces) -> None:
    pairs, _ = toy
    with pytest.raises(KeyError, match="gap_s"):
        build_contexts(pairs.drop_columns(["gap_s"]), pieces)


def test_pad_batch_masks_padding() -> None:
    ids, mask = pad_batch([pa.array([1, 2, 3]).to_numpy(), pa.array([4]).to_numpy()])
    assert ids.shape == (2, 3) and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_confidences_are_bucketed_tokens(toy: tuple[pa.Table, list[bool]], pieces: TextPieces) -> None:
    """a's NLU and ASR confidences follow its signals; each b's NLU confidence follows its text."""
    pairs, _ = toy
    ctx = build_contexts(pairs, pieces)
    seq = ctx.input_ids[ctx.pair_context[0]].tolist()
    nlu_a = pairs.column("nlu_confidence_a")[0].as_py()
    asr_a = pairs.column("asr_confidence_a")[0].as_py()
    assert conf_token(NLU_CONF_BASE, nlu_a) in seq and conf_token(ASR_CONF_BASE, asr_a) in seq
    nlu_b = pairs.column("nlu_confidence_b")[0].as_py()
    assert seq[ctx.last[0] + 1] == conf_token(NLU_CONF_BASE, nlu_b)
    toks = [conf_token(NLU_CONF_BASE, c) for c in (0.1, 0.4, 0.6, 0.8, 0.95)]
    assert toks == list(range(NLU_CONF_BASE, NLU_CONF_BASE + 5))
    assert conf_token(ASR_CONF_BASE, None) == ASR_CONF_BASE + 4  # unknown reads as confident
    old = build_contexts(pairs, pieces, ContextConfig(confidence_tokens=False))
    assert not any(NLU_CONF_BASE <= t < ASR_CONF_BASE + 5 for s in old.input_ids for t in s.tolist())
    assert LOWCONF not in seq
