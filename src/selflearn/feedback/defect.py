"""Per-turn defect scores from the log alone: implicit signals (barge-in, rephrase, abandonment,
stage errors) and explicit feedback, combined into one score in [0, 1].

Signals combine as a noisy-OR (each is independent evidence that the turn failed), then explicit
positive feedback caps the score: the user saying it worked outweighs any implicit hint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.feedback.pairs import request_turns, select_links, session_starts
from selflearn.logs.records import FeedbackKind, StageError

FEEDBACK_SCHEMA = pa.schema(
    [
        ("turn_id", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("defect_score", pa.float64()),
        ("defective", pa.bool_()),
        ("barge_in", pa.bool_()),
        ("rephrased", pa.bool_()),  # the next request (hop-1, or hop-2 skip) is a detected rephrase
        ("abandoned", pa.bool_()),
        ("explicit_negative", pa.bool_()),
        ("explicit_positive", pa.bool_()),
        ("has_error", pa.bool_()),
        ("rephrase_prob", pa.float64()),  # probability of the outgoing rephrase link; 0 if none
    ]
)
"""One row per request turn (wake fired), in session/time order."""

DEFAULT_ERROR_WEIGHTS: dict[str, float] = {
    StageError.ASR_NO_TEXT.value: 0.8,
    StageError.NLU_NO_INTENT.value: 0.8,
    StageError.NLU_LOW_CONFIDENCE.value: 0.5,
    StageError.ER_UNRESOLVED.value: 0.75,
    StageError.ER_AMBIGUOUS.value: 0.5,
    StageError.ACTION_FAILED.value: 0.85,
    StageError.ACTION_UNSUPPORTED.value: 0.75,
    StageError.ACTION_MISSING_SLOT.value: 0.5,
    StageError.WAKE_FALSE.value: 0.3,
}
"""How strongly each stage error says the turn failed. A clarifying question (ambiguous entity,
missing slot) is a softer failure than a hard one: the dialogue may still succeed."""

DEFAULT_CLARIFY_CODES: tuple[str, ...] = (
    StageError.ER_AMBIGUOUS.value,
    StageError.ACTION_MISSING_SLOT.value,
    StageError.NLU_LOW_CONFIDENCE.value,
)


class DefectScorer:
    """Configurable per-turn defect scoring; `score(flat, pair_probs, rephrase_threshold)` is pure.

    Contributions (noisy-OR): barge-in `barge_in_weight + early_barge_in_weight * (1 - f)` where f
    is the barge-in offset as a fraction of the response duration (interrupting at once is
    stronger than cutting off the last words; unknown offset: f = `unknown_offset_fraction`);
    `rephrase_weight` if the next request is a detected rephrase; `abandon_weight` if the session
    ends right after a turn with an error, a barge-in, or a clarifying/failed response; the
    strongest error code's weight; `explicit_negative_weight`. Explicit positive feedback caps the
    score at `explicit_positive_cap`. `defective = score >= defect_threshold`.
    """

    def __init__(
        self,
        barge_in_weight: float = 0.35,
        early_barge_in_weight: float = 0.5,
        unknown_offset_fraction: float = 0.5,
        rephrase_weight: float = 0.7,
        abandon_weight: float = 0.5,
        error_weight: float = 0.7,
        error_weights: Mapping[str, float] | None = None,
        explicit_negative_weight: float = 0.95,
        explicit_positive_cap: float = 0.05,
        clarify_codes: tuple[str, ...] = DEFAULT_CLARIFY_CODES,
        defect_threshold: float = 0.5,
    ) -> None:
        self.barge_in_weight = barge_in_weight
        self.early_barge_in_weight = early_barge_in_weight
        self.unknown_offset_fraction = unknown_offset_fraction
        self.rephrase_weight = rephrase_weight
        self.abandon_weight = abandon_weight
        self.error_weight = error_weight
        self.error_weights = error_weights
        self.explicit_negative_weight = explicit_negative_weight
        self.explicit_positive_cap = explicit_positive_cap
        self.clarify_codes = clarify_codes
        self.defect_threshold = defect_threshold

    def _error_strength(self, error_codes: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
        """(max error weight per turn, any clarify code per turn)."""
        weights = dict(DEFAULT_ERROR_WEIGHTS)
        if self.error_weights:
            weights.update(self.error_weights)
        lists = error_codes.to_pylist()
        clar = set(self.clarify_codes)
        strength = np.array(
            [max((weights.get(c, self.error_weight) for c in (v or [])), default=0.0) for v in lists],
            dtype=np.float64,
        )
        clarify = np.array([any(c in clar for c in (v or [])) for v in lists], dtype=bool)
        return strength, clarify

    def score_requests(self, req: pa.Table, links: pa.Table) -> pa.Table:
        """Score `request_turns` output given its selected rephrase `links` (`LINKS_SCHEMA`)."""
        n = req.num_rows
        if n == 0:
            return FEEDBACK_SCHEMA.empty_table()

        def np_col(name: str, fill: Any, dtype: Any) -> np.ndarray:
            return np.asarray(
                pc.fill_null(req.column(name), fill).to_numpy(zero_copy_only=False), dtype=dtype
            )

        barge = np_col("barge_in", False, bool)
        dur = np_col("response_duration_ms", 0, np.float64)
        off = np_col("barge_in_offset_ms", -1, np.float64)
        frac = np.where(
            (off >= 0) & (dur > 0),
            np.clip(off / np.maximum(dur, 1.0), 0.0, 1.0),
            self.unknown_offset_fraction,
        )
        c_barge = np.where(barge, self.barge_in_weight + self.early_barge_in_weight * (1.0 - frac), 0.0)

        err_strength, clarify_code = self._error_strength(req.column("error_codes"))
        has_error = err_strength > 0

        explicit = req.column("explicit_feedback")
        neg = np.asarray(pc.fill_null(pc.equal(explicit, FeedbackKind.NEGATIVE.value), False), dtype=bool)
        pos = np.asarray(pc.fill_null(pc.equal(explicit, FeedbackKind.POSITIVE.value), False), dtype=bool)
        pos &= ~neg

        # Rephrased: the turn is the source of a selected rephrase link.
        rprob = np.zeros(n, dtype=np.float64)
        rephrased = np.zeros(n, dtype=bool)
        if links.num_rows:
            src = pc.index_in(links.column("turn_id_a"), value_set=req.column("turn_id").combine_chunks())
            src_np = np.asarray(src.to_numpy(zero_copy_only=False), dtype=np.float64)
            ok = ~np.isnan(src_np)
            rows = src_np[ok].astype(np.int64)
            rprob[rows] = np.asarray(links.column("prob").to_numpy(), np.float64)[ok]
            rephrased[rows] = True

        # Abandonment: last request of its session after a failure-looking turn.
        starts = session_starts(req)
        last = np.zeros(n, dtype=bool)
        last[:-1] = starts[1:]
        last[-1] = True
        resp = pc.utf8_rtrim_whitespace(pc.fill_null(req.column("response_text"), ""))
        asks = np.asarray(pc.ends_with(resp, "?"), dtype=bool)
        status = req.column("action_status")
        failed = np.asarray(pc.fill_null(pc.equal(status, "failed"), False), dtype=bool)
        action_ok = np.asarray(pc.fill_null(pc.equal(status, "ok"), False), dtype=bool)
        clarifying = clarify_code | (asks & ~action_ok) | failed
        abandoned = last & (has_error | barge | clarifying) & ~pos

        contribs = [
            c_barge,
            np.where(rephrased, self.rephrase_weight, 0.0),
            np.where(abandoned, self.abandon_weight, 0.0),
            err_strength,
            np.where(neg, self.explicit_negative_weight, 0.0),
        ]
        survive = np.ones(n, dtype=np.float64)
        for c in contribs:
            survive *= 1.0 - np.clip(c, 0.0, 1.0)
        score = 1.0 - survive
        score = np.where(pos, np.minimum(score, self.explicit_positive_cap), score)
        return pa.table(
            {
                "turn_id": req.column("turn_id"),
                "session_id": req.column("session_id"),
                "user_id": req.column("user_id"),
                "defect_score": pa.array(score, pa.float64()),
                "defective": pa.array(score >= self.defect_threshold, pa.bool_()),
                "barge_in": pa.array(barge, pa.bool_()),
                "rephrased": pa.array(rephrased, pa.bool_()),
                "abandoned": pa.array(abandoned, pa.bool_()),
                "explicit_negative": pa.array(neg, pa.bool_()),
                "explicit_positive": pa.array(pos, pa.bool_()),
                "has_error": pa.array(has_error, pa.bool_()),
                "rephrase_prob": pa.array(rprob, pa.float64()),
            },
            schema=FEEDBACK_SCHEMA,
        )

    def score(
        self, flat: pa.Table, pair_probs: pa.Table | None = None, rephrase_threshold: float = 0.5
    ) -> pa.Table:
        """Per request turn of `flat` (complete sessions): `FEEDBACK_SCHEMA`. `pair_probs` are
        scored candidate pairs (turn_id_a, turn_id_b, prob); None means no rephrase evidence."""
        req = request_turns(flat)
        return self.score_requests(req, select_links(req, pair_probs, rephrase_threshold))

    __call__ = score
