"""Tokenised turn texts with cached frozen-layer states, and padded batches of dialogues.

Assistant traffic repeats itself, so every distinct (request, response) pair is tokenised and run
through the frozen lower BERT layers once (`TextCache.compute`); training steps and labelling
batches gather those states. States are kept in float16 to halve the memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np
import torch

from selflearn.labels.dataset import Dialogue
from selflearn.labels.model import LabelModel, TurnBatch

__all__ = ["Batch", "TextCache", "make_batch"]

IGNORE = -100


@dataclass
class TextCache:
    """Distinct (request, response) pairs: word pieces, request-piece offsets, lower states."""

    tokenizer: Any
    max_length: int
    index: dict[tuple[str, str], int] = field(default_factory=dict)
    input_ids: list[np.ndarray] = field(default_factory=list)
    type_ids: list[np.ndarray] = field(default_factory=list)
    request_pieces: list[np.ndarray] = field(default_factory=list)  # positions of request pieces
    offsets: list[list[tuple[int, int]]] = field(default_factory=list)  # their char spans
    hidden: list[torch.Tensor | None] = field(default_factory=list)

    def add(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """Index of each pair, tokenising the new ones (in one batched tokenizer call)."""
        new = list(dict.fromkeys(p for p in pairs if p not in self.index))
        if new:
            enc = self.tokenizer(
                [p[0] for p in new],
                [p[1] for p in new],
                truncation="longest_first",
                max_length=self.max_length,
                return_offsets_mapping=True,
            )
            for i, p in enumerate(new):
                seq = enc.sequence_ids(i)
                pos = np.array([j for j, s in enumerate(seq) if s == 0], dtype=np.int64)
                offs = enc["offset_mapping"][i]
                self.index[p] = len(self.input_ids)
                self.input_ids.append(np.asarray(enc["input_ids"][i], dtype=np.int64))
                self.type_ids.append(np.asarray(enc["token_type_ids"][i], dtype=np.int64))
                self.request_pieces.append(pos)
                self.offsets.append([(int(offs[j][0]), int(offs[j][1])) for j in pos])
                self.hidden.append(None)
        return [self.index[p] for p in pairs]

    def _padded(self, ids: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = max(len(self.input_ids[i]) for i in ids)
        inp = torch.zeros((len(ids), n), dtype=torch.long)
        typ = torch.zeros((len(ids), n), dtype=torch.long)
        mask = torch.zeros((len(ids), n), dtype=torch.long)
        for r, i in enumerate(ids):
            k = len(self.input_ids[i])
            inp[r, :k] = torch.from_numpy(self.input_ids[i])
            typ[r, :k] = torch.from_numpy(self.type_ids[i])
            mask[r, :k] = 1
        return inp, typ, mask

    def compute(
        self, model: LabelModel, batch_size: int = 128, progress: Callable[[int], None] | None = None
    ) -> None:
        """Run the frozen lower layers over every pair that has no state yet (length-sorted
        batches, so little padding is computed)."""
        todo = sorted(
            (i for i, h in enumerate(self.hidden) if h is None), key=lambda i: len(self.input_ids[i])
        )
        model.eval()
        for a in range(0, len(todo), batch_size):
            ids = todo[a : a + batch_size]
            inp, typ, mask = self._padded(ids)
            h = model.lower(inp, typ, mask)
            for r, i in enumerate(ids):
                self.hidden[i] = h[r, : len(self.input_ids[i])].to(torch.float16)
            if progress is not None:
                progress(len(ids))


@dataclass
class Batch:
    """Model input plus targets for one batch of dialogues (targets unused at labelling time)."""

    inputs: TurnBatch
    pair_ids: list[int]  # cache index of each flattened turn
    targets: dict[str, torch.Tensor]


def _slot_targets(
    cache: TextCache, pid: int, spans: list[tuple[str, int, int]] | None, tag_of: dict[str, int], n: int
) -> torch.Tensor:
    out = torch.full((n,), IGNORE, dtype=torch.long)
    if spans is None:
        return out
    for pos, (s, e) in zip(cache.request_pieces[pid].tolist(), cache.offsets[pid], strict=True):
        tag = 0
        for name, a, b in spans:
            if s >= a and e <= b and e > s:
                tag = tag_of.get(name, 0)
                break
        out[pos] = tag
    return out


def make_batch(
    dialogues: Sequence[Dialogue],
    cache: TextCache,
    tag_of: dict[str, int] | None = None,
    max_turns: int = 32,
    with_targets: bool = True,
) -> Batch:
    """Pad `dialogues` (each cut to its first `max_turns` turns; `dataset.split_long` windows
    longer ones beforehand) into a `Batch`. Lower states must be computed for every pair first."""
    pair_ids: list[int] = []
    rows: list[list[int]] = []
    for d in dialogues:
        ids = cache.add(list(zip(d.requests[:max_turns], d.responses[:max_turns], strict=True)))
        rows.append(list(range(len(pair_ids), len(pair_ids) + len(ids))))
        pair_ids.extend(ids)
    n_tok = max(len(cache.input_ids[p]) for p in pair_ids)
    hid = cache.hidden[pair_ids[0]]
    if hid is None:
        raise RuntimeError("lower-layer states missing: call TextCache.compute(model) first")
    hidden = torch.zeros((len(pair_ids), n_tok, hid.shape[-1]), dtype=torch.float32)
    token_mask = torch.zeros((len(pair_ids), n_tok), dtype=torch.long)
    request_mask = torch.zeros((len(pair_ids), n_tok), dtype=torch.bool)
    for r, p in enumerate(pair_ids):
        h = cache.hidden[p]
        if h is None:
            raise RuntimeError("lower-layer states missing: call TextCache.compute(model) first")
        hidden[r, : h.shape[0]] = h.float()
        token_mask[r, : h.shape[0]] = 1
        request_mask[r, cache.request_pieces[p]] = True
    t_max = max(len(r) for r in rows)
    turn_index = torch.full((len(dialogues), t_max), -1, dtype=torch.long)
    for b, members in enumerate(rows):
        turn_index[b, : len(members)] = torch.tensor(members, dtype=torch.long)
    cat = torch.from_numpy(np.concatenate([d.cat[:max_turns] for d in dialogues])).long()
    num = torch.from_numpy(np.concatenate([d.num[:max_turns] for d in dialogues])).float()
    inputs = TurnBatch(hidden, token_mask, request_mask, cat, num, turn_index)
    targets: dict[str, torch.Tensor] = {}
    if with_targets:

        def per_turn(get: Callable[[Dialogue], np.ndarray], fill: float, dtype: torch.dtype) -> torch.Tensor:
            out = torch.full((len(dialogues), t_max), fill, dtype=dtype)
            for b, d in enumerate(dialogues):
                v = get(d)[:max_turns]
                out[b, : len(v)] = torch.from_numpy(np.asarray(v)).to(dtype)
            return out

        for head in ("defect", "goal_start", "goal_success"):
            soft = head + "_soft"
            use_soft = all(len(getattr(d, soft, ())) == len(d) for d in dialogues) and hasattr(
                dialogues[0], soft
            )
            targets[head] = per_turn(attrgetter(soft if use_soft else head), 0.0, torch.float32)
            targets[head + "_w"] = per_turn(attrgetter(head + "_w"), 0.0, torch.float32)
        targets["intent"] = per_turn(lambda d: d.intent, -1, torch.long)
        if any(d.corrupt is not None for d in dialogues):
            targets["corrupt"] = per_turn(
                lambda d: d.corrupt if d.corrupt is not None else np.zeros(len(d)), 0.0, torch.float32
            )
        tags = tag_of or {}
        slot_rows: list[torch.Tensor] = []
        for d in dialogues:
            for i in range(min(len(d), max_turns)):
                pid = pair_ids[len(slot_rows)]
                slot_rows.append(_slot_targets(cache, pid, d.slot_tags[i], tags, n_tok))
        targets["slots"] = torch.stack(slot_rows)
    return Batch(inputs, pair_ids, targets)
