"""Contextual rephrase detection as span extraction with a fine-tuned MiniLM.

For each request a with follow-ups, the encoder reads the dialogue context built by
`rephrase.context` (a, the assistant's response, a's barge-in/error marks, then each following
request in the window after a time-gap token) and a token head predicts, for every token, the
probability that it starts and that it ends the rephrase of a; [CLS] stands for "none". The
probability of pair (a, b_k) is read at b_k's first (start) and last (end) token. Because the
start/end targets are independent per token (a sigmoid, not a softmax over positions), two tries
in the window (A, A', A'') can both be rephrases of A, as the truth table says.

The decision: with `fuse_lexical` (default), a small head (`fusion.FusionHead`) learned on the
sessions held out of training reads the span logit beside the lexical/phonetic pair features and
gives the final probability; `span_proba` keeps the network's own score.

The detector exposes the `PairScorer` interface (`predict_proba(pairs)` over `PAIRS_SCHEMA`), so
the nightly job, the miner and the benchmarks take it like the lexical baseline. Cost control:
requests without a follow-up in the window are never encoded (they have no candidate pair), each
distinct request text is tokenised once, sequences are length-bucketed, inference runs through
bfloat16 autocast on CPUs that compute it natively (`precision`), optional torch dynamic int8
quantisation of the Linear layers, and scores already computed for a context
are remembered (logs are append-only: yesterday's sessions are re-read every night unchanged).

Training data are labelled candidate pairs (labels are passed in as data, e.g. from a simulator's
truth table); `fit` adds hard negatives by construction (see `hard_negatives`). The loss is the
binary cross-entropy of each candidate span (b_k's start and end logits, read exactly as
`predict_proba` reads them) plus a smaller per-token start/end loss ([CLS] for none). Only the top
`train_layers` encoder layers are fine-tuned (backward cost on a shared 2-core CPU is what binds);
a trainable marker embedding added before them lets the model learn the gap/barge-in tokens.

Spark: the step ships the detector pickled (weights as bytes; PySpark broadcasts a large pickled
command once per executor instead of once per task), and `_NETS` keeps the built network per
Python worker, keyed by the weights' digest, so each worker builds it once.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from selflearn.feedback.rephrase.context import ContextConfig, Contexts, TextPieces, build_contexts, pad_batch
from selflearn.feedback.rephrase.fusion import FusionHead
from selflearn.feedback.rephrase_baseline import best_f1_threshold, pair_features
from selflearn.util.atomic import atomic_write_bytes
from selflearn.util.learner import Learner

KIND = "ContextualRephraseDetector"
FORMAT = 2  # 2: confidence tokens and 16-piece responses in the context (format 1 read as before)
_CORRECTION_PREFIXES: tuple[str, ...] = ("no", "actually", "and now", "also", "then")
_INTERJECTIONS: tuple[str, ...] = ("stop", "cancel", "never mind", "thank you", "what time is it")
# Built models per process, by weight digest: a Spark executor that unpickles the detector for
# every task builds the network once.
_NETS: dict[str, Any] = {}
N_MARKERS = 40  # token ids below this are markers ([unusedN]) or [PAD] (0)


@dataclass
class SpanConfig:
    """The typed view of a `ContextualRephraseDetector`'s parameters (`detector.config`): the
    training and inference knobs. The parameters themselves are the detector's `__init__`
    arguments (one spelling for `get_params`, `clone` and the manifest)."""

    epochs: int = 4
    batch_size: int = 16
    lr: float = 2e-4
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    pos_weight: float = 4.0
    token_loss_weight: float = 0.2  # per-token start/end loss, beside the candidate-span loss
    hard_negative_rate: float = 0.3  # extra constructed negatives per training context
    valid_fraction: float = 0.15  # sessions held out of training to tune the threshold
    max_steps: int | None = None  # cap on optimizer steps (tests, --quick)
    # Encoder layers fine-tuned, from the top (embeddings and lower layers stay pretrained):
    # backward cost is proportional to it, and on a shared 2-core CPU training time is what binds.
    train_layers: int = 3
    # 32 beat 64 on 2 threads (less padding per length bucket): ~600 vs ~490 contexts-worth/s.
    infer_batch_size: int = 32
    # Inference arithmetic: "bf16" (torch CPU autocast) runs the matmuls on the CPU's bfloat16 units
    # (AMX / AVX512-BF16) at ~2.3x the float32 speed with no change in F1 on the benchmark splits;
    # scores move by <= ~0.04 against float32 and depend on batch makeup by <= ~0.015 (engines that
    # partition sessions differently agree to that). "fp32" is batch-invariant to ~1e-5: choose it
    # where two engines must give bit-identical chains. "auto": bf16 where the CPU has native
    # bfloat16, else fp32 (emulated bf16 is slower than fp32).
    precision: str = "auto"
    # Dynamic int8 quantisation (torch quantize_dynamic on Linear), overriding `precision`. Off:
    # it costs 8-10 F1 points at the float32-tuned threshold (the fine-tuned top layers are
    # sensitive to the lower layers' quantisation error) and its per-batch activation ranges make
    # a score depend on which other contexts share its batch.
    quantize: bool = False
    # Decide with a fused head over [span logit, lexical/phonetic pair features] learned on the
    # held-out validation sessions (`fusion.FusionHead`); off: the span score alone decides.
    fuse_lexical: bool = True
    threads: int | None = None  # torch intra-op threads (None: SELFLEARN_TORCH_THREADS or 2)
    cache_size: int = 2_000_000  # remembered context scores
    seed: int = 0
    context: dict[str, Any] = field(default_factory=dict)  # ContextConfig overrides


def _torch() -> Any:
    import torch

    return torch


PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN reports AVX512-BF16 or AMX)."""
    torch = _torch()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or trimmed torch build: assume not
        return False


