"""Neural mixing fusion: a small transformer encoder over the turn's texts and numbers.

Each text embedding (request, response, interpretation, next request; MiniLM, frozen) becomes
one token through a shared projection plus a learned type embedding; the standardised numeric
features become one more token through a small MLP; a [CLS] token reads them all through two
self-attention layers. Attention lets the model relate the texts to each other and to the
numbers (a low ASR confidence matters when the next request says the same thing in other words),
which a tree over concatenated columns can only approximate. Small on purpose (d=64): it trains
on CPU in seconds on a few thousand turns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from selflearn.fpi.features import FEATURE_VERSION, FeatureSet
from selflearn.fpi.neighbours import fit_neighbours, load_neighbours, neighbour_block, save_neighbours
from selflearn.util.atomic import atomic_path
from selflearn.util.learner import Learner

__all__ = ["MixerFpi"]


def _module(n_numeric: int, n_texts: int, n_classes: int, dim: int, layers: int, dropout: float) -> Any:
    import torch
    from torch import nn

    class Mixer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.text_proj = nn.Sequential(nn.Linear(384, dim), nn.LayerNorm(dim))
            self.num_proj = nn.Sequential(nn.Linear(n_numeric, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
            self.type_emb = nn.Parameter(torch.randn(n_texts + 2, dim) * 0.02)  # cls, numbers, texts
            layer = nn.TransformerEncoderLayer(
                dim, nhead=4, dim_feedforward=2 * dim, dropout=dropout, batch_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
            self.head = nn.Sequential(nn.LayerNorm(dim), nn.Dropout(dropout), nn.Linear(dim, n_classes))

        def forward(self, numeric: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
            b = numeric.shape[0]
            cls = torch.zeros(b, 1, dim, device=numeric.device)
            tokens = torch.cat([cls, self.num_proj(numeric).unsqueeze(1), self.text_proj(texts)], dim=1)
            h = self.encoder(tokens + self.type_emb.unsqueeze(0))
            out: torch.Tensor = self.head(h[:, 0])
            return out

    return Mixer()


class MixerFpi(Learner):
    """Transformer mixing encoder over text embeddings + numbers: `fit(features, labels) -> self`,
    `predict(features)`. Class-weighted cross-entropy (inverse square-root frequency)."""

    kind = "mixer"
    manifest_kind = "mixer"
    feature_version = FEATURE_VERSION

    def __init__(
        self,
        dim: int = 64,
        neighbours: int = 10,
        layers: int = 2,
        dropout: float = 0.1,
        epochs: int = 20,
        batch_size: int = 128,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        seed: int = 0,
    ) -> None:
        self.dim = dim
        self.neighbours = neighbours
        self.layers = layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed

    def fit(self, features: FeatureSet, labels: list[str]) -> MixerFpi:
        import torch

        from selflearn.text.encoder import set_torch_threads

        if len(features) != len(labels):
            raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
        if len(set(labels)) < 2:
            raise ValueError(f"need at least two failure-point classes to learn from, got {set(labels)}")
        set_torch_threads()
        torch.manual_seed(self.seed)
        self.classes_: list[str] = sorted(set(labels))
        self.numeric_names_ = list(features.numeric_names)
        self.n_texts_ = len(features.text_names)
        self.neighbours_ = fit_neighbours(features, labels, self.classes_, self.neighbours)
        numbers = self._numbers(features, training=True)
        self.mean_ = numbers.mean(axis=0)
        self.std_ = numbers.std(axis=0) + 1e-6
        y = torch.tensor([self.classes_.index(s) for s in labels])
        num, txt = self._tensors(features, training=True)
        counts = torch.bincount(y, minlength=len(self.classes_)).float()
        weight = (counts.sum() / counts.clamp(min=1)).sqrt()
        weight = weight / weight.mean()
        net = _module(num.shape[1], txt.shape[1], len(self.classes_), self.dim, self.layers, self.dropout)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = self.epochs * max(1, -(-len(y) // self.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=steps)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
        gen = torch.Generator().manual_seed(self.seed)
        net.train()
        for _ in range(self.epochs):
            perm = torch.randperm(len(y), generator=gen)
            for start in range(0, len(y), self.batch_size):
                idx = perm[start : start + self.batch_size]
                opt.zero_grad()
                loss = loss_fn(net(num[idx], txt[idx]), y[idx])
                loss.backward()
                opt.step()
                sched.step()
        net.eval()
        self.net_: Any = net
        return self

    def _numbers(self, features: FeatureSet, training: bool = False) -> np.ndarray:
        return np.hstack([features.numeric, neighbour_block(self.neighbours_, features, training)])

    def _tensors(self, features: FeatureSet, training: bool = False) -> tuple[Any, Any]:
        import torch

        num = (self._numbers(features, training) - self.mean_) / self.std_
        return torch.tensor(num, dtype=torch.float32), torch.tensor(features.texts, dtype=torch.float32)

    def predict_proba(self, features: FeatureSet) -> np.ndarray:
        import torch

        self.check_fitted()
        if list(features.numeric_names) != self.numeric_names_:
            raise ValueError("features were built by another feature version than the model's")
        num, txt = self._tensors(features)
        with torch.no_grad():
            out = [
                torch.softmax(self.net_(num[s : s + 1024], txt[s : s + 1024]), dim=1)
                for s in range(0, len(features), 1024)
            ]
        if not out:
            return np.zeros((0, len(self.classes_)), dtype=np.float32)
        return torch.cat(out).numpy()

    def predict(self, features: FeatureSet) -> np.ndarray:
        proba = self.predict_proba(features)
        return np.array(self.classes_)[proba.argmax(axis=1)]

    def save(self, directory: str | Path) -> Path:
        import torch

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        with atomic_path(d / "model.pt") as tmp:
            torch.save(self.net_.state_dict(), tmp)
        save_neighbours(self.neighbours_, d)
        return self.write_manifest(
            d,
            classes=self.classes_,
            numeric_names=self.numeric_names_,
            mean=self.mean_.tolist(),
            std=self.std_.tolist(),
            n_texts=self.n_texts_,
        )

    @classmethod
    def load(cls, directory: str | Path) -> MixerFpi:
        import torch

        d = Path(directory)
        manifest = cls.read_manifest(d)
        model: MixerFpi = cls.from_manifest(manifest)
        model.classes_ = list(manifest["classes"])
        model.numeric_names_ = list(manifest["numeric_names"])
        model.n_texts_ = int(manifest["n_texts"])
        model.mean_ = np.asarray(manifest["mean"], dtype=np.float32)
        model.std_ = np.asarray(manifest["std"], dtype=np.float32)
        model.neighbours_ = load_neighbours(d, model.classes_)
        net = _module(len(model.mean_), model.n_texts_, len(model.classes_), model.dim, model.layers, 0.0)
        net.load_state_dict(torch.load(d / "model.pt", weights_only=True))
        net.eval()
        model.net_ = net
        return model
