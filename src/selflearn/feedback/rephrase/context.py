"""The dialogue context a contextual rephrase detector reads, built from candidate pairs alone.

For each request a that has at least one candidate follow-up (`feedback.pairs.candidate_pairs`),
one token sequence holds a's text, the assistant's response to a and a's log signals, then each
following request b_k in the window with a time-gap token before it (and b_k's own response and
signals when the log has them):

    [CLS] a [SEP] [RSP] response(a) [INT] intent(a) <barge> <err> <nlu conf> <asr conf> [SEP]
          <gap_1> b_1 <nlu conf b_1> [SEP] [RSP] response(b_1) ... [SEP]  <gap_2> b_2 ... [SEP] ...

Gaps, barge-ins, errors and bucketed confidences are single marker tokens (BERT's `[unusedN]` vocabulary
slots, so the pretrained embedding matrix keeps its shape and the saved weights stay loadable by
`selflearn.text.encoder.load_bert`). A span model predicts, per token, whether it starts or ends
the rephrase of a; the answer for pair (a, b_k) is read at the first and last token of b_k's text,
and "none" is read at [CLS].

Everything comes from `PAIRS_SCHEMA` columns (what a real log holds), so the detector plugs into
`feedback.chains.detect_sessions` like any `PairScorer`. b_k's response and signals come from the
pair row (b_k, ...) when b_k has a follow-up of its own; otherwise they are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Marker tokens: ids of BERT's [unusedN] vocabulary entries ([unused0] is id 1).
RSP, INT, BARGE_EARLY, BARGE_LATE, NO_BARGE, ERR, LOWCONF, NOINTENT, UNKNOWN = range(1, 10)
GAP_EDGES_S: tuple[float, ...] = (1.5, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 45.0)
"""Bucket edges (seconds since the previous request started) of the gap tokens."""
GAP_BASE = 20  # gap bucket k is token id GAP_BASE + k
CONF_EDGES: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
"""Bucket edges of the confidence tokens: the recognizer's and the NLU's confidence are what a log
says about a silent failure (no barge-in, no error code), so the model reads them, bucketed."""
NLU_CONF_BASE = 10  # NLU confidence bucket k is token id NLU_CONF_BASE + k (10..14)
ASR_CONF_BASE = 15  # ASR confidence bucket k is token id ASR_CONF_BASE + k (15..19)
CLS_ID, SEP_ID, PAD_ID = 101, 102, 0

_NEEDED = (
    "turn_id_a",
    "turn_id_b",
    "session_id",
    "hop",
    "gap_s",
    "text_a",
    "text_b",
    "barge_in_a",
    "barge_in_offset_ms_a",
    "response_duration_ms_a",
    "has_error_a",
    "nlu_confidence_a",
    "nlu_intent_a",
)


@dataclass(frozen=True)
class ContextConfig:
    """Truncation limits (in word pieces) that bound the sequence length, hence the cost."""

    max_text_tokens: int = 24
    max_response_tokens: int = 16
    max_intent_tokens: int = 4
    low_confidence: float = 0.5
    # Bucketed NLU/ASR confidence tokens instead of one low-confidence mark (models saved before
    # they existed set this False in their manifest's context overrides).
    confidence_tokens: bool = True


@dataclass
class Contexts:
    """Token sequences (one per request a with follow-ups) and where each pair's b sits in them.

    `pair_context[i]` is the sequence of pair row i; `first[i]`/`last[i]` the positions of the
    first and last token of its b's text there. `turn_a[c]` is the turn id of sequence c's a."""

    input_ids: list[np.ndarray]
    pair_context: np.ndarray
    first: np.ndarray
    last: np.ndarray
    turn_a: list[str]

    def __len__(self) -> int:
        return len(self.input_ids)


def conf_token(base: int, confidence: float | None) -> int:
    """The marker id of a confidence (None, e.g. a log without it, reads as the top bucket)."""
    c = 1.0 if confidence is None or confidence != confidence else float(confidence)
    return base + int(np.searchsorted(CONF_EDGES, c, side="right"))


def gap_token(gap_s: float) -> int:
    """The marker id of a time gap (seconds)."""
    return GAP_BASE + int(np.searchsorted(GAP_EDGES_S, max(gap_s, 0.0), side="right"))


class TextPieces:
    """Word-piece ids of texts, cached (request texts recur heavily in assistant traffic)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, list[int]] = {}

    def __call__(self, texts: list[str]) -> list[list[int]]:
        todo = sorted({t for t in texts if t not in self.cache})
        if todo:
            enc = self.tokenizer(todo, add_special_tokens=False)["input_ids"]
            for t, ids in zip(todo, enc, strict=True):
                self.cache[t] = list(ids)
        return [self.cache[t] for t in texts]


def _col(pairs: pa.Table, name: str, fill: Any) -> list[Any]:
    col = pairs.column(name)
    return list(pc.fill_null(col, fill).to_pylist()) if col.null_count else list(col.to_pylist())


def _optional(pairs: pa.Table, name: str) -> list[Any]:
    """A column that older pair tables may lack, as a list (None where missing)."""
    if name not in pairs.column_names:
        return [None] * pairs.num_rows
    return list(pairs.column(name).to_pylist())