def _make_net(state: dict[str, Any] | None, train_layers: int = 6) -> Any:
    """The span network: the shipped MiniLM plus a 2-logit (start, end) token head.

    Marker tokens (gaps, barge-ins, errors) use BERT's [unusedN] rows, which pretraining never
    trained, and only the top `train_layers` encoder layers are fine-tuned. So that the model can
    still learn what each marker means, a trainable marker embedding (zero at the start) is added
    to the hidden states entering the first fine-tuned layer."""
    import torch
    from torch import nn

    from selflearn.text.encoder import load_bert

    class MarkerInjector(nn.Module):  # type: ignore[misc]
        """Wraps an encoder layer: adds `extra` (set per forward) to its input hidden states."""

        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner
            self.extra: Any = None

        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            if self.extra is not None:
                hidden_states = hidden_states + self.extra
            return self.inner(hidden_states, *args, **kwargs)

    class SpanNet(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.bert = load_bert()
            layers = self.bert.encoder.layer
            self.inject_at = max(0, len(layers) - train_layers)
            layers[self.inject_at] = MarkerInjector(layers[self.inject_at])
            self.markers = nn.Embedding(N_MARKERS, self.bert.config.hidden_size, padding_idx=0)
            nn.init.zeros_(self.markers.weight)
            self.head = nn.Linear(self.bert.config.hidden_size, 2)

        def forward(self, ids: Any, mask: Any) -> Any:
            marker_ids = torch.where(ids < N_MARKERS, ids, torch.zeros_like(ids))
            self.bert.encoder.layer[self.inject_at].extra = self.markers(marker_ids)
            h = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
            self.bert.encoder.layer[self.inject_at].extra = None
            return self.head(h)

    net = SpanNet()
    if state is not None:
        net.load_state_dict(state)
    return net


def _session_of(pairs: pa.Table) -> list[str]:
    return [str(s) for s in pc.fill_null(pairs.column("session_id"), "").to_pylist()]


def hard_negatives(pairs: pa.Table, labels: np.ndarray, rate: float, seed: int = 0) -> pa.Table:
    """Constructed non-rephrase pairs, each forming a context of its own (fresh turn ids).

    Only after a request with no defect sign (no barge-in, no error, an intent): there a similar
    next request is a new goal, not a retry. Two kinds, half each:
    - overlapping words, other goal: a's text with one word swapped for a word of another request
      ("turn on the kitchen light" -> "turn on the bedroom light");
    - a correction or interjection that is not a rephrase ("no <another request>", "stop").
    """
    rng = random.Random(seed)
    n = pairs.num_rows
    if n == 0 or rate <= 0:
        return pairs.schema.empty_table()
    rows = pairs.to_pylist()
    vocab = sorted({w for r in rows for w in str(r["text_b"] or "").split() if len(w) > 2})
    texts = sorted({str(r["text_b"] or "") for r in rows if r["text_b"]})
    ok = [
        i
        for i, r in enumerate(rows)
        if r["hop"] == 1
        and not r["barge_in_a"]
        and not r["has_error_a"]
        and r["nlu_intent_a"]
        and r["text_a"]
    ]
    if not ok or not vocab or not texts:
        return pairs.schema.empty_table()
    want = int(rate * len({r["turn_id_a"] for r in rows}))
    out = []
    for k in range(want):
        r = dict(rows[rng.choice(ok)])
        words = str(r["text_a"]).split()
        if k % 2 == 0 and len(words) > 1:
            j = rng.randrange(len(words))
            new = rng.choice(vocab)
            if new == words[j]:
                continue
            words[j] = new
            text_b = " ".join(words)
        elif rng.random() < 0.5:
            text_b = f"{rng.choice(_CORRECTION_PREFIXES)} {rng.choice(texts)}"
        else:
            text_b = rng.choice(_INTERJECTIONS)
        r["turn_id_a"] = f"hn{k}:{r['turn_id_a']}"
        r["turn_id_b"] = f"hn{k}:b"
        r["session_id"] = f"hn{k}:{r['session_id']}"
        r["text_b"] = text_b
        r["nlu_intent_b"] = None
        r["gap_s"] = rng.uniform(3.0, 20.0)
        out.append(r)
    return pa.Table.from_pylist(out, schema=pairs.schema)


class ContextualRephraseDetector(Learner):
    """Fine-tuned MiniLM span extractor over the dialogue context -> P(b rephrases a) per pair.

    fit(pairs, labels) -> self; predict_proba(pairs) -> (n,); predict(pairs) at `threshold_`
    (F1-optimal on sessions held out of training, so not tuned on in-sample scores); save/load.
    """

    manifest_kind = KIND
    manifest_format = FORMAT

    def __init__(
        self,
        epochs: int = 4,
        batch_size: int = 16,
        lr: float = 2e-4,
        head_lr: float = 1e-3,
        weight_decay: float = 0.01,
        pos_weight: float = 4.0,
        token_loss_weight: float = 0.2,
        hard_negative_rate: float = 0.3,
        valid_fraction: float = 0.15,
        max_steps: int | None = None,
        train_layers: int = 3,
        infer_batch_size: int = 32,
        precision: str = "auto",
        quantize: bool = False,
        fuse_lexical: bool = True,
        threads: int | None = None,
        cache_size: int = 2_000_000,
        seed: int = 0,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.pos_weight = pos_weight
        self.token_loss_weight = token_loss_weight
        self.hard_negative_rate = hard_negative_rate
        self.valid_fraction = valid_fraction
        self.max_steps = max_steps
        self.train_layers = train_layers
        self.infer_batch_size = infer_batch_size
        self.precision = precision
        self.quantize = quantize
        self.fuse_lexical = fuse_lexical
        self.threads = threads
        self.cache_size = cache_size
        self.seed = seed
        self.context = context

    @property
    def config(self) -> SpanConfig:
        """The parameters as a typed `SpanConfig` (see `SpanConfig` for what each one does)."""
        params = self.get_params()
        return SpanConfig(**{**params, "context": dict(params["context"] or {})})

    # -------------------------------------------------------------------------------- helpers
    @property
    def context_config(self) -> ContextConfig:
        return ContextConfig(**(self.context or {}))

    def _pieces(self) -> TextPieces:
        pieces: TextPieces | None = getattr(self, "_pieces_", None)
        if pieces is None:
            from selflearn.text.encoder import load_tokenizer

            pieces = self._pieces_ = TextPieces(load_tokenizer())
        return pieces

    def _check(self) -> None:
        self.check_fitted()

    def _set_threads(self) -> None:
        from selflearn.text.encoder import set_torch_threads

        set_torch_threads(self.threads)

    def inference_precision(self) -> str:
        """What scoring runs in: "int8", "bf16" or "fp32" (`precision`, resolved)."""
        if self.quantize:
            return "int8"
        choice = self.precision
        if choice not in PRECISIONS:
            raise ValueError(f"SpanConfig.precision is {choice!r}; use one of {', '.join(PRECISIONS)}")
        if choice == "auto":
            return "bf16" if native_bf16() else "fp32"
        return choice

    def _infer_net(self) -> Any:
        """The inference network (int8-quantised Linear layers when `quantize`), built once."""
        key = f"{self.digest_}:{'int8' if self.quantize else 'fp32'}"
        net = _NETS.get(key)
        if net is None:
            torch = _torch()
            net = _make_net(self.state_, self.train_layers)
            net.eval()
            if self.quantize:
                net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
            _NETS.clear()  # one model per process is plenty
            _NETS[key] = net
        return net

    # -------------------------------------------------------------------------------- training
    def fit(
        self,
        pairs: pa.Table,
        labels: np.ndarray | Sequence[bool],
        progress: Callable[[int, int, float], None] | None = None,
    ) -> ContextualRephraseDetector:
        """Fine-tune on candidate pairs (`PAIRS_SCHEMA`) with one boolean label per row;
        `progress(step, total_steps, loss)` is called after every optimizer step."""
        torch = _torch()
        cfg = self.config
        y = np.asarray(labels, dtype=bool)
        if y.shape != (pairs.num_rows,):
            raise ValueError(f"labels has shape {y.shape}, expected ({pairs.num_rows},)")
        if y.all() or not y.any():
            raise ValueError("labels must contain both rephrases and non-rephrases")
        self._set_threads()
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        t0 = time.perf_counter()
        is_val = self._held_out(pairs, y)
        # _held_out drew one permutation of the sessions from a generator like `rng`; draw it here
        # too, so batches come in the order they did when fit drew the hold-out itself.
        rng.permutation(len(set(_session_of(pairs))))
        train_pairs = pairs.filter(pa.array(~is_val))
        y_train = y[~is_val]
        neg = hard_negatives(train_pairs, y_train, cfg.hard_negative_rate, seed=cfg.seed)
        if neg.num_rows:
            train_pairs = pa.concat_tables([train_pairs, neg.cast(train_pairs.schema)])
            y_train = np.r_[y_train, np.zeros(neg.num_rows, dtype=bool)]
        ctx = build_contexts(train_pairs, self._pieces(), self.context_config)
        starts, ends = self._targets(ctx, y_train)
        pairs_of: list[list[int]] = [[] for _ in range(len(ctx))]
        for i, c in enumerate(ctx.pair_context.tolist()):
            pairs_of[c].append(i)

        net = _make_net(None, cfg.train_layers)
        net.train()
        layers = net.bert.encoder.layer
        frozen = [net.bert.embeddings, *layers[: net.inject_at]]
        for module in frozen:
            module.eval()  # no dropout where nothing is learned
            for p in module.parameters():
                p.requires_grad_(False)
        # The new parts (token head, marker embedding) start from scratch: the higher head_lr.
        head_params = [*net.head.parameters(), *net.markers.parameters()]
        head_ids = {id(p) for p in head_params}
        body = [p for p in net.parameters() if id(p) not in head_ids and p.requires_grad]
        groups = [{"params": head_params, "lr": cfg.head_lr}]
        if body:
            groups.append({"params": body, "lr": cfg.lr})
        opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        n_ctx = len(ctx)
        steps_per_epoch = max(1, -(-n_ctx // cfg.batch_size))
        total = steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / max(1, total // 10)) * max(0.0, 1.0 - s / max(1, total))
        )
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=torch.tensor(cfg.pos_weight))
        step = 0
        losses: list[float] = []
        while step < total:
            order = rng.permutation(n_ctx)
            for b0 in range(0, n_ctx, cfg.batch_size):
                if step >= total:
                    break
                idx = order[b0 : b0 + cfg.batch_size]
                ids, mask = pad_batch([ctx.input_ids[i] for i in idx])
                width = ids.shape[1]
                tgt = np.zeros((len(idx), width, 2), dtype=np.float32)
                rows, firsts, lasts, ys = [], [], [], []
                for r, c in enumerate(idx):
                    tgt[r, starts[c], 0] = 1.0
                    tgt[r, ends[c], 1] = 1.0
                    for i in pairs_of[c]:
                        rows.append(r)
                        firsts.append(int(ctx.first[i]))
                        lasts.append(int(ctx.last[i]))
                        ys.append(float(y_train[i]))
                logits = net(torch.from_numpy(ids), torch.from_numpy(mask))
                m = torch.from_numpy(mask).float().unsqueeze(-1)
                token_loss = (loss_fn(logits, torch.from_numpy(tgt)) * m).sum() / (2.0 * m.sum())
                # The decision that matters, read exactly as predict_proba reads it: the span of
                # each candidate follow-up (start at its first token, end at its last).
                r_t = torch.tensor(rows)
                z = 0.5 * (logits[r_t, torch.tensor(firsts), 0] + logits[r_t, torch.tensor(lasts), 1])
                span_loss = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(ys))
                loss = span_loss + cfg.token_loss_weight * token_loss
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                step += 1
                if progress is not None:
                    progress(step, total, losses[-1])
        net.eval()
        self.state_ = {k: v.detach().clone() for k, v in net.state_dict().items()}
        self.digest_ = _digest(self.state_)
        self.train_seconds_ = time.perf_counter() - t0
        self.steps_ = step
        self.final_loss_ = float(np.mean(losses[-20:])) if losses else float("nan")
        self.n_train_ = len(y_train)
        self.n_hard_negatives_ = int(neg.num_rows)
        self._cache: dict[tuple[str, ...], np.ndarray] = {}
        self._decide(pairs, y, is_val)
        self._cache = {}
        return self

    def _held_out(self, pairs: pa.Table, y: np.ndarray) -> np.ndarray:
        """Rows of the sessions held out of training (to tune the decision on), reproducibly:
        the same pairs and seed always hold out the same sessions."""
        rng = np.random.default_rng(self.seed)
        sessions = _session_of(pairs)
        uniq = sorted(set(sessions))
        held = set(rng.permutation(uniq)[: round(self.valid_fraction * len(uniq))].tolist())
        is_val = np.array([s in held for s in sessions], dtype=bool)
        if is_val.all() or not y[is_val].any() or y[is_val].all():
            is_val = np.zeros(len(y), dtype=bool)
        return is_val

    def _decide(self, pairs: pa.Table, y: np.ndarray, is_val: np.ndarray) -> None:
        """Threshold (and, with `fuse_lexical`, the fused head) from the held-out sessions."""
        self.fusion_: FusionHead | None = None
        if not is_val.any():
            self.threshold_, self.valid_f1_ = 0.5, float("nan")
            self.span_threshold_, self.span_valid_f1_ = self.threshold_, self.valid_f1_
            return
        val = pairs.filter(pa.array(is_val))
        p_val = self.span_proba(val)
        self.span_threshold_, self.span_valid_f1_ = best_f1_threshold(y[is_val], p_val)
        self.threshold_, self.valid_f1_ = self.span_threshold_, self.span_valid_f1_
        if not self.fuse_lexical:
            return
        try:
            head = FusionHead().fit(p_val, pair_features(val), y[is_val], np.array(_session_of(val)))
        except ValueError:  # too few held-out sessions to learn a head: the span score decides
            return
        self.fusion_ = head
        self.threshold_, self.valid_f1_ = float(head.threshold_), float(head.oof_f1_)

    def refit_fusion(
        self, pairs: pa.Table, labels: np.ndarray | Sequence[bool]
    ) -> ContextualRephraseDetector:
        """(Re)learn the decision from the sessions `fit` held out of the same training pairs,
        without retraining the network (e.g. a model saved before fusion existed). Pass the
        pairs and labels the model was fitted on: other pairs would hold out other sessions, on
        which the network may have trained."""
        self._check()
        y = np.asarray(labels, dtype=bool)
        if y.shape != (pairs.num_rows,):
            raise ValueError(f"labels has shape {y.shape}, expected ({pairs.num_rows},)")
        self._decide(pairs, y, self._held_out(pairs, y))
        return self

    @staticmethod
    def _targets(ctx: Contexts, y: np.ndarray) -> tuple[list[list[int]], list[list[int]]]:
        """Start/end target positions per context: each rephrase's first/last token, else [CLS]."""
        starts: list[list[int]] = [[] for _ in range(len(ctx))]
        ends: list[list[int]] = [[] for _ in range(len(ctx))]
        for i in np.flatnonzero(y).tolist():
            c = int(ctx.pair_context[i])
            starts[c].append(int(ctx.first[i]))
            ends[c].append(int(ctx.last[i]))
        for c in range(len(ctx)):
            if not starts[c]:
                starts[c].append(0)
                ends[c].append(0)
        return starts, ends

    # -------------------------------------------------------------------------------- inference
    def predict_proba(self, pairs: pa.Table) -> np.ndarray:
        """P(b is a rephrase of a) per row, shape (n,): the fused head's probability over the span
        score and the pair's lexical/phonetic features, or the span score alone (no head)."""
        p = self.span_proba(pairs)
        head = getattr(self, "fusion_", None)
        if head is None or len(p) == 0:
            return p
        return head.predict_proba(p, pair_features(pairs))

    def span_proba(self, pairs: pa.Table) -> np.ndarray:
        """The span network's own P(b rephrases a) per row: sigmoid of the mean of b's
        first-token start logit and last-token end logit in a's context."""
        self._check()
        self.inference_precision()  # a bad setting fails here, not only when the cache misses
        n = pairs.num_rows
        if n == 0:
            return np.zeros(0, dtype=np.float64)
        ctx = build_contexts(pairs, self._pieces(), self.context_config)
        cache = self.__dict__.setdefault("_cache", {})
        b_ids = [str(x) for x in pc.fill_null(pairs.column("turn_id_b"), "").to_pylist()]
        rows_of: list[list[int]] = [[] for _ in range(len(ctx))]
        for i, c in enumerate(ctx.pair_context.tolist()):
            rows_of[c].append(i)
        keys = [(ctx.turn_a[c], *[b_ids[i] for i in rows_of[c]]) for c in range(len(ctx))]
        out = np.zeros(n, dtype=np.float64)
        todo = []
        for c, key in enumerate(keys):
            hit = cache.get(key)
            if hit is not None and len(hit) == len(rows_of[c]):
                out[rows_of[c]] = hit
            else:
                todo.append(c)
        if todo:
            logits = self._logits([ctx.input_ids[c] for c in todo])
            pos = {c: k for k, c in enumerate(todo)}
            for c in todo:
                lg = logits[pos[c]]
                rows = rows_of[c]
                z = 0.5 * (lg[ctx.first[rows], 0] + lg[ctx.last[rows], 1])
                p = 1.0 / (1.0 + np.exp(-z))
                out[rows] = p
                if len(cache) < self.cache_size:
                    cache[keys[c]] = p
        return out

    def _logits(self, seqs: list[np.ndarray]) -> list[np.ndarray]:
        """Token logits (len, 2) per sequence, in length-sorted batches."""
        torch = _torch()
        self._set_threads()
        bf16 = self.inference_precision() == "bf16"
        net = self._infer_net()
        order = np.argsort([len(s) for s in seqs], kind="stable")
        res: list[np.ndarray] = [np.zeros((0, 2))] * len(seqs)
        bs = self.infer_batch_size
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for b0 in range(0, len(order), bs):
                idx = order[b0 : b0 + bs]
                ids, mask = pad_batch([seqs[i] for i in idx])
                lg = net(torch.from_numpy(ids), torch.from_numpy(mask)).float().numpy()
                for r, i in enumerate(idx.tolist()):
                    res[i] = lg[r, : len(seqs[i])]
        return res

    def predict(self, pairs: pa.Table, threshold: float | None = None) -> np.ndarray:
        """Boolean rephrase decision per row at `threshold` (default: the tuned `threshold_`)."""
        return self.predict_proba(pairs) >= (self.threshold_ if threshold is None else threshold)

    def clear_cache(self) -> None:
        """Forget remembered context scores (e.g. to time scoring from scratch)."""
        self._cache = {}

    # -------------------------------------------------------------------------------- persistence
    def _fitted_fields(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold_,
            "valid_f1": self.valid_f1_,
            "span_threshold": self.span_threshold_,
            "span_valid_f1": self.span_valid_f1_,
            "fusion": None if self.fusion_ is None else self.fusion_.summary(),
            "n_train": self.n_train_,
            "n_hard_negatives": self.n_hard_negatives_,
            "steps": self.steps_,
            "final_loss": self.final_loss_,
            "train_seconds": self.train_seconds_,
            "digest": self.digest_,
        }

    def _manifest(self) -> dict[str, Any]:
        return {"kind": KIND, "format": FORMAT, "params": self.get_params(), **self._fitted_fields()}

    def save(self, path: str | Path) -> Path:
        """Write weights.pt (float weights) and manifest.json under `path`, each atomically."""
        self._check()
        torch = _torch()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        torch.save(self.state_, buf)
        atomic_write_bytes(path / "weights.pt", buf.getvalue())
        if self.fusion_ is not None:
            atomic_write_bytes(path / "fusion.pkl", pickle.dumps(self.fusion_))
        return self.write_manifest(path, **self._fitted_fields())

    @classmethod
    def read_manifest(cls, directory: str | Path) -> dict[str, Any]:
        """The checked manifest; formats 1 and 2 are read (format 1 with its old context)."""
        from selflearn.util.manifest import read_manifest

        return read_manifest(directory, KIND, formats=(1, FORMAT))

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ContextualRephraseDetector:
        return cls(**_params_of(manifest))

    @classmethod
    def load(cls, path: str | Path) -> ContextualRephraseDetector:
        """Inverse of `save`; refuses another kind of artifact. The fusion pickle is trusted:
        load only artifacts this system wrote."""
        torch = _torch()
        path = Path(path)
        m = cls.read_manifest(path)
        det = cls.from_manifest(m)
        fusion = (path / "fusion.pkl").read_bytes() if m.get("fusion") is not None else None
        det._restore(m, torch.load(path / "weights.pt", map_location="cpu", weights_only=True), fusion)
        return det

    def _restore(self, m: dict[str, Any], state: dict[str, Any], fusion: bytes | None = None) -> None:
        self.state_ = state
        self.digest_ = str(m["digest"])
        self.threshold_ = float(m["threshold"])
        self.valid_f1_ = float(m["valid_f1"])
        # Models saved before the fused head decide by the span score alone.
        self.span_threshold_ = float(m.get("span_threshold", self.threshold_))
        self.span_valid_f1_ = float(m.get("span_valid_f1", self.valid_f1_))
        self.fusion_ = pickle.loads(fusion) if fusion is not None else None
        self.n_train_ = int(m["n_train"])
        self.n_hard_negatives_ = int(m["n_hard_negatives"])
        self.steps_ = int(m["steps"])
        self.final_loss_ = float(m["final_loss"])
        self.train_seconds_ = float(m["train_seconds"])
        self._cache = {}

    # Pickling (Spark ships the step with the detector): weights travel as bytes, the network is
    # rebuilt once per process (keyed by digest), and the tokenizer/cache are not shipped.
    def __getstate__(self) -> dict[str, Any]:
        self._check()
        torch = _torch()
        buf = io.BytesIO()
        torch.save(self.state_, buf)
        fusion = None if self.fusion_ is None else pickle.dumps(self.fusion_)
        return {"manifest": self._manifest(), "weights": buf.getvalue(), "fusion": fusion}

    def __setstate__(self, st: dict[str, Any]) -> None:
        torch = _torch()
        m = st["manifest"]
        self.__dict__.update(_params_of(m))
        self.__dict__.pop("_pieces_", None)
        weights = torch.load(io.BytesIO(st["weights"]), map_location="cpu", weights_only=True)
        self._restore(m, weights, st.get("fusion"))


def _params_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """The saved parameters (``config`` in manifests written before the learner base); a
    format-1 model reads its context exactly as it was trained to."""
    params = dict(manifest["params"] if "params" in manifest else manifest["config"])
    if int(manifest.get("format", 1)) < 2:
        params["context"] = {
            "confidence_tokens": False,
            "max_response_tokens": 10,
            **(params.get("context") or {}),
        }
    return params


def _digest(state: dict[str, Any]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]
