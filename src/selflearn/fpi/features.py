"""Log-only features of a request turn, for failure point isolation.

Everything here is read from the flat log view (`selflearn.logs.flat.FLAT_SCHEMA`): what the
assistant heard and how sure each stage was, the codes stages failed with, what it answered, and
what the person did next (barge-in, explicit feedback, and above all the *following turns*: a
retry that repeats the request word for word points at understanding, a retry whose recognition
differs from this turn's points at recognition, a new request points at success). No truth-table
column is read: a deployed assistant has exactly these inputs.

Texts (the recognised request, the response, the next turn's request and the understood
interpretation) are encoded with the shipped MiniLM (`selflearn.text.encoder`); each distinct
text is encoded once, so a log full of repeats costs little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa

from selflearn.logs.flat import FLAT_SCHEMA
from selflearn.logs.records import DeviceType, StageError

__all__ = [
    "FEATURE_VERSION",
    "NUMERIC_NAMES",
    "TEXT_NAMES",
    "FeatureSet",
    "build_features",
    "interpretation_text",
    "word_edit_ratio",
]

FEATURE_VERSION = "fpi-features-2"
TEXT_NAMES: tuple[str, ...] = ("request", "response", "interpretation", "next_request")
Encoder = Callable[[list[str]], np.ndarray]

_ERRORS: tuple[str, ...] = tuple(str(e) for e in StageError)
_DEVICES: tuple[str, ...] = tuple(str(d) for d in DeviceType)
_STATUSES: tuple[str, ...] = ("ok", "failed", "none")


def _numeric_names() -> tuple[str, ...]:
    names = [
        "wake_detected",
        "wake_score",
        "asr_confidence",
        "asr_margin",
        "asr_words",
        "asr_empty",
        "rewrite_fired",
        "nlu_has_intent",
        "nlu_confidence",
        "nlu_margin",
        "nlu_slots",
        "resolution_has_entities",
        "resolution_min_score",
        *(f"action_{s}" for s in _STATUSES),
        "response_s",
        "response_empty",
        "response_apology",
        "barge_in",
        "barge_in_fraction",
        "explicit_positive",
        "explicit_negative",
        *(f"error_{e}" for e in _ERRORS),
        "n_errors",
        *(f"device_{d}" for d in _DEVICES),
        "hour_sin",
        "hour_cos",
        "session_position",
        "session_turns",
        "turns_after",
        "is_last",
        "cos_request_response",
        "cos_request_interpretation",
    ]
    for rel in ("next", "next2", "prev"):
        names += [
            f"{rel}_exists",
            f"{rel}_gap_s",
            f"{rel}_cos",
            f"{rel}_word_edit",
            f"{rel}_same_text",
            f"{rel}_same_intent",
            f"{rel}_nlu_confidence",
            f"{rel}_has_error",
            f"{rel}_barge_in",
            f"{rel}_explicit_negative",
            f"{rel}_interpretation_cos",
            f"{rel}_same_interpretation",
        ]
    return tuple(names)


NUMERIC_NAMES: tuple[str, ...] = _numeric_names()


@dataclass
class FeatureSet:
    """Features of n turns: `numeric` (n, len(numeric_names)) float32 and `texts`
    (n, len(text_names), 384) float32 unit vectors (zero for an empty text), plus the columns a
    report groups by (`meta`: turn_id, session_id, day, intent, device, room, request)."""

    turn_ids: list[str]
    numeric: np.ndarray
    texts: np.ndarray
    numeric_names: tuple[str, ...] = NUMERIC_NAMES
    text_names: tuple[str, ...] = TEXT_NAMES
    meta: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.turn_ids)

    def flat_matrix(self) -> np.ndarray:
        """Numbers and text embeddings side by side, (n, k + 4*384): the gradient-boosting input."""
        return np.hstack([self.numeric, self.texts.reshape(len(self), -1)]).astype(np.float32)

    def subset(self, index: Sequence[int] | np.ndarray) -> FeatureSet:
        idx = np.asarray(index, dtype=np.int64)
        return FeatureSet(
            turn_ids=[self.turn_ids[i] for i in idx],
            numeric=self.numeric[idx],
            texts=self.texts[idx],
            numeric_names=self.numeric_names,
            text_names=self.text_names,
            meta={k: [v[i] for i in idx] for k, v in self.meta.items()},
        )


def word_edit_ratio(a: str, b: str) -> float:
    """Word-level Levenshtein distance of `a` and `b` over the longer length (0: identical)."""
    wa, wb = a.split(), b.split()
    if not wa and not wb:
        return 0.0
    prev = list(range(len(wb) + 1))
    for i, x in enumerate(wa, 1):
        cur = [i] + [0] * len(wb)
        for j, y in enumerate(wb, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1] / max(len(wa), len(wb))


def interpretation_text(interp: str | None) -> str:
    """``"alarm_set|time=five am"`` -> ``"alarm set time five am"``: what was understood, as words
    the sentence encoder can compare with the request."""
    if not interp:
        return ""
    parts = interp.split("|")
    words = [parts[0].replace("_", " ")]
    for p in parts[1:]:
        name, _, value = p.partition("=")
        words.append(f"{name.replace('_', ' ')} {value.replace('_', ' ').replace('.', ' ')}")
    return " ".join(words)


def _default_encoder(texts: list[str]) -> np.ndarray:
    from selflearn.text.encoder import encode

    return encode(texts)


def _encode_unique(texts: list[str], encoder: Encoder) -> np.ndarray:
    """Encode each distinct non-empty text once; empty texts get a zero vector."""
    uniq = sorted({t for t in texts if t})
    out = np.zeros((len(texts), 384), dtype=np.float32)
    if not uniq:
        return out
    vecs = np.asarray(encoder(uniq), dtype=np.float32)
    if vecs.shape != (len(uniq), 384):
        raise ValueError(f"encoder returned shape {vecs.shape}, expected ({len(uniq)}, 384)")
    pos = {t: i for i, t in enumerate(uniq)}
    for i, t in enumerate(texts):
        if t:
            out[i] = vecs[pos[t]]
    return out


def _check_columns(table: pa.Table) -> None:
    missing = [n for n in FLAT_SCHEMA.names if n not in table.column_names]
    if missing:
        raise ValueError(f"flat log table lacks column(s) {missing}: pass logs.io.read_flat output")


def _f(v: Any, default: float = 0.0) -> float:
    return default if v is None else float(v)


def build_features(flat: pa.Table, encoder: Encoder | None = None) -> FeatureSet:
    """Features for every turn of a flat log table (`logs.io.read_flat`), in table order.

    Sessions are ordered by (timestamp, turn_index); the next/previous turn relations are taken
    within the session only. `encoder` maps texts to (n, 384) unit vectors (default: MiniLM)."""
    _check_columns(flat)
    enc = encoder or _default_encoder
    rows = flat.to_pylist()
    n = len(rows)
    for i, r in enumerate(rows):
        if not r["turn_id"] or not r["session_id"]:
            raise ValueError(f"flat row {i} (turn_id={r['turn_id']!r}): turn_id and session_id are required")
        if r["timestamp"] is None:
            raise ValueError(f"turn {r['turn_id']}: field 'timestamp' is null")
    sessions: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        sessions.setdefault(r["session_id"], []).append(i)
    pos = [0] * n
    order: dict[str, list[int]] = {}
    for sid, idx in sessions.items():
        idx.sort(key=lambda i: (rows[i]["timestamp"], rows[i]["turn_index"], rows[i]["turn_id"]))
        order[sid] = idx
        for p, i in enumerate(idx):
            pos[i] = p

    requests = [(r["asr_text"] or "").strip() for r in rows]
    responses = [(r["response_text"] or "").strip() for r in rows]
    interps = [interpretation_text(r["nlu_interpretation"]) for r in rows]
    req_vec = _encode_unique(requests, enc)
    resp_vec = _encode_unique(responses, enc)
    int_vec = _encode_unique(interps, enc)

    def rel(i: int, k: int) -> int | None:
        idx = order[rows[i]["session_id"]]
        j = pos[i] + k
        return idx[j] if 0 <= j < len(idx) else None

    next_vec = np.zeros_like(req_vec)
    numeric = np.zeros((n, len(NUMERIC_NAMES)), dtype=np.float32)
    for i, r in enumerate(rows):
        nxt = rel(i, 1)
        if nxt is not None:
            next_vec[i] = req_vec[nxt]
        numeric[i] = _numeric_row(i, r, rows, rel, requests, responses, req_vec, resp_vec, int_vec, order)
    texts = np.stack([req_vec, resp_vec, int_vec, next_vec], axis=1)
    meta: dict[str, list[Any]] = {
        "turn_id": [r["turn_id"] for r in rows],
        "session_id": [r["session_id"] for r in rows],
        "user_id": [r["user_id"] for r in rows],
        "day": [r["timestamp"].date().isoformat() for r in rows],
        "intent": [r["nlu_intent"] or "(none)" for r in rows],
        "device": [r["device_id"] or "(unknown)" for r in rows],
        "device_type": [r["device_type"] or "(unknown)" for r in rows],
        "room": [r["room"] or "(unknown)" for r in rows],
        "request": requests,
        "response": responses,
    }
    return FeatureSet([r["turn_id"] for r in rows], numeric, texts, meta=meta)


def _end_time(r: dict[str, Any]) -> datetime:
    from datetime import timedelta

    ts: datetime = r["timestamp"]
    return ts + timedelta(milliseconds=_f(r["response_duration_ms"]))


def _numeric_row(
    i: int,
    r: dict[str, Any],
    rows: list[dict[str, Any]],
    rel: Callable[[int, int], int | None],
    requests: list[str],
    responses: list[str],
    req_vec: np.ndarray,
    resp_vec: np.ndarray,
    int_vec: np.ndarray,
    order: dict[str, list[int]],
) -> list[float]:
    codes = set(r["error_codes"] or [])
    status = r["action_status"] or "none"
    dur = _f(r["response_duration_ms"])
    resp = responses[i]
    hour = r["timestamp"].hour + r["timestamp"].minute / 60.0
    sess = order[r["session_id"]]
    position = sess.index(i)  # sessions are a handful of turns
    interp = r["nlu_interpretation"] or ""
    vals: list[float] = [
        float(bool(r["wake_detected"])),
        _f(r["wake_score"], 1.0),
        _f(r["asr_confidence"]),
        _f(r["asr_margin"]),
        float(len(requests[i].split())),
        float(not requests[i]),
        float(r["rewrite_text"] is not None),
        float(r["nlu_intent"] is not None),
        _f(r["nlu_confidence"]),
        _f(r["nlu_margin"]),
        float(max(0, interp.count("|"))),
        float(r["resolution_min_score"] is not None),
        _f(r["resolution_min_score"], -1.0),
        *(float(status == s) for s in _STATUSES),
        dur / 1000.0,
        float(not resp),
        float(resp.lower().startswith("sorry")),
        float(bool(r["barge_in"])),
        _f(r["barge_in_offset_ms"]) / dur if r["barge_in"] and dur > 0 else 0.0,
        float(r["explicit_feedback"] == "positive"),
        float(r["explicit_feedback"] == "negative"),
        *(float(e in codes) for e in _ERRORS),
        float(len(codes)),
        *(float(r["device_type"] == d) for d in _DEVICES),
        float(np.sin(2 * np.pi * hour / 24)),
        float(np.cos(2 * np.pi * hour / 24)),
        float(position),
        float(len(sess)),
        float(len(sess) - position - 1),
        float(position == len(sess) - 1),
        float(req_vec[i] @ resp_vec[i]),
        float(req_vec[i] @ int_vec[i]),
    ]
    for k in (1, 2, -1):
        j = rel(i, k)
        if j is None:
            vals += [0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
            continue
        o = rows[j]
        if k > 0:
            gap = (o["timestamp"] - _end_time(r)).total_seconds()
        else:
            gap = (r["timestamp"] - _end_time(o)).total_seconds()
        vals += [
            1.0,
            float(min(max(gap, 0.0), 600.0)),
            float(req_vec[i] @ req_vec[j]),
            word_edit_ratio(requests[i], requests[j]),
            float(requests[i] == requests[j] and bool(requests[i])),
            float(r["nlu_intent"] is not None and r["nlu_intent"] == o["nlu_intent"]),
            _f(o["nlu_confidence"]),
            float(bool(o["error_codes"])),
            float(bool(o["barge_in"])),
            float(o["explicit_feedback"] == "negative"),
            float(int_vec[i] @ int_vec[j]),
            float(bool(interp) and interp == (o["nlu_interpretation"] or "")),
        ]
    return vals
