"""Which understanding model a saved directory holds, and what the runtime asks of one.

Two models serve the same stage: `model.NluModel` (TF-IDF + logistic regression, CRF slots; fast,
trains in seconds) and `transformer.TransformerNlu` (the shipped MiniLM fine-tuned jointly for
intent and slots). Both write a manifest naming their kind, so a deployment switches by publishing
the other one: everything that loads the live model goes through `load_nlu`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from selflearn.logs.records import NluHypothesis

__all__ = ["Understanding", "load_nlu", "nlu_kinds"]


class Understanding(Protocol):
    """What the runtime and the learners read from an understanding model."""

    name: str
    version_: str
    classes_: list[str]

    def predict(self, text: str, n: int = 3) -> list[NluHypothesis]: ...

    def predict_batch(self, texts: Sequence[str], n: int = 3) -> list[list[NluHypothesis]]: ...

    def intent_proba(self, text: str) -> Any: ...

    def intent_proba_batch(self, texts: Sequence[str]) -> Any: ...

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...

    def fit(self, examples: Sequence[Any]) -> Any: ...

    def save(self, directory: str | Path) -> Path: ...


def nlu_kinds() -> dict[str, type[Any]]:
    """Manifest kind -> the class that loads it."""
    from selflearn.assistant.nlu.model import NluModel
    from selflearn.assistant.nlu.transformer import TransformerNlu

    return {cls.kind_name(): cls for cls in (NluModel, TransformerNlu)}


def load_nlu(directory: str | Path) -> Any:
    """The understanding model saved in `directory`, of whichever kind its manifest names."""
    d = Path(directory)
    path = d / "manifest.json"
    try:
        kind = json.loads(path.read_text(encoding="utf-8"))["kind"]
    except FileNotFoundError:
        raise FileNotFoundError(f"no understanding model in {d} (no manifest.json)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable manifest (field 'kind'): {exc}") from exc
    kinds = nlu_kinds()
    if kind not in kinds:
        raise ValueError(f"{path}: field 'kind' is {kind!r}, not an understanding model ({', '.join(kinds)})")
    return kinds[kind].load(d)
