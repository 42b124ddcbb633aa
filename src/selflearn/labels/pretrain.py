"""Self-supervised contrastive pretraining on unlabelled logs with synthetic defects.

Every dialogue gets a corrupted twin (Kachuee et al. 2021: a request paired with another
interaction's response is a negative; we add two more corruptions that keep the text fluent but
break the dialogue):

* ``swap``: responses of some turns are swapped in from other dialogues (the answer no longer fits);
* ``shuffle``: the turns of the dialogue are put in another order (a retry before its failure);
* ``slot``: a slot value in the request is replaced by another value of the same slot name seen
  elsewhere in the log, while the response stays (the answer talks about something else).

Objective: a per-turn binary "corrupted" head (the turns that were changed or moved) plus a
contrastive ranking term that scores each real dialogue above its corrupted twin
(softplus(s_real - s_corrupt), s = mean corrupted-logit). This teaches the turn encoder and the
dialogue transformer what a coherent exchange looks like before any feedback label is used.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from selflearn.labels.dataset import NUM_FEATURES, Dialogue
from selflearn.labels.encoding import TextCache, make_batch
from selflearn.labels.model import LabelModel
from selflearn.labels.train import TrainConfig, batches, make_optimizer

__all__ = ["CORRUPTIONS", "PretrainConfig", "corrupt_dialogue", "pretrain"]

CORRUPTIONS: tuple[str, ...] = ("swap", "shuffle", "slot")
_POS = NUM_FEATURES.index("position")
_LAST = NUM_FEATURES.index("is_last")


@dataclass
class PretrainConfig:
    epochs: int = 1
    batch_dialogues: int = 24
    lr: float = 1e-3
    bert_lr: float = 5e-5
    weight_decay: float = 0.01
    swap_share: float = 0.5  # share of a dialogue's turns whose response is swapped
    rank_weight: float = 0.5
    seed: int = 0
    max_steps: int | None = None


def _slot_pool(dialogues: Sequence[Dialogue]) -> dict[str, list[str]]:
    pool: dict[str, set[str]] = {}
    for d in dialogues:
        for spans in d.nlu_slots:
            for name, value, _s, _e in spans:
                pool.setdefault(name, set()).add(value)
    return {k: sorted(v) for k, v in pool.items()}


def corrupt_dialogue(
    d: Dialogue,
    others: Sequence[Dialogue],
    slot_pool: dict[str, list[str]],
    rng: random.Random,
    swap_share: float = 0.5,
) -> tuple[Dialogue, str]:
    """A corrupted copy of `d` with `corrupt` flags set, and the corruption used. Falls back to a
    response swap when the chosen corruption cannot apply (one turn, no slots)."""
    n = len(d)
    kinds = ["swap"]
    if n >= 2:
        kinds.append("shuffle")
    if any(any(len(slot_pool.get(name, ())) > 1 for name, *_ in spans) for spans in d.nlu_slots):
        kinds.append("slot")
    kind = rng.choice(kinds)
    flags = np.zeros(n, np.float32)
    requests, responses = list(d.requests), list(d.responses)
    cat, num = d.cat.copy(), d.num.copy()
    if kind == "swap":
        k = max(1, round(n * swap_share))
        for i in rng.sample(range(n), k):
            for _ in range(10):
                o = rng.choice(others)
                r = o.responses[rng.randrange(len(o))]
                if r != responses[i]:
                    responses[i] = r
                    flags[i] = 1.0
                    break
    elif kind == "shuffle":
        perm = list(range(n))
        while perm == list(range(n)):
            rng.shuffle(perm)
        requests = [d.requests[j] for j in perm]
        responses = [d.responses[j] for j in perm]
        cat, num = d.cat[perm].copy(), d.num[perm].copy()
        num[:, _POS] = np.minimum(np.arange(n), 10) / 10.0
        num[:, _LAST] = 0.0
        num[-1, _LAST] = 1.0
        flags = np.array([1.0 if j != i else 0.0 for i, j in enumerate(perm)], np.float32)
    else:
        cands = [
            (i, name, s, e)
            for i, spans in enumerate(d.nlu_slots)
            for name, _v, s, e in spans
            if len(slot_pool.get(name, ())) > 1
        ]
        i, name, s, e = rng.choice(cands)
        old = requests[i][s:e]
        new = rng.choice([v for v in slot_pool[name] if v.lower() != old.lower()] or [old])
        requests[i] = requests[i][:s] + new + requests[i][e:]
        flags[i] = 1.0 if new.lower() != old.lower() else 0.0
    out = replace(
        d,
        requests=requests,
        responses=responses,
        cat=cat,
        num=num,
        slot_tags=[None] * n,
        nlu_slots=[[] for _ in range(n)],
        corrupt=flags,
    )
    return out, kind


def pretrain(
    model: LabelModel,
    dialogues: Sequence[Dialogue],
    cache: TextCache,
    cfg: PretrainConfig,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    compute: Callable[[], None] | None = None,
) -> list[dict[str, float]]:
    """Contrastive pretraining; returns mean losses per epoch. The corrupted texts are added to
    `cache`; `compute()` (default `cache.compute(model)`) fills their lower-layer states."""
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    pool = _slot_pool(dialogues)
    twins: list[tuple[Dialogue, Dialogue]] = []
    for d in dialogues:
        real = replace(d, corrupt=np.zeros(len(d), np.float32))
        fake, _kind = corrupt_dialogue(d, dialogues, pool, rng, cfg.swap_share)
        twins.append((real, fake))
    for real, fake in twins:
        cache.add(list(zip(real.requests, real.responses, strict=True)))
        cache.add(list(zip(fake.requests, fake.responses, strict=True)))
    if compute is not None:
        compute()
    else:
        cache.compute(model)
    index = {id(real): fake for real, fake in twins}
    opt = make_optimizer(model, TrainConfig(lr=cfg.lr, bert_lr=cfg.bert_lr, weight_decay=cfg.weight_decay))
    history: list[dict[str, float]] = []
    steps = 0
    for _epoch in range(cfg.epochs):
        model.train()
        sums = {"corrupt": 0.0, "rank": 0.0, "total": 0.0}
        n = 0
        for group in batches([r for r, _f in twins], max(1, cfg.batch_dialogues // 2), rng):
            both = [*group, *(index[id(g)] for g in group)]
            batch = make_batch(both, cache, None, model.config.max_turns)
            out = model(batch.inputs)
            target = batch.targets["corrupt"]
            valid = (batch.inputs.turn_index >= 0).float()
            bce = (F.binary_cross_entropy_with_logits(out["corrupt"], target, reduction="none") * valid).sum()
            bce = bce / valid.sum().clamp(min=1.0)
            score = (out["corrupt"] * valid).sum(1) / valid.sum(1).clamp(min=1.0)
            g = len(group)
            rank = F.softplus(score[:g] - score[g:]).mean()
            total = bce + cfg.rank_weight * rank
            opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            vals = {
                "corrupt": float(bce.detach()),
                "rank": float(rank.detach()),
                "total": float(total.detach()),
            }
            for k, v in vals.items():
                sums[k] += v
            n += 1
            steps += 1
            if progress is not None:
                progress(len(group), vals)
            if cfg.max_steps is not None and steps >= cfg.max_steps:
                break
        history.append({k: v / max(n, 1) for k, v in sums.items()})
        if cfg.max_steps is not None and steps >= cfg.max_steps:
            break
    model.eval()
    return history
