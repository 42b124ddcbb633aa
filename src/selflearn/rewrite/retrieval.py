"""Candidate retrieval for online rewriting: a MiniLM bi-encoder, FAISS indexes in two layers
(global and per-user personal) and phonetic retrieval.

Precomputed rewrites fix only requests that recur verbatim. Online rewriting instead looks for a
*successful* request near the failing one: near in meaning (the dense bi-encoder, optionally
fine-tuned contrastively on mined pairs failing request -> successful rephrase) or near in sound
(recognition errors are phonetic, so metaphone strings are a second retrieval signal).

Two layers keep personal data personal:

* the **global** index holds only successful requests supported by >= k distinct users;
* a **personal** index per user holds that user's own successful requests with their frequency
  and recency, and is only ever searched for that user (`PersonalIndexes.search` takes the user).

Indexes are small (thousands of rows), so they are exact inner-product indexes (`IndexFlatIP`)
over unit vectors: cosine similarity without training or recall loss.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jellyfish
import numpy as np
import pyarrow as pa
from rapidfuzz import fuzz, process

from selflearn.rewrite.prior import RequestPrior
from selflearn.text.encoder import EMBEDDING_DIM
from selflearn.util.atomic import atomic_path

__all__ = [
    "CANDIDATE_SCHEMA",
    "LAYERS",
    "BiEncoder",
    "CandidateIndex",
    "Hit",
    "PersonalIndexes",
    "context_keys",
    "encode_batches",
    "phonetic_key",
]

LAYERS = ("global", "personal")

#: One row per candidate (a successful normalized request). Global rows list their supporting users
#: (so a deleted user's support can be removed); personal rows belong to `user_id`.
CANDIDATE_SCHEMA = pa.schema(
    [
        ("layer", pa.string()),
        ("user_id", pa.string()),  # personal: the owner; global: null
        ("text", pa.string()),
        ("interpretation", pa.string()),  # the most common NLU interpretation of its successes
        ("intent", pa.string()),
        ("nlu_confidence", pa.float64()),  # mean logged NLU confidence of its successful turns
        ("count", pa.int64()),  # successful turns
        ("distinct_users", pa.int64()),
        ("users", pa.list_(pa.string())),  # supporting users (global) or [owner] (personal)
        ("first_seen", pa.float64()),  # epoch seconds
        ("last_seen", pa.float64()),
        ("context_keys", pa.list_(pa.string())),  # "dt:speaker", "room:kitchen", "tod:evening"
        ("context_counts", pa.list_(pa.int64())),
        ("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)),
        # personal only: the owner's own earlier requests that failed and were then rephrased into
        # this one (what makes a habitual failing phrasing find its fix)
        ("sources", pa.list_(pa.string())),
        # their embeddings (parallel to `sources`): warm the query cache, since habits recur
        ("source_embeddings", pa.list_(pa.list_(pa.float32(), EMBEDDING_DIM))),
    ]
)


@lru_cache(maxsize=65536)
def _metaphone(tok: str) -> str:
    # Numbers and symbols have no metaphone code; keep them literally so "10" != "12".
    return (jellyfish.metaphone(tok) or tok) if tok[:1].isalpha() else tok


@lru_cache(maxsize=65536)
def phonetic_key(text: str) -> str:
    """Metaphone code of every token, space-joined: "turn of the lites" ~ "turn off the lights"."""
    return " ".join(_metaphone(t) for t in text.split())


def time_of_day(hour: int) -> str:
    return ("night", "morning", "afternoon", "evening")[(hour % 24) // 6]


def context_keys(device_type: str | None, room: str | None, hour: int | None) -> list[str]:
    """The context a request was made in, as keys counted per candidate (device type, room, time
    of day): a candidate used mostly in the kitchen in the morning fits such a request better."""
    keys = []
    if device_type:
        keys.append(f"dt:{device_type}")
    if room:
        keys.append(f"room:{room}")
    if hour is not None:
        keys.append(f"tod:{time_of_day(hour)}")
    return keys


# -- the bi-encoder ------------------------------------------------------------------------------------
_SHIPPED: dict[str, Any] = {}


def _fresh_bert() -> tuple[Any, Any]:
    """(tokenizer, a private copy of the shipped MiniLM). Loading from disk costs seconds (the
    tokenizer alone ~2 s), and the nightly job, the service and tests load it several times per
    process: the tokenizer is shared (it is stateless) and the weights are copied in memory from
    one pristine model (fine-tuning changes a copy, never the pristine one)."""
    import copy

    if "model" not in _SHIPPED:
        from selflearn.text.encoder import load_bert, load_tokenizer

        _SHIPPED["tokenizer"] = load_tokenizer()
        _SHIPPED["model"] = load_bert().eval()
    return _SHIPPED["tokenizer"], copy.deepcopy(_SHIPPED["model"])


_TRACE_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _last_hidden(model: Any) -> Any:
    """`model` as a module of positional inputs returning its last hidden states (what
    `torch.jit.trace` takes); torch is imported lazily in this module."""
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return LastHidden()


def encode_batches(texts: Sequence[str], batch_size: int = 128) -> list[list[int]]:
    """The batches `BiEncoder.encode` runs `texts` in, as indexes: in length order (batches of
    similar length pad less), `batch_size` at a time.

    A text's embedding depends on its batch only through the padding, so an engine that encodes
    exactly these batches, each as one call wherever it runs, gets the in-process embeddings bit for
    bit (`jobs.spark_engine.SparkEngine.embed`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class BiEncoder:
    """MiniLM (mean pooling, unit norm) as a bi-encoder, with an LRU cache of query embeddings.

    Starts from the shipped weights (`selflearn.text.encoder.load_bert`); `fine_tune` adapts it
    contrastively on (failing request, successful rephrase) pairs with in-batch negatives
    (MultipleNegativesRankingLoss written as a plain torch loop, bounded in steps and threads).
    Encoding one query costs a few ms on CPU, and requests recur, so `encode_one` is cached.
    """

    def __init__(self, cache_size: int = 65536) -> None:
        self.cache_size = cache_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.fine_tuned_ = False
        self.hits_ = 0
        self.misses_ = 0
        self._traced: Any = None  # `trace`: the model for one query at a time, as TorchScript
        self.precision_ = "eager"  # what encodes single queries (`trace`)
        # The cache is shared with a service's encode thread (`prefetch`); the forward pass runs
        # outside this lock.
        self._cache_lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()

    def _ensure(self) -> None:
        if self._model is None:
            self._tokenizer, self._model = _fresh_bert()
            self._model.eval()

    def _forward(self, texts: Sequence[str]) -> Any:
        import torch

        batch = self._tokenize(list(texts), padding=True, truncation=True, max_length=48, return_tensors="pt")
        out = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1)

    def encode(self, texts: Sequence[str], batch_size: int = 128) -> np.ndarray:
        """Unit-normalised float32 embeddings, shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        import torch

        self._ensure()
        batches = encode_batches(texts, batch_size)
        parts = []
        with torch.inference_mode():
            for batch in batches:
                parts.append(self._forward([texts[j] for j in batch]).numpy())
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        out[[j for batch in batches for j in batch]] = np.concatenate(parts).astype(np.float32)
        return np.ascontiguousarray(out)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    def warm(self, texts: Sequence[str], vectors: np.ndarray) -> int:
        """Put known embeddings into the query cache (texts the nightly job already encoded: the
        candidates and the requests that were rephrased into them). Returns how many were added."""
        added = 0
        with self._cache_lock:
            for text, vec in zip(texts, vectors, strict=True):
                if text not in self._cache and len(self._cache) < self.cache_size:
                    self._cache[text] = np.ascontiguousarray(vec.reshape(1, -1), dtype=np.float32)
                    added += 1
        return added

    def encode_one(self, text: str) -> np.ndarray:
        """One query's embedding (1, 384), from the LRU cache when the text was seen recently."""
        with self._cache_lock:
            vec = self._cache.get(text)
            if vec is not None:
                self._cache.move_to_end(text)
                self.hits_ += 1
                return vec
            self.misses_ += 1
        vec = self._encode_uncached(text)
        self._store(text, vec)
        return vec

    def _store(self, text: str, vec: np.ndarray) -> None:
        with self._cache_lock:
            self._cache[text] = vec
            self._cache.move_to_end(text)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def is_cached(self, text: str) -> bool:
        with self._cache_lock:
            return text in self._cache

    def prefetch(self, text: str) -> None:
        """Encode `text` into the cache without counting it as a query (a service's encode
        thread, so that the request's own `encode_one` finds it)."""
        if self.is_cached(text):
            return
        self._store(text, self._encode_uncached(text))

    @property
    def is_traced(self) -> bool:
        return self._traced is not None

    def __getstate__(self) -> dict[str, Any]:
        # Locks and the compiled single-query path do not pickle; a copy encodes eagerly until
        # it is traced again.
        state = self.__dict__.copy()
        del state["_cache_lock"], state["_tokenizer_lock"]
        state["_traced"], state["precision_"] = None, "eager"
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache_lock = threading.Lock()
        self._tokenizer_lock = threading.Lock()

    def _tokenize(self, texts: list[str], **kwargs: Any) -> Any:
        # A fast tokenizer sets its truncation and padding state on each call, and two threads
        # calling it at once fail ("Already borrowed"): a service's encode thread and its request
        # thread may both tokenize. Tokenizing one request takes ~0.1 ms.
        with self._tokenizer_lock:
            return self._tokenizer(texts, **kwargs)

    def _encode_uncached(self, text: str) -> np.ndarray:
        run = self._traced  # read once: another thread may compile or drop it meanwhile
        if run is None:
            return self.encode([text])
        return np.ascontiguousarray(run(text), dtype=np.float32)

    def trace(self, bf16: bool | None = None, onnx: bool | None = None) -> bool:
        """Encode single queries (`encode_one`'s misses) through a compiled form of the model
        instead of eager PyTorch, whose Python dispatch costs about as much as the matrix products
        for one short request. Candidates, each checked on probe texts of other lengths against
        the eager model and timed:

        * a TorchScript trace, frozen and optimised for inference (same embeddings to ~1e-7;
          ~60% of eager's time: 7.6 against 12.7 ms on one thread here);
        * the model exported to ONNX and run by ONNX Runtime (same to ~2e-7; 5.2 ms here), when
          onnxruntime is installed (`onnx` None or True);
        * a bfloat16 TorchScript trace (`bf16` None or True), kept only if it agrees (cosine
          >= 0.9995; ~0.99995 measured) and is >= 15% faster than the best exact one (CPUs with
          AMX or AVX-512 BF16; elsewhere it is slower).

        The fastest that qualifies encodes from then on; `precision_` names it. On any failure
        the eager path stays (returns False). Fine-tuning drops it (its weights are frozen in)."""
        import copy
        import time

        import torch

        self._ensure()
        self._traced = None
        self.precision_ = "eager"
        probe = ["turn on the kitchen lights", "hi", "set an alarm for six thirty tomorrow morning please"]
        example = self._tokenize([probe[0]], return_tensors="pt")
        inputs = tuple(example[k] for k in _TRACE_INPUTS)

        def pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
            m = mask[..., None].astype(np.float32)
            vec = (hidden.astype(np.float32) * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            out: np.ndarray = vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
            return out

        def torchscript(model: Any) -> Any:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # TracerWarnings about branches one query never takes
                traced = torch.jit.optimize_for_inference(
                    torch.jit.trace(_last_hidden(model), inputs, check_trace=False).eval()
                )

            def run(text: str) -> np.ndarray:
                batch = self._tokenize([text], truncation=True, max_length=48, return_tensors="pt")
                with torch.inference_mode():
                    hidden = traced(*(batch[k] for k in _TRACE_INPUTS)).float().numpy()
                return pooled(hidden, batch["attention_mask"].numpy())

            return run

        def onnx_runtime() -> Any:
            import tempfile

            import onnxruntime as ort

            axes = {k: {0: "batch", 1: "tokens"} for k in (*_TRACE_INPUTS, "hidden")}
            with tempfile.TemporaryDirectory() as tmp, torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(  # a copy: exporting leaves changes on the module it walks
                    _last_hidden(copy.deepcopy(self._model)),
                    inputs,
                    str(Path(tmp) / "encoder.onnx"),
                    input_names=list(_TRACE_INPUTS),
                    output_names=["hidden"],
                    dynamic_axes=axes,
                    opset_version=17,
                    dynamo=False,
                )
                graph = (Path(tmp) / "encoder.onnx").read_bytes()
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = opts.inter_op_num_threads = 1
            session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])

            def run(text: str) -> np.ndarray:
                batch = self._tokenize([text], truncation=True, max_length=48, return_tensors="np")
                feed = {k: np.asarray(batch[k], dtype=np.int64) for k in _TRACE_INPUTS}
                return pooled(session.run(None, feed)[0], feed["attention_mask"])

            return run

        def timed(run: Any) -> tuple[np.ndarray, float]:
            vecs = np.vstack([run(t) for t in probe])  # also warms it up
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                for t in probe:
                    run(t)
                times.append(time.perf_counter() - t0)
            return vecs, float(np.median(times))

        log = logging.getLogger(__name__)
        with torch.inference_mode():
            eager = self.encode(probe)
        exact: list[tuple[float, str, Any]] = []
        builders: list[tuple[str, Any]] = [("torchscript-fp32", lambda: torchscript(self._model))]
        if onnx is not False:
            builders.append(("onnxruntime-fp32", onnx_runtime))
        for name, build in builders:
            try:
                run = build()
                vecs, secs = timed(run)
                if np.allclose(vecs, eager, rtol=0.0, atol=1e-4):
                    exact.append((secs, name, run))
                else:
                    log.warning(
                        "%s encoder differs from eager by %.2e; not used", name, np.abs(vecs - eager).max()
                    )
            except Exception:
                log.exception("%s encoder unavailable", name)
        if not exact:
            return False
        best_s, self.precision_, self._traced = min(exact, key=lambda e: e[0])
        if bf16 is not False:
            try:
                run = torchscript(copy.deepcopy(self._model).to(torch.bfloat16))
                vecs, secs = timed(run)
                if float((vecs * eager).sum(axis=1).min()) >= 0.9995 and (bf16 or secs <= 0.85 * best_s):
                    self.precision_, self._traced = "torchscript-bf16", run
            except Exception:  # bfloat16 unsupported here: the exact one stays
                log.info("bfloat16 encoder unavailable", exc_info=True)
        return True

    def fine_tune(
        self,
        pairs: Sequence[tuple[str, str]],
        steps: int = 200,
        batch_size: int = 32,
        lr: float = 2e-5,
        scale: float = 20.0,
        seed: int = 0,
        threads: int = 1,
        train_layers: int | None = 2,
    ) -> dict[str, float]:
        """Contrastive fine-tuning: each source should be nearer its own target than every other
        target in the batch (in-batch negatives; pairs sharing a target are not used as each
        other's negatives). Returns {"steps", "first_loss", "last_loss"}.

        `train_layers`: only the top that many transformer layers are adapted (None: all weights,
        embeddings included). The word embeddings are half of MiniLM's weights and Adam's state;
        freezing them and the lower layers makes a step about 3x cheaper on a CPU at a small cost
        in recall, which is what lets the job run nightly on two cores."""
        pairs = [(a, b) for a, b in pairs if a and b and a != b]
        if len(pairs) < 2 or steps <= 0:
            return {"steps": 0.0, "first_loss": float("nan"), "last_loss": float("nan")}
        import torch

        self._ensure()
        prev_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, threads))
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = self._model
        model.train()
        n_layers = int(getattr(model.config, "num_hidden_layers", 0))
        trainable = []
        top = range(max(0, n_layers - (train_layers or 0)), n_layers)
        for name, p in model.named_parameters():
            keep = train_layers is None or any(name.startswith(f"encoder.layer.{i}.") for i in top)
            p.requires_grad_(keep)
            if keep:
                trainable.append(p)
        opt = torch.optim.AdamW(trainable, lr=lr)
        losses: list[float] = []
        try:
            for _ in range(steps):
                idx = rng.choice(len(pairs), size=min(batch_size, len(pairs)), replace=False)
                src = [pairs[i][0] for i in idx]
                tgt = [pairs[i][1] for i in idx]
                a, b = self._forward(src), self._forward(tgt)
                logits = scale * a @ b.T
                same = torch.tensor([[x == y for y in tgt] for x in tgt])
                logits = logits.masked_fill(same & ~torch.eye(len(tgt), dtype=torch.bool), -1e4)
                loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(tgt)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
        finally:
            model.eval()
            torch.set_num_threads(prev_threads)
        self._cache.clear()
        self._traced, self.precision_ = None, "eager"
        self.fine_tuned_ = True
        k = max(1, len(losses) // 10)
        return {
            "steps": float(len(losses)),
            "first_loss": float(np.mean(losses[:k])),
            "last_loss": float(np.mean(losses[-k:])),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Save the fine-tuned weights (fp16, atomically); an un-tuned encoder needs no file."""
        import torch

        self._ensure()
        path = Path(path)
        state = {k: v.half() for k, v in self._model.state_dict().items()}
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None, cache_size: int = 65536) -> BiEncoder:
        """The shipped encoder (path None) or one saved by `save`."""
        enc = cls(cache_size=cache_size)
        enc._ensure()
        if path is not None:
            import torch

            state = torch.load(Path(path), map_location="cpu", weights_only=True)
            enc._model.load_state_dict({k: v.float() for k, v in state.items()})
            enc._model.eval()
            enc.fine_tuned_ = True
        return enc


# -- indexes -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved candidate: its row in the index and how it was found."""

    row: int
    dense: float  # cosine similarity of the query to the candidate
    phonetic: float  # metaphone-string similarity in [0, 1]


@dataclass
class CandidateIndex:
    """One layer's candidates: metadata rows (CANDIDATE_SCHEMA minus embedding), an exact FAISS
    inner-product index over their embeddings, and their phonetic keys for fuzzy phonetic search."""

    layer: str
    texts: list[str]
    embeddings: np.ndarray
    interpretations: list[str | None]
    intents: list[str | None]
    nlu_confidence: np.ndarray
    counts: np.ndarray
    distinct_users: np.ndarray
    last_seen: np.ndarray
    contexts: list[dict[str, int]]
    users: list[list[str]] = field(default_factory=list)
    sources: list[list[str]] = field(default_factory=list)
    source_embeddings: list[np.ndarray] = field(default_factory=list)  # (len(sources[i]), 384) each
    _faiss: Any = None
    _phon: list[str] = field(default_factory=list)
    _by_text: dict[str, int] = field(default_factory=dict)
    _by_source: dict[str, list[int]] = field(default_factory=dict)
    _vocab: frozenset[str] | None = None
    _prior: Any = None

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"unknown layer {self.layer!r}; expected one of {LAYERS}")
        n = len(self.texts)
        if self.embeddings.shape != (n, EMBEDDING_DIM):
            raise ValueError(f"{self.layer} index: embeddings {self.embeddings.shape} for {n} texts")
        import faiss

        self.embeddings = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        self._faiss = faiss.IndexFlatIP(EMBEDDING_DIM)
        if n:
            self._faiss.add(self.embeddings)
        self._phon = [phonetic_key(t) for t in self.texts]
        self._by_text = {t: i for i, t in enumerate(self.texts)}
        if self.sources and len(self.sources) != n:
            raise ValueError(f"{self.layer} index: {len(self.sources)} source lists for {n} texts")
        self._by_source = {}
        for i, srcs in enumerate(self.sources):
            for src in srcs:
                for key in (src, "~" + phonetic_key(src)):
                    self._by_source.setdefault(key, []).append(i)

    def __len__(self) -> int:
        return len(self.texts)

    def vocab(self) -> frozenset[str]:
        """Every word of the candidates' texts (built once: the index does not change)."""
        if self._vocab is None:
            self._vocab = frozenset(w for t in self.texts for w in t.split())
        return self._vocab

    def prior(self) -> RequestPrior:
        """A language model of these candidates' wording, weighted by how often each worked
        (built once: the index does not change). Meant for the global index: see rewrite.prior."""
        if self._prior is None:
            self._prior = RequestPrior().fit(self.texts, [float(c) for c in self.counts])
        prior: RequestPrior = self._prior
        return prior

    def row_of(self, text: str) -> int | None:
        return self._by_text.get(text)

    def has_source(self, query_text: str) -> bool:
        """Was this request (or one sounding the same) rephrased into one of these candidates
        before? For a personal index: the user's own habitual failing phrasing."""
        return bool(self._by_source) and (
            query_text in self._by_source or ("~" + phonetic_key(query_text)) in self._by_source
        )

    def source_match(self, row: int, query_text: str) -> float:
        """1.0 if `query_text` was rephrased into this candidate before; else the best fuzzy
        similarity to such a request; 0.0 when none is known."""
        srcs = self.sources[row] if self.sources else []
        if not srcs:
            return 0.0
        if query_text in srcs:
            return 1.0
        return max(fuzz.ratio(query_text, src) for src in srcs) / 100.0

    def search(
        self, query_vec: np.ndarray, query_text: str, k_dense: int = 8, k_phonetic: int = 4
    ) -> list[Hit]:
        """Union of the dense top-k and the phonetic top-k, each hit with both similarities."""
        n = len(self.texts)
        if n == 0:
            return []
        q = np.ascontiguousarray(query_vec.reshape(1, -1), dtype=np.float32)
        sims, rows = self._faiss.search(q, min(k_dense, n))
        found: dict[int, float] = {int(r): float(s) for r, s in zip(rows[0], sims[0], strict=True) if r >= 0}
        qp = phonetic_key(query_text)
        for _key, _score, r in process.extract(qp, self._phon, scorer=fuzz.ratio, limit=min(k_phonetic, n)):
            found.setdefault(int(r), float("nan"))
        # candidates this very request (or one sounding the same) was rephrased into before
        for r in self._by_source.get(query_text, []) + self._by_source.get("~" + qp, []):
            found.setdefault(r, float("nan"))
        hits = []
        for r, dense in found.items():
            if math.isnan(dense):
                dense = float(self.embeddings[r] @ q[0])
            hits.append(Hit(row=r, dense=dense, phonetic=fuzz.ratio(qp, self._phon[r]) / 100.0))
        hits.sort(key=lambda h: -h.dense)
        return hits

    # -- Arrow round trip ----------------------------------------------------------------------------
    def to_arrow(self, user_id: str | None = None) -> pa.Table:
        n = len(self.texts)
        ctx_keys = [sorted(c) for c in self.contexts]
        emb = pa.FixedSizeListArray.from_arrays(
            pa.array(self.embeddings.reshape(-1), pa.float32()), EMBEDDING_DIM
        )
        return pa.table(
            {
                "layer": [self.layer] * n,
                "user_id": [user_id] * n,
                "text": self.texts,
                "interpretation": self.interpretations,
                "intent": self.intents,
                "nlu_confidence": self.nlu_confidence.astype(np.float64),
                "count": self.counts.astype(np.int64),
                "distinct_users": self.distinct_users.astype(np.int64),
                "users": self.users if self.users else [[] for _ in range(n)],
                "first_seen": np.zeros(n),
                "last_seen": self.last_seen.astype(np.float64),
                "context_keys": ctx_keys,
                "context_counts": [[c[k] for k in ks] for c, ks in zip(self.contexts, ctx_keys, strict=True)],
                "embedding": emb,
                "sources": self.sources if self.sources else [[] for _ in range(n)],
                "source_embeddings": [[v.tolist() for v in e] for e in self.source_embeddings]
                if self.source_embeddings
                else [[] for _ in range(n)],
            },
            schema=CANDIDATE_SCHEMA,
        )

    @classmethod
    def from_arrow(cls, layer: str, data: pa.Table) -> CandidateIndex:
        n = data.num_rows
        emb = data.column("embedding").combine_chunks() if n else None
        vecs = (
            np.asarray(emb.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(
                n, EMBEDDING_DIM
            )
            if emb is not None
            else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        )
        keys = data.column("context_keys").to_pylist()
        counts = data.column("context_counts").to_pylist()
        return cls(
            layer=layer,
            texts=data.column("text").to_pylist(),
            embeddings=vecs,
            interpretations=data.column("interpretation").to_pylist(),
            intents=data.column("intent").to_pylist(),
            nlu_confidence=np.asarray(
                data.column("nlu_confidence").to_numpy(zero_copy_only=False), dtype=np.float64
            ),
            counts=np.asarray(data.column("count").to_numpy(zero_copy_only=False), dtype=np.float64),
            distinct_users=np.asarray(
                data.column("distinct_users").to_numpy(zero_copy_only=False), dtype=np.float64
            ),
            last_seen=np.asarray(data.column("last_seen").to_numpy(zero_copy_only=False), dtype=np.float64),
            contexts=[dict(zip(k or [], c or [], strict=True)) for k, c in zip(keys, counts, strict=True)],
            users=[list(u or []) for u in data.column("users").to_pylist()],
            sources=[list(u or []) for u in data.column("sources").to_pylist()]
            if "sources" in data.column_names
            else [],
            source_embeddings=[
                np.asarray(e or [], dtype=np.float32).reshape(-1, EMBEDDING_DIM)
                for e in data.column("source_embeddings").to_pylist()
            ]
            if "source_embeddings" in data.column_names
            else [],
        )


class PersonalIndexes:
    """One `CandidateIndex` per user. `search` only ever looks in the asking user's own index, so
    one person's requests can never be proposed to another."""

    def __init__(self, by_user: Mapping[str, CandidateIndex] | None = None) -> None:
        self._by_user: dict[str, CandidateIndex] = dict(by_user or {})
        for uid, idx in self._by_user.items():
            if idx.layer != "personal":
                raise ValueError(f"personal index of {uid!r} has layer {idx.layer!r}")

    def __len__(self) -> int:
        return len(self._by_user)

    def users(self) -> list[str]:
        return sorted(self._by_user)

    def get(self, user_id: str) -> CandidateIndex | None:
        return self._by_user.get(user_id)

    def search(
        self, user_id: str, query_vec: np.ndarray, query_text: str, k_dense: int = 8, k_phonetic: int = 4
    ) -> tuple[CandidateIndex | None, list[Hit]]:
        idx = self._by_user.get(user_id)
        if idx is None:
            return None, []
        return idx, idx.search(query_vec, query_text, k_dense, k_phonetic)

    def without(self, user_ids: Iterable[str]) -> PersonalIndexes:
        drop = set(user_ids)
        return PersonalIndexes({u: i for u, i in self._by_user.items() if u not in drop})

    def to_arrow(self) -> pa.Table:
        parts = [self._by_user[u].to_arrow(user_id=u) for u in self.users()]
        return pa.concat_tables(parts) if parts else CANDIDATE_SCHEMA.empty_table()

    @classmethod
    def from_arrow(cls, data: pa.Table) -> PersonalIndexes:
        if data.num_rows == 0:
            return cls()
        import pyarrow.compute as pc

        out = {}
        for uid in pc.unique(data.column("user_id")).to_pylist():
            if uid is None:
                raise ValueError("personal candidate row without user_id")
            out[uid] = CandidateIndex.from_arrow(
                "personal", data.filter(pc.equal(data.column("user_id"), uid))
            )
        return cls(out)
