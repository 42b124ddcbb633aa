"""Multi-task training of the labelling model on implicit and explicit feedback labels.

The targets are the weak labels of `dataset` (each from a named log signal: the DefectScorer's
barge-in / rephrase / abandonment / error / explicit evidence, rephrase chains and time gaps for
goal segmentation, the NLU's own confident outputs on weakly successful goals for intent and slot
tags). Binary heads use per-turn weights (explicit answers count more than silence); masked
targets do not contribute. No truth table is read here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from selflearn.labels.dataset import Dialogue
from selflearn.labels.encoding import IGNORE, Batch, TextCache, make_batch
from selflearn.labels.model import HEADS, LabelModel

__all__ = ["TrainConfig", "batches", "multitask_loss", "train_multitask"]


@dataclass
class TrainConfig:
    """Optimisation knobs; `loss_weights` scale each head's loss."""

    epochs: int = 3
    batch_dialogues: int = 24
    lr: float = 1e-3  # fusion, dialogue transformer and heads
    bert_lr: float = 5e-5  # the fine-tuned top BERT layers
    weight_decay: float = 0.01
    seed: int = 0
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {
            "defect": 1.0,
            "goal_start": 1.0,
            "goal_success": 1.0,
            "intent": 0.5,
            "slots": 0.5,
        }
    )
    max_steps: int | None = None  # cap (tests)


def _weighted_bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    total = weight.sum()
    if total <= 0:
        return logits.sum() * 0.0
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return (loss * weight).sum() / total


def multitask_loss(
    out: dict[str, torch.Tensor], batch: Batch, weights: dict[str, float]
) -> dict[str, torch.Tensor]:
    """Per-head losses (and "total") for one batch; heads without targets are skipped."""
    tg = batch.targets
    losses: dict[str, torch.Tensor] = {}
    for h in HEADS:
        if weights.get(h, 0.0) > 0 and h in tg:
            losses[h] = _weighted_bce(out[h], tg[h], tg[h + "_w"])
    if weights.get("intent", 0.0) > 0 and "intent" in tg and bool((tg["intent"] >= 0).any()):
        logits = out["intent"].reshape(-1, out["intent"].shape[-1])
        losses["intent"] = F.cross_entropy(logits, tg["intent"].reshape(-1), ignore_index=-1)
    if weights.get("slots", 0.0) > 0 and "slots" in tg and bool((tg["slots"] != IGNORE).any()):
        s = out["slots"]
        losses["slots"] = F.cross_entropy(
            s.reshape(-1, s.shape[-1]), tg["slots"].reshape(-1), ignore_index=IGNORE
        )
    total = sum((weights.get(k, 1.0) * v for k, v in losses.items()), start=torch.zeros(()))
    losses["total"] = total
    return losses


def batches(
    dialogues: Sequence[Dialogue], size: int, rng: random.Random, shuffle: bool = True
) -> list[list[Dialogue]]:
    """Batches of dialogues of similar length (less padding), in shuffled batch order."""
    order = sorted(range(len(dialogues)), key=lambda i: (len(dialogues[i]), rng.random()))
    groups = [[dialogues[i] for i in order[a : a + size]] for a in range(0, len(order), size)]
    if shuffle:
        rng.shuffle(groups)
    return groups


def make_optimizer(model: LabelModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    bert = [p for p in model.bert.parameters() if p.requires_grad]
    bert_ids = {id(p) for p in bert}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in bert_ids]
    groups = [{"params": rest, "lr": cfg.lr}]
    if bert:
        groups.append({"params": bert, "lr": cfg.bert_lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def train_multitask(
    model: LabelModel,
    dialogues: Sequence[Dialogue],
    cache: TextCache,
    tag_of: dict[str, int],
    cfg: TrainConfig,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train on the weak labels; returns the mean per-head losses of each epoch.

    `progress(n_dialogues_done, last_losses)` is called after every step."""
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    opt = make_optimizer(model, cfg)
    history: list[dict[str, float]] = []
    steps = 0
    for _epoch in range(cfg.epochs):
        model.train()
        sums: dict[str, float] = {}
        n = 0
        for group in batches(dialogues, cfg.batch_dialogues, rng):
            batch = make_batch(group, cache, tag_of, model.config.max_turns)
            losses = multitask_loss(model(batch.inputs), batch, cfg.loss_weights)
            opt.zero_grad()
            losses["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            vals = {k: float(v.detach()) for k, v in losses.items()}
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v
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