def _signals(
    row: int,
    cols: dict[str, list[Any]],
    pieces: dict[str, list[int]],
    cfg: ContextConfig,
) -> list[int]:
    """[RSP] response [INT] intent + barge/error/confidence markers of the pair row's a."""
    out = [RSP, *pieces[cols["response_text_a"][row]][: cfg.max_response_tokens]]
    intent = cols["nlu_intent_a"][row]
    if intent:
        out += [INT, *pieces[intent.replace("_", " ")][: cfg.max_intent_tokens]]
    else:
        out.append(NOINTENT)
    if cols["barge_in_a"][row]:
        off = cols["barge_in_offset_ms_a"][row]
        dur = cols["response_duration_ms_a"][row]
        early = off is not None and off >= 0 and dur > 0 and off < 0.5 * dur
        out.append(BARGE_EARLY if early else BARGE_LATE)
    else:
        out.append(NO_BARGE)
    if cols["has_error_a"][row]:
        out.append(ERR)
    if cfg.confidence_tokens:
        out.append(conf_token(NLU_CONF_BASE, cols["nlu_confidence_a"][row]))
        out.append(conf_token(ASR_CONF_BASE, cols["asr_confidence_a"][row]))
    elif cols["nlu_confidence_a"][row] < cfg.low_confidence:
        out.append(LOWCONF)
    return out


def build_contexts(pairs: pa.Table, pieces: TextPieces, cfg: ContextConfig | None = None) -> Contexts:
    """One sequence per distinct a of `pairs` (`PAIRS_SCHEMA` rows, any order).

    Raises a KeyError naming the missing column when `pairs` is not a candidate-pair table; a
    table without `response_text_a` (written before the column existed) reads as empty responses.
    """
    cfg = cfg or ContextConfig()
    missing = [c for c in _NEEDED if c not in pairs.column_names]
    if missing:
        raise KeyError(f"pairs table lacks columns {missing}; expected feedback.pairs.PAIRS_SCHEMA")
    n = pairs.num_rows
    cols: dict[str, list[Any]] = {
        "turn_id_a": _col(pairs, "turn_id_a", ""),
        "turn_id_b": _col(pairs, "turn_id_b", ""),
        "hop": _col(pairs, "hop", 1),
        "gap_s": _col(pairs, "gap_s", 0.0),
        "text_a": _col(pairs, "text_a", ""),
        "text_b": _col(pairs, "text_b", ""),
        "barge_in_a": _col(pairs, "barge_in_a", False),
        "barge_in_offset_ms_a": pairs.column("barge_in_offset_ms_a").to_pylist(),
        "response_duration_ms_a": _col(pairs, "response_duration_ms_a", 0),
        "has_error_a": _col(pairs, "has_error_a", False),
        "nlu_confidence_a": _col(pairs, "nlu_confidence_a", 0.0),
        "nlu_intent_a": pairs.column("nlu_intent_a").to_pylist(),
        "response_text_a": (
            _col(pairs, "response_text_a", "") if "response_text_a" in pairs.column_names else [""] * n
        ),
        "asr_confidence_a": _optional(pairs, "asr_confidence_a"),
        "nlu_confidence_b": _optional(pairs, "nlu_confidence_b"),
    }
    intents = [i.replace("_", " ") for i in cols["nlu_intent_a"] if i]
    all_texts = cols["text_a"] + cols["text_b"] + cols["response_text_a"] + intents
    uniq = list(dict.fromkeys(all_texts))
    pieces_of = dict(zip(uniq, pieces(uniq), strict=True))

    # Rows of each a, in hop order; the first row of a turn as "a" carries its signals.
    rows_of: dict[str, list[int]] = {}
    for i, a in enumerate(cols["turn_id_a"]):
        rows_of.setdefault(a, []).append(i)
    pair_context = np.zeros(n, dtype=np.int64)
    first = np.zeros(n, dtype=np.int64)
    last = np.zeros(n, dtype=np.int64)
    seqs: list[np.ndarray] = []
    turn_a: list[str] = []
    tmax = cfg.max_text_tokens
    for a, rows in rows_of.items():
        rows.sort(key=lambda i: cols["hop"][i])
        r0 = rows[0]
        ids = [
            CLS_ID,
            *pieces_of[cols["text_a"][r0]][:tmax],
            SEP_ID,
            *_signals(r0, cols, pieces_of, cfg),
            SEP_ID,
        ]
        prev_gap = 0.0
        for i in rows:
            gap = float(cols["gap_s"][i])
            ids.append(gap_token(gap - prev_gap))
            prev_gap = gap
            text = pieces_of[cols["text_b"][i]][:tmax]
            start = len(ids)
            ids += text if text else [UNKNOWN]
            first[i], last[i] = start, len(ids) - 1
            if cfg.confidence_tokens:
                ids.append(conf_token(NLU_CONF_BASE, cols["nlu_confidence_b"][i]))
            ids.append(SEP_ID)
            own = rows_of.get(cols["turn_id_b"][i])
            if own is not None and i != rows[-1]:
                ids += [*_signals(own[0], cols, pieces_of, cfg), SEP_ID]
            pair_context[i] = len(seqs)
        seqs.append(np.asarray(ids, dtype=np.int64))
        turn_a.append(a)
    return Contexts(input_ids=seqs, pair_context=pair_context, first=first, last=last, turn_a=turn_a)


def pad_batch(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), right-padded to the longest sequence of the batch."""
    width = max((len(s) for s in seqs), default=0)
    ids = np.full((len(seqs), width), PAD_ID, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for k, s in enumerate(seqs):
        ids[k, : len(s)] = s
        mask[k, : len(s)] = 1
    return ids, mask
