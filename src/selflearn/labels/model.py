"""The labelling model: a MiniLM turn encoder fused with log features, and a dialogue transformer.

Turn encoder. Each turn is read as one WordPiece pair ``request [SEP] response`` (short
`max_length`: assistant turns are short, and the cost is quadratic in it) by the shipped MiniLM
(`selflearn.text.encoder.load_bert`). Only the top `trainable_layers` BERT layers are fine-tuned;
the embeddings and lower layers stay frozen, which is what makes training affordable on a shared
CPU: their outputs are computed once per distinct (request, response) pair and cached (`lower`),
and each training step runs only the top layers (`upper`). The mean-pooled turn vector is
concatenated with embeddings of the categorical features and a projection of the numeric ones and
fused into a `d_model` vector.

Dialogue encoder. A `torch.nn.TransformerEncoder` over the sequence of fused turn vectors (plus a
learned turn-position embedding), so every turn sees the previous and the next turns: a rephrase
after a turn says it failed, a success after failures closes a goal. ``context=False`` skips it:
the context-free baseline, the same encoder on the turn alone.

Heads (on the contextual turn vector; the three turn-level binary heads also get a skip
connection from the weak labelling function's own verdict, scaled by a learned weight that starts
at `prior_init`, so training starts from the rule and the network learns corrections where text,
context and explicit answers disagree with it, instead of re-deriving the rule and overfitting
the population it was trained on): ``defect`` (turn failed), ``goal_start`` (goal
segmentation: the turn starts a new goal; consecutive turns between starts pursue one goal),
``goal_success`` (the goal this turn belongs to succeeded), ``intent`` (what the user wanted),
``corrupt`` (pretraining only: the turn was synthetically corrupted), and ``slots``: token tagging
(IO tags) over the request's word pieces, from the fine-tuned token states joined with the
contextual turn vector. Slot *values* are the request substrings the tags cover
(`decode_slots`), each with the mean tag probability as its confidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["LabelModel", "ModelConfig", "TurnBatch", "decode_slots", "extended_mask"]

HEADS: tuple[str, ...] = ("defect", "goal_start", "goal_success")


@dataclass
class ModelConfig:
    """Sizes of the labelling model. Defaults fit a 2-core CPU budget."""

    n_cat: list[int]  # vocabulary size of each categorical feature
    n_num: int
    n_intents: int
    n_tags: int  # slot tags including "O" (id 0)
    trainable_layers: int = 1  # top BERT layers fine-tuned (0 = frozen encoder)
    max_length: int = 40
    cat_dim: int = 16
    num_dim: int = 32
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    ff_dim: int = 256
    dropout: float = 0.1
    max_turns: int = 32
    context: bool = True
    # Per turn head (defect, goal_start, goal_success): the column of the numeric features holding
    # the weak labelling function's 0/1 verdict for it, or -1. See `LabelModel`.
    prior_features: list[int] = field(default_factory=lambda: [-1, -1, -1])
    prior_init: float = 3.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def extended_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, L) 0/1 attention mask -> the additive (B, 1, 1, L) mask a BertLayer reads."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


@dataclass
class TurnBatch:
    """A padded batch of dialogues.

    `hidden`/`token_mask`: (N, L, H)/(N, L) lower-layer states of the N turns (flattened over
    dialogues, in dialogue order); `request_mask` marks request word pieces; `cat` (N, C), `num`
    (N, F); `turn_index` (B, T) maps each dialogue slot to a row of the N turns, -1 for padding."""

    hidden: torch.Tensor
    token_mask: torch.Tensor
    request_mask: torch.Tensor
    cat: torch.Tensor
    num: torch.Tensor
    turn_index: torch.Tensor


class LabelModel(nn.Module):
    """Turn encoder + dialogue transformer + multi-task heads (see the module docstring)."""

    def __init__(self, config: ModelConfig, bert: Any) -> None:
        super().__init__()
        self.config = config
        self.bert = bert
        n_layers = len(bert.encoder.layer)
        k = max(0, min(config.trainable_layers, n_layers))
        self.split = n_layers - k
        for p in bert.parameters():
            p.requires_grad = False
        for layer in bert.encoder.layer[self.split :]:
            for p in layer.parameters():
                p.requires_grad = True
        hidden = int(bert.config.hidden_size)
        self.hidden_size = hidden
        self.cat_emb = nn.ModuleList([nn.Embedding(max(n, 1), config.cat_dim) for n in config.n_cat])
        self.num_proj = nn.Sequential(nn.Linear(config.n_num, config.num_dim), nn.GELU())
        fused_in = hidden + config.cat_dim * len(config.n_cat) + config.num_dim
        self.fuse = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(fused_in, config.d_model),
            nn.GELU(),
            nn.LayerNorm(config.d_model),
        )
        self.pos_emb = nn.Embedding(config.max_turns, config.d_model)
        layer = nn.TransformerEncoderLayer(
            d_model=config.d_model,
            nhead=config.n_heads,
            dim_feedforward=config.ff_dim,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
        )
        self.dialogue = nn.TransformerEncoder(layer, num_layers=config.n_layers, enable_nested_tensor=False)
        self.heads = nn.ModuleDict({h: nn.Linear(config.d_model, 1) for h in (*HEADS, "corrupt")})
        self.prior_scale = nn.Parameter(torch.full((len(HEADS),), float(config.prior_init)))
        self.intent_head = nn.Linear(config.d_model, max(config.n_intents, 1))
        self.slot_head = nn.Sequential(
            nn.Linear(hidden + config.d_model, config.d_model),
            nn.GELU(),
            nn.Linear(config.d_model, config.n_tags),
        )

    # -- the turn encoder -----------------------------------------------------------------------
    @torch.no_grad()
    def lower(
        self, input_ids: torch.Tensor, token_type_ids: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Frozen part: embeddings and the bottom layers (computed once per distinct turn text)."""
        h = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        ext = extended_mask(mask, h.dtype)
        for layer in self.bert.encoder.layer[: self.split]:
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
        return h

    def upper(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Fine-tuned part: the top layers over the cached lower states."""
        ext = extended_mask(mask, h.dtype)
        for layer in self.bert.encoder.layer[self.split :]:
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
        return h

    # -- the whole model --------------------------------------------------------------------------
    def forward(self, batch: TurnBatch) -> dict[str, torch.Tensor]:
        """Logits per head. Turn heads: (B, T); intent: (B, T, n_intents); slots: (N, L, n_tags)
        over the flattened turns (`batch.turn_index` maps dialogue slots to them)."""
        tokens = self.upper(batch.hidden, batch.token_mask)
        m = batch.token_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * m).sum(1) / m.sum(1).clamp(min=1.0)
        cats = [emb(batch.cat[:, i]) for i, emb in enumerate(self.cat_emb)]
        turn = self.fuse(torch.cat([pooled, *cats, self.num_proj(batch.num)], dim=-1))  # (N, D)
        idx = batch.turn_index
        pad = idx < 0
        seq = turn[idx.clamp(min=0)]  # (B, T, D)
        if self.config.context:
            positions = torch.arange(idx.shape[1], device=seq.device).clamp(max=self.config.max_turns - 1)
            seq = self.dialogue(seq + self.pos_emb(positions)[None], src_key_padding_mask=pad)
        out = {h: self.heads[h](seq).squeeze(-1) for h in (*HEADS, "corrupt")}
        for k, h in enumerate(HEADS):
            col = self.config.prior_features[k] if k < len(self.config.prior_features) else -1
            if col >= 0:  # start from the rule's verdict; the network learns where to deviate
                prior = (2.0 * batch.num[:, col] - 1.0)[idx.clamp(min=0)]
                out[h] = out[h] + self.prior_scale[k] * prior
        out["intent"] = self.intent_head(seq)
        # The contextual vector of each flattened turn, for token tagging.
        ctx = torch.zeros_like(turn)
        ctx[idx[~pad]] = seq[~pad]
        joined = torch.cat([tokens, ctx[:, None, :].expand(-1, tokens.shape[1], -1)], dim=-1)
        out["slots"] = self.slot_head(joined)
        return out


def decode_slots(
    text: str,
    offsets: list[tuple[int, int]],
    tag_probs: np.ndarray,
    tag_names: list[str],
) -> list[tuple[str, str, int, int, float]]:
    """IO tags over request word pieces -> slot spans (name, value, start, end, confidence).

    `offsets` are the request pieces' character spans, `tag_probs` their (n, n_tags) softmax rows;
    adjacent pieces with the same non-O tag form one span (pieces inside one word always join), and
    the confidence is the mean probability of the chosen tag over the span."""
    spans: list[tuple[str, str, int, int, float]] = []
    cur: list[Any] | None = None
    for (s, e), row in zip(offsets, tag_probs, strict=True):
        tag = int(row.argmax())
        continuing_word = cur is not None and s == cur[2]
        if continuing_word and cur is not None and tag == 0:
            tag = cur[0]
        if tag != 0 and cur is not None and cur[0] == tag:
            cur[2] = e
            cur[3].append(float(row[tag]))
            continue
        if cur is not None:
            spans.append(_close(text, cur, tag_names))
            cur = None
        if tag != 0:
            cur = [tag, s, e, [float(row[tag])]]
    if cur is not None:
        spans.append(_close(text, cur, tag_names))
    return spans


def _close(text: str, cur: list[Any], tag_names: list[str]) -> tuple[str, str, int, int, float]:
    tag, s, e, probs = cur
    return (tag_names[tag], text[s:e], s, e, float(np.mean(probs)))
