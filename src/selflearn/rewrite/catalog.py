"""The catalog: phrasings the assistant is known to understand, as extra global rewrite candidates.

Online retrieval can only rewrite into a text somebody already said successfully, and the global
index keeps only texts at least k distinct users succeeded with. On a long tail of one-off requests
(the SLURP test bed: every goal a different real sentence) that index stays tiny, and most failing
requests have nothing right to be rewritten into. The assistant's own NLU training requests are a
second source of known-good phrasings: they carry no user data (no privacy threshold applies),
and the NLU reads them as it was taught to. Each catalog text joins the global index with what the
current NLU makes of it and zero users, so the ranker, which learns from the logs' feedback which
candidates to trust, can tell a catalog candidate from one people confirmed (``global_users`` is 0).

A catalog file is either plain text (one request per line) or JSON Lines whose records hold the
request under ``text`` or ``sentence`` (SLURP-format files work as they are).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selflearn.rewrite.retrieval import CandidateIndex
from selflearn.text.normalize import normalize_request

__all__ = ["CatalogEntry", "interpret_catalog", "read_catalog", "with_catalog"]

_TEXT_FIELDS = ("text", "sentence")


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One known-good phrasing and what the NLU makes of it now."""

    text: str
    interpretation: str | None
    intent: str | None
    nlu_confidence: float


def read_catalog(path: str | Path, errors: list[str] | None = None) -> list[str]:
    """Normalised, de-duplicated request texts of a catalog file, in first-seen order.

    Without `errors`, an unusable line raises a ValueError naming its line and field; with it,
    the message is appended there and reading goes on, so the good lines are kept and the bad
    ones are reported, never silently dropped."""
    path = Path(path)
    texts: dict[str, None] = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            raw = line.strip()
            if not raw:
                continue
            if raw.startswith("{"):
                problem, value = None, None
                try:
                    rec = json.loads(raw)
                except json.JSONDecodeError as e:
                    problem = f"{path}:{n}: not valid JSON ({e.msg})"
                else:
                    value = next((rec[f] for f in _TEXT_FIELDS if isinstance(rec.get(f), str)), None)
                    if value is None:
                        problem = f"{path}:{n}: record has no string field 'text' or 'sentence'"
                if problem is not None or value is None:
                    problem = problem or f"{path}:{n}: no request text"
                    if errors is None:
                        raise ValueError(problem)
                    errors.append(problem)
                    continue
                raw = value
            text = normalize_request(raw)
            if text:
                texts.setdefault(text, None)
    return list(texts)


def interpret_catalog(texts: Sequence[str], nlu: Any, batch_size: int = 256) -> list[CatalogEntry]:
    """What `nlu` (a fitted NluModel) understands by each text, in the logs' interpretation
    format, so a catalog candidate's reading compares with what logged successes were read as."""
    from selflearn.logs.flat import interpretation

    out: list[CatalogEntry] = []
    for i in range(0, len(texts), batch_size):
        chunk = list(texts[i : i + batch_size])
        for text, hyps in zip(chunk, nlu.predict_batch(chunk, n=1), strict=True):
            top = hyps[0] if hyps else None
            out.append(
                CatalogEntry(
                    text=text,
                    interpretation=interpretation(top),
                    intent=top.intent if top is not None else None,
                    nlu_confidence=float(top.confidence) if top is not None else 0.0,
                )
            )
    return out


def with_catalog(
    index: CandidateIndex, entries: Iterable[CatalogEntry], vectors: dict[str, np.ndarray]
) -> tuple[CandidateIndex, int]:
    """`index` plus the catalog entries it does not already hold (a logged success keeps its own
    statistics), as (new index, entries added). `vectors` maps each entry's text to its embedding.
    Catalog rows have no users, no count and no context: nobody has said them yet."""
    have = set(index.texts)
    new = [e for e in entries if e.text not in have and e.interpretation is not None]
    if not new:
        return index, 0
    n = len(new)
    merged = CandidateIndex(
        layer=index.layer,
        texts=[*index.texts, *(e.text for e in new)],
        embeddings=np.vstack([index.embeddings, *(vectors[e.text][None, :] for e in new)]),
        interpretations=[*index.interpretations, *(e.interpretation for e in new)],
        intents=[*index.intents, *(e.intent for e in new)],
        nlu_confidence=np.concatenate([index.nlu_confidence, [e.nlu_confidence for e in new]]),
        counts=np.concatenate([index.counts, np.zeros(n)]),
        distinct_users=np.concatenate([index.distinct_users, np.zeros(n)]),
        last_seen=np.concatenate([index.last_seen, np.zeros(n)]),
        contexts=[*index.contexts, *({} for _ in range(n))],
        users=[*(index.users or [[] for _ in index.texts]), *([] for _ in range(n))],
        sources=[*(index.sources or [[] for _ in index.texts]), *([] for _ in range(n))],
    )
    return merged, n
