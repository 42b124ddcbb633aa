"""The NLU stage of the assistant pipeline: runs a trained `NluModel` on the turn's text.

Reads ``state.turn.text`` (the rewrite if one fired, else the ASR 1-best) and writes
``state.turn.nlu``: which model read what, and its n-best. The n-best is recorded before any
failure is raised, because a low-confidence turn is exactly the kind the learners need to see.

It is also the serve-time half of the protected-action guard (`rewrite.guard`): when a learned
rewrite makes the request read as a protected intent (unlocking, opening the garage, buying) that
the words as heard do not read as, the rewrite is refused and the words as heard are understood
instead. Whatever a table or an index learned, a rewrite never unlocks a door on its own.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from selflearn.assistant.component import StageFailure, TurnState, register
from selflearn.assistant.nlu.load import Understanding, load_nlu
from selflearn.contracts.domain import protected_by_default
from selflearn.logs.records import NluStage, StageError


class NluComponent:
    """Fills the ``nlu`` stage; fails with ``nlu-no-intent`` on empty text and with
    ``nlu-low-confidence`` when the top hypothesis is below ``threshold``."""

    name = "nlu"

    def __init__(
        self,
        model: Understanding,
        *,
        threshold: float = 0.3,
        n: int = 3,
        protected: Collection[str] | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.model = model
        self.threshold = threshold
        self.n = n
        # None: the default policy over the model's own intents (`contracts.domain`)
        self.protected = frozenset(protected_by_default(model.classes_) if protected is None else protected)
        self.refused = 0  # rewrites refused by the protected-action guard since start
        # the log names the exact model: "<name>@<training fingerprint>"
        self.model_name = f"{model.name}@{model.version_}"

    def set_model(self, model: Understanding) -> None:
        """Serve a newly published model from the next turn on (the nightly understanding step)."""
        self.model = model
        self.model_name = f"{model.name}@{model.version_}"

    def __call__(self, state: TurnState) -> TurnState:
        text = state.turn.text
        if not text.strip():
            state.turn.nlu = NluStage(model=self.model_name, input_text=text, nbest=[])
            raise StageFailure(StageError.NLU_NO_INTENT, "no text to understand")
        nbest = self.model.predict(text, n=self.n)
        rewrite = state.turn.rewrite
        if rewrite is not None and nbest and nbest[0].intent in self.protected:
            heard = self.model.predict(rewrite.original, n=self.n)
            if not heard or heard[0].intent != nbest[0].intent:
                # the rewrite alone would make this a protected action: refuse it
                state.turn.rewrite = None
                self.refused += 1
                text, nbest = rewrite.original, heard
        state.turn.nlu = NluStage(model=self.model_name, input_text=text, nbest=nbest)
        if not nbest:
            raise StageFailure(StageError.NLU_NO_INTENT, f"no intent for {text!r}")
        if nbest[0].confidence < self.threshold:
            raise StageFailure(
                StageError.NLU_LOW_CONFIDENCE,
                f"top intent {nbest[0].intent} at {nbest[0].confidence:.2f} < {self.threshold}",
            )
        return state


@register("nlu.model.v1")
def make_nlu(
    model_dir: str | Path | None = None,
    model: Understanding | None = None,
    threshold: float = 0.3,
    n: int = 3,
    protected: Collection[str] | None = None,
) -> NluComponent:
    """Pipeline factory: give a saved model's directory (from config) or a fitted model (in code).
    `protected` names the deployment's protected intents (default: `contracts.domain`'s policy)."""
    if (model_dir is None) == (model is None):
        raise ValueError("nlu.model.v1 needs exactly one of model_dir or model")
    if model is None:
        assert model_dir is not None
        model = load_nlu(Path(model_dir))
    return NluComponent(model, threshold=threshold, n=n, protected=protected)
