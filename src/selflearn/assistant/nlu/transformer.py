"""A transformer understanding model: the shipped MiniLM fine-tuned jointly for intent and slots.

One encoder reads the request; an intent head reads its mean-pooled tokens and a slot head tags
each word (BIO over the first word piece of each word, so slot boundaries fall on the same words
`model.tokenize` gives the CRF model). Both are trained together with one summed cross-entropy
(the joint model of Chen et al., 2019, "BERT for Joint Intent Classification and Slot Filling").
The encoder is the one `selflearn.text.encoder` ships (no download), so the model reads what the
bag-of-n-grams model cannot: paraphrases and word order, at the cost of a forward pass per request.

Confidences are calibrated like `NluModel`'s: the softmax temperature is fitted on a held-out
slice of the training examples (``calibration_fraction``; whole phrasings held out when examples
carry a ``template_id``), so the pipeline's confidence threshold means the same for both models.
The n-best gives each intent the slots the tagger found that the intent had in training.

Trains on CPU in minutes on a few thousand examples (``threads`` torch threads); predicts one
request at a time on one thread within the assistant's budget (`benchmarks/nlu_transformer.py`).
Weights are saved as safetensors, never pickles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from selflearn.assistant.nlu.model import _fit_temperature, _softmax, tokenize
from selflearn.contracts.nlu_examples import ExampleLike
from selflearn.logs.records import NluHypothesis, Slot
from selflearn.util.atomic import atomic_dir
from selflearn.util.learner import Learner

__all__ = ["TransformerNlu"]

FORMAT_VERSION = 2
_WEIGHTS = "model.safetensors"
_IGNORE = -100


def _word_labels(ex: ExampleLike, words: Sequence[tuple[str, int, int]]) -> list[str]:
    """BIO labels per word: a word inside a slot span is B- (its first word) or I- of the slot."""
    labels = ["O"] * len(words)
    for slot in ex.slots:
        inside = [i for i, (_, s, e) in enumerate(words) if s >= slot.start and e <= slot.end]
        for j, i in enumerate(inside):
            labels[i] = ("B-" if j == 0 else "I-") + slot.name
    return labels


def _decode(
    text: str, words: Sequence[tuple[str, int, int]], labels: Sequence[str]
) -> list[tuple[str, str, int, int]]:
    """Slot spans (name, value, start, end) from per-word BIO labels: an I- continues the slot of
    the word before it when that is the same slot; otherwise (after O or another slot) it starts a
    new span, as B- does."""
    spans: list[tuple[str, int, int]] = []
    open_slot: str | None = None
    for (_, s, e), lab in zip(words, labels, strict=True):
        if lab == "O":
            open_slot = None
            continue
        kind, name = lab[:2], lab[2:]
        if kind == "I-" and open_slot == name:
            n, s0, _ = spans[-1]
            spans[-1] = (n, s0, e)
            continue
        spans.append((name, s, e))
        open_slot = name
    return [(n, text[s:e], s, e) for n, s, e in spans]


def _heldout(examples: Sequence[ExampleLike], fraction: float, seed: int) -> np.ndarray:
    """Which examples calibrate (True) rather than train: a random `fraction` of the phrasings
    (template ids when the data has them, else single examples)."""
    ids = [str(getattr(e, "template_id", "") or "") or f"\0{i}" for i, e in enumerate(examples)]
    groups = sorted(set(ids))
    rng = np.random.default_rng(seed)
    k = round(fraction * len(groups))
    chosen = set(rng.choice(len(groups), size=k, replace=False).tolist()) if k else set()
    pick = {g for i, g in enumerate(groups) if i in chosen}
    return np.array([i in pick for i in ids], dtype=bool)


class _Joint:
    """The encoder and its two heads, as one torch module (built lazily: torch is imported only
    when a model is trained or loaded)."""

    @staticmethod
    def build(n_intents: int, n_labels: int, pretrained: bool = True) -> Any:
        import torch

        from selflearn.text.encoder import load_bert, model_dir

        class Joint(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                if pretrained:
                    self.bert = load_bert()
                else:
                    from transformers import AutoConfig, AutoModel

                    self.bert = AutoModel.from_config(AutoConfig.from_pretrained(str(model_dir())))
                hidden = int(self.bert.config.hidden_size)
                self.dropout = torch.nn.Dropout(0.1)
                self.intent = torch.nn.Linear(hidden, n_intents)
                # the slot tagger reads each token with the intent it tags for (teacher-forced in
                # training, each n-best intent in turn when predicting), as the CRF conjoins the
                # intent with the words: "play X" is a song for one intent, a station for another
                self.intent_embedding = torch.nn.Embedding(n_intents, hidden)
                torch.nn.init.zeros_(self.intent_embedding.weight)
                self.slots = torch.nn.Linear(hidden, n_labels)

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> tuple[Any, Any]:
                """(intent logits, token states)."""
                out = self.bert(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(out.dtype)
                pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                return self.intent(self.dropout(pooled)), out

            def slot_logits(self, states: Any, intents: Any) -> Any:
                return self.slots(self.dropout(states + self.intent_embedding(intents).unsqueeze(1)))

        return Joint()


class TransformerNlu(Learner):
    """Joint intent + slot NLU on the shipped MiniLM; the same `predict` / `predict_batch` as
    `NluModel` (a calibrated n-best of `NluHypothesis`, slots as character spans).

    Parameters: epochs, batch_size, lr (the encoder's), head_lr (the new heads'), warmup (share
    of steps), max_length (word pieces), calibration_fraction (held out to fit the temperature;
    0: none), self_training_threshold and self_training_epochs (`fit`'s unlabelled requests),
    restrict_slots (drop a slot its intent never had in training), threads (torch
    threads for training and prediction), cache_size (requests memoised), random_state, name."""

    manifest_kind = "selflearn.nlu.TransformerNlu"
    manifest_format = FORMAT_VERSION

    def __init__(
        self,
        *,
        epochs: int = 8,
        batch_size: int = 32,
        lr: float = 8e-5,
        head_lr: float = 2e-3,
        warmup: float = 0.06,
        max_length: int = 40,
        calibration_fraction: float = 0.1,
        self_training_threshold: float = 0.9,
        self_training_epochs: int = 2,
        restrict_slots: bool = True,
        threads: int = 2,
        cache_size: int = 4096,
        random_state: int = 0,
        name: str = "nlu-minilm-joint",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.head_lr = head_lr
        self.warmup = warmup
        self.max_length = max_length
        self.calibration_fraction = calibration_fraction
        self.self_training_threshold = self_training_threshold
        self.self_training_epochs = self_training_epochs
        self.restrict_slots = restrict_slots
        self.threads = threads
        self.cache_size = cache_size
        self.random_state = random_state
        self.name = name

    # ----------------------------------------------------------------------------------- batches

    def _encode(self, word_lists: Sequence[Sequence[str]]) -> tuple[dict[str, Any], list[list[int | None]]]:
        batch = self._tokenizer(
            [list(w) for w in word_lists],
            is_split_into_words=True,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        word_ids = [batch.word_ids(i) for i in range(len(word_lists))]
        return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}, word_ids

    @staticmethod
    def _first_pieces(word_ids: Sequence[int | None]) -> dict[int, int]:
        """word index -> position of its first word piece (words cut by truncation are absent)."""
        first: dict[int, int] = {}
        for pos, w in enumerate(word_ids):
            if w is not None and w not in first:
                first[w] = pos
        return first

    # --------------------------------------------------------------------------------------- fit

    def fit(self, examples: Sequence[ExampleLike], unlabelled: Sequence[str] = ()) -> TransformerNlu:
        """Fine-tune the encoder and both heads on ``examples``, then fit the temperature.

        With ``unlabelled`` requests and ``self_training_epochs`` > 0, the model then reads them,
        keeps those it reads with calibrated confidence >= ``self_training_threshold`` as examples
        of that reading (slots as tagged), trains on both sets for ``self_training_epochs`` more
        epochs, and calibrates again (self-training: the unlabelled wordings teach the encoder how
        people phrase the intents it already knows)."""
        import torch

        from selflearn.text.encoder import load_tokenizer

        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0 <= self.calibration_fraction < 1:
            raise ValueError(f"calibration_fraction must be in [0, 1), got {self.calibration_fraction}")
        if not 0 < self.self_training_threshold <= 1:
            raise ValueError(f"self_training_threshold must be in (0, 1], got {self.self_training_threshold}")
        examples = list(examples)
        classes = sorted({e.intent for e in examples})
        if len(classes) < 2:
            raise ValueError(f"TransformerNlu.fit needs at least two intents, got {classes}")
        torch.manual_seed(self.random_state)
        torch.set_num_threads(self.threads)
        index = {c: i for i, c in enumerate(classes)}
        words = [tokenize(e.text) for e in examples]
        word_labels = [_word_labels(e, w) for e, w in zip(examples, words, strict=True)]
        slot_labels = ["O", *sorted({lab for labs in word_labels for lab in labs} - {"O"})]
        intent_slots: dict[str, set[str]] = {c: set() for c in classes}
        for e in examples:
            intent_slots[e.intent].update(s.name for s in e.slots)

        calib = _heldout(examples, self.calibration_fraction, self.random_state)
        if calib.all() or len({examples[i].intent for i in np.flatnonzero(~calib)}) < 2:
            calib[:] = False
        train = [(words[i], word_labels[i], index[examples[i].intent]) for i in np.flatnonzero(~calib)]

        self._tokenizer = load_tokenizer()
        self._model = _Joint.build(len(classes), len(slot_labels))
        self.classes_ = classes
        self.slot_labels_ = slot_labels
        self.intent_slots_ = {c: sorted(v) for c, v in intent_slots.items()}
        rng = np.random.default_rng(self.random_state)
        losses = self._train(train, self.epochs, rng)
        self._setup_runtime()  # the slot head as arrays, for the pseudo-labels
        held = [examples[i] for i in np.flatnonzero(calib)]
        self._calibrate(held, index)
        self.n_self_trained_ = 0
        texts = [t for t in dict.fromkeys(unlabelled) if t.strip()]
        if texts and self.self_training_epochs > 0:
            pseudo = self._pseudo_labels(texts, index)
            self.n_self_trained_ = len(pseudo)
            if pseudo:
                losses += self._train(train + pseudo, self.self_training_epochs, rng)
                self._calibrate(held, index)
        self.n_train_ = len(train)
        self.train_loss_ = float(np.mean(losses[-20:])) if losses else 0.0
        self.version_ = _fingerprint(examples, self.get_params(), texts)
        self._setup_runtime()
        return self

    def _train(
        self,
        items: Sequence[tuple[Sequence[tuple[str, int, int]], Sequence[str], int]],
        epochs: int,
        rng: Any,
    ) -> list[float]:
        """`epochs` passes over (words, BIO labels, intent index) items, with a fresh warmup and
        linear decay; the model is left in eval mode."""
        import torch

        model = self._model
        label_index = {lab: i for i, lab in enumerate(self.slot_labels_)}
        head_params = [*model.intent.parameters(), *model.slots.parameters()]
        optim = torch.optim.AdamW(
            [
                {"params": model.bert.parameters(), "lr": self.lr},
                {"params": head_params, "lr": self.head_lr},
            ],
            weight_decay=0.01,
        )
        steps = epochs * math.ceil(len(items) / self.batch_size)
        warm = max(1, int(self.warmup * steps))

        def schedule(step: int) -> float:
            return (step + 1) / warm if step < warm else max(0.0, (steps - step) / max(1, steps - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule)
        intent_loss = torch.nn.CrossEntropyLoss()
        slot_loss = torch.nn.CrossEntropyLoss(ignore_index=_IGNORE)
        model.train()
        losses: list[float] = []
        for _ in range(epochs):
            order = rng.permutation(len(items))
            for b in range(0, len(order), self.batch_size):
                rows = [items[i] for i in order[b : b + self.batch_size]]
                inputs, word_ids = self._encode([[w for w, _, _ in ws] for ws, _, _ in rows])
                target = torch.full(inputs["input_ids"].shape, _IGNORE, dtype=torch.long)
                for r, (_, labels, _) in enumerate(rows):
                    for w, pos in self._first_pieces(word_ids[r]).items():
                        target[r, pos] = label_index[labels[w]]
                y = torch.tensor([intent for _, _, intent in rows], dtype=torch.long)
                intent_logits, states = model(**inputs)
                slot_logits = model.slot_logits(states, y)
                loss = intent_loss(intent_logits, y) + slot_loss(
                    slot_logits.reshape(-1, len(self.slot_labels_)), target.reshape(-1)
                )
                optim.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                sched.step()
                losses.append(float(loss.detach()))
        model.eval()
        return losses

    def _calibrate(self, held: Sequence[ExampleLike], index: dict[str, int]) -> None:
        """The temperature that minimises the held-out examples' NLL (1 without any)."""
        self.temperature_ = 1.0
        self.calibration_: dict[str, Any] = {"method": "none", "temperature": 1.0, "n": len(held)}
        if not held:
            return
        logits = self._intent_logits([e.text for e in held])
        y = np.array([index[e.intent] for e in held])
        self.temperature_ = _fit_temperature(logits, y)
        self.calibration_ = {
            "method": "temperature",
            "temperature": self.temperature_,
            "n": len(held),
            "heldout_accuracy": float((logits.argmax(1) == y).mean()),
        }

    def _pseudo_labels(
        self, texts: Sequence[str], index: dict[str, int], batch: int = 64
    ) -> list[tuple[list[tuple[str, int, int]], list[str], int]]:
        """(words, BIO labels, intent) for the texts read with confidence >= the threshold."""
        out: list[tuple[list[tuple[str, int, int]], list[str], int]] = []
        for b in range(0, len(texts), batch):
            chunk = texts[b : b + batch]
            il, states, words, firsts = self._forward(chunk)
            proba = _softmax(il / self.temperature_)
            for i in range(len(chunk)):
                top = int(proba[i].argmax())
                if proba[i, top] < self.self_training_threshold or not words[i]:
                    continue
                allowed = set(self.intent_slots_[self.classes_[top]])
                labels = self._word_tags(states[i], firsts[i], len(words[i]), top)
                labels = [lab if lab == "O" or lab[2:] in allowed else "O" for lab in labels]
                out.append((words[i], labels, index[self.classes_[top]]))
        return out

    # ----------------------------------------------------------------------------------- predict

    def _setup_runtime(self) -> None:
        self._cached = lru_cache(maxsize=self.cache_size)(self._predict_uncached)
        m = self._model
        self._slot_head = tuple(
            t.detach().float().numpy().copy()
            for t in (m.slots.weight, m.slots.bias, m.intent_embedding.weight)
        )

    def _forward(
        self, texts: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, list[list[tuple[str, int, int]]], list[dict[int, int]]]:
        import torch

        words = [tokenize(t) for t in texts]
        inputs, word_ids = self._encode([[w for w, _, _ in ws] or [""] for ws in words])
        with torch.inference_mode():
            intent_logits, states = self._model(**inputs)
        firsts = [self._first_pieces(ids) for ids in word_ids]
        return intent_logits.float().numpy(), states.float().numpy(), words, firsts

    def _word_tags(self, states: np.ndarray, first: dict[int, int], n_words: int, intent: int) -> list[str]:
        """Each word's BIO tag when tagging for `intent` (the slot head in numpy: a few
        microseconds per hypothesis on states the encoder already computed)."""
        if not first:
            return ["O"] * n_words
        words = sorted(first)
        x = states[[first[w] for w in words]] + self._slot_head[2][intent]
        best = (x @ self._slot_head[0].T + self._slot_head[1]).argmax(axis=1)
        tags = ["O"] * n_words
        for w, b in zip(words, best, strict=True):
            tags[w] = self.slot_labels_[int(b)]
        return tags

    def _intent_logits(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        parts = [self._forward(texts[i : i + batch])[0] for i in range(0, len(texts), batch)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes_)))

    def _hypotheses(
        self,
        text: str,
        intent_logits: np.ndarray,
        states: np.ndarray,
        words: Sequence[tuple[str, int, int]],
        first: dict[int, int],
        n: int,
    ) -> tuple[tuple[str, float, tuple[tuple[str, str, int, int], ...]], ...]:
        proba = _softmax(intent_logits / self.temperature_)
        k = max(1, min(n, len(proba)))
        out = []
        for i in np.argsort(-proba, kind="stable")[:k]:
            intent = self.classes_[int(i)]
            spans = _decode(text, words, self._word_tags(states, first, len(words), int(i)))
            allowed = set(self.intent_slots_.get(intent, ()))
            slots = tuple(s for s in spans if not self.restrict_slots or s[0] in allowed)
            out.append((intent, min(1.0, max(0.0, float(proba[i]))), slots))
        return tuple(out)

    def _predict_uncached(self, text: str, n: int) -> tuple[Any, ...]:
        if not text.strip():
            return ()
        il, sl, words, firsts = self._forward([text])
        return self._hypotheses(text, il[0], sl[0], words[0], firsts[0], n)

    @staticmethod
    def _to_records(hyps: tuple[Any, ...]) -> list[NluHypothesis]:
        return [
            NluHypothesis(
                intent=intent,
                confidence=conf,
                slots=[Slot(name=a, value=v, start=s, end=e) for a, v, s, e in slots],
            )
            for intent, conf, slots in hyps
        ]

    def predict(self, text: str, n: int = 3) -> list[NluHypothesis]:
        """The ``n`` most probable intents, best first, each with the slots its intent takes."""
        self.check_fitted()
        return self._to_records(self._cached(text, n))

    def predict_batch(self, texts: Sequence[str], n: int = 3, batch: int = 64) -> list[list[NluHypothesis]]:
        """`predict` for many texts, `batch` per forward pass (not cached)."""
        self.check_fitted()
        out: list[list[NluHypothesis]] = []
        for b in range(0, len(texts), batch):
            chunk = list(texts[b : b + batch])
            il, sl, words, firsts = self._forward(chunk)
            for i, t in enumerate(chunk):
                hyps = self._hypotheses(t, il[i], sl[i], words[i], firsts[i], n) if t.strip() else ()
                out.append(self._to_records(hyps))
        return out

    def intent_proba_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated intent probabilities, one row per text (columns: `classes_`)."""
        self.check_fitted()
        return _softmax(self._intent_logits(list(texts)) / self.temperature_)

    def intent_proba(self, text: str) -> np.ndarray:
        """Calibrated intent probabilities of one text (columns: `classes_`)."""
        return np.asarray(self.intent_proba_batch([text])[0])

    def cache_clear(self) -> None:
        self._cached.cache_clear()  # type: ignore[attr-defined]

    # --------------------------------------------------------------------------------- save/load

    def _manifest_fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version_,
            "intents": self.classes_,
            "slot_labels": self.slot_labels_,
            "intent_slots": self.intent_slots_,
            "n_train": self.n_train_,
            "n_self_trained": self.n_self_trained_,
            "calibration": self.calibration_,
            "train_loss": self.train_loss_,
            "files": [_WEIGHTS],
        }

    def save(self, directory: str | Path) -> Path:
        """Write the weights (safetensors) and manifest to ``directory`` atomically."""
        from safetensors.torch import save_file

        self.check_fitted()
        with atomic_dir(directory) as tmp:
            state = {k: v.contiguous() for k, v in self._model.state_dict().items()}
            save_file(state, str(tmp / _WEIGHTS))
            self.write_manifest(tmp, **self._manifest_fields())
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path) -> TransformerNlu:
        import torch
        from safetensors.torch import load_file

        from selflearn.text.encoder import load_tokenizer

        d = Path(directory)
        manifest = cls.read_manifest(d)
        model = cls(**manifest["params"])
        model.classes_ = list(manifest["intents"])
        model.slot_labels_ = list(manifest["slot_labels"])
        model.intent_slots_ = {k: list(v) for k, v in manifest["intent_slots"].items()}
        model.n_train_ = int(manifest["n_train"])
        model.n_self_trained_ = int(manifest.get("n_self_trained", 0))
        model.calibration_ = dict(manifest["calibration"])
        model.temperature_ = float(model.calibration_["temperature"])
        model.train_loss_ = float(manifest.get("train_loss", 0.0))
        model.version_ = str(manifest["version"])
        torch.set_num_threads(model.threads)
        net = _Joint.build(len(model.classes_), len(model.slot_labels_), pretrained=False)
        net.load_state_dict(load_file(str(d / _WEIGHTS)))
        net.eval()
        model._model = net
        model._tokenizer = load_tokenizer()
        model._setup_runtime()
        return model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_cached", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if hasattr(self, "classes_"):
            self._setup_runtime()


def _fingerprint(
    examples: Sequence[ExampleLike], params: dict[str, Any], unlabelled: Sequence[str] = ()
) -> str:
    import hashlib
    import json

    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    for e in examples:
        h.update(f"{e.text}\t{e.intent}\t{[(s.name, s.start, s.end) for s in e.slots]}\n".encode())
    for t in unlabelled:
        h.update(f"?{t}\n".encode())
    return h.hexdigest()[:12]
