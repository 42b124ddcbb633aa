"""The runtime context component: entity resolution plus a context-aware choice among the turn's
candidate interpretations. Registered as ``context.rerank.v1``; it fills the ``resolution`` stage,
so a config turns it on by putting it where ``resolution.home.v1`` was.

It runs the ordinary resolver first (the context-free default, unchanged), then scores every
candidate (`selflearn.context.features`) with the trained `ContextReranker` and, when another
candidate clearly wins, executes that instead. What it chose is visible in the log: the chosen
intent's hypothesis is moved to the top of the NLU n-best (an intent the NLU did not propose
enters it with confidence 0), and a slot filled from context is a resolved entity with an empty
surface value, as the resolver already logs a room taken from context.

A context-aware choice never makes a request a protected action (unlocking, opening the garage,
disarming, buying: `contracts.domain`) that the NLU's reading did not already mean: the reranker
learns from implicit feedback, which is cheap to forge, so such candidates are never offered to it.

The user's previous request in the session (for "turn it off") is kept in memory per user; a
counterfactual replay of a turn (`TurnState.replay`) is never remembered, so it never counts as
the user's history.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from selflearn.assistant.component import StageFailure, TurnState, register
from selflearn.assistant.resolve import CONTEXT_VALUE, EntityResolver
from selflearn.context.features import featurize, generate_candidates
from selflearn.context.history import HistoryStore
from selflearn.context.reranker import ContextReranker
from selflearn.context.signals import Interpretation, TurnView
from selflearn.context.training import prev_turn
from selflearn.contracts.domain import protected_by_default
from selflearn.logs.records import NluHypothesis, ResolutionStage, ResolvedEntity, Turn

__all__ = ["ContextRerankResolver", "make_context_reranker"]


class ContextRerankResolver:
    """Fills the resolution stage; see the module docstring."""

    name = "resolution"
    assigns = ("resolved_args", "unresolved", "context.scores", "context.choice")

    def __init__(
        self,
        model: ContextReranker | None,
        history: HistoryStore | None = None,
        resolver: EntityResolver | None = None,
        protected: Collection[str] | None = None,
    ) -> None:
        self.model = model
        # None: the default policy, applied to each candidate's intent name
        self.protected = None if protected is None else frozenset(protected)
        self.history = history if history is not None else HistoryStore()
        self.resolver = resolver if resolver is not None else EntityResolver()
        self._last: dict[str, Turn] = {}
        self.n_turns = 0
        self.n_changed = 0
        self.changes: dict[str, str] = {}  # recent turn id -> the interpretation chosen instead

    def config(self) -> dict[str, Any]:
        """The settings `create("context.rerank.v1", **settings)` rebuilds this from; the model and
        the histories are collaborators (or published artifacts the factory loads)."""
        return {
            "component": getattr(self, "created_as", "context.rerank.v1"),
            "threshold": self.resolver.threshold,
            "tie_margin": self.resolver.tie_margin,
            "protected": None if self.protected is None else sorted(self.protected),
            "collaborators": ["model", "history"],
        }

    def set_model(self, model: ContextReranker | None, history: HistoryStore | None = None) -> None:
        """Swap in a newly trained model (and history) between turns, e.g. after a nightly job."""
        self.model = model
        if history is not None:
            self.history = history

    def forget_user(self, user_id: str) -> bool:
        """Drop everything the component holds about a user (history and the remembered previous
        request) at once; True if there was anything."""
        had_turn = self._last.pop(user_id, None) is not None
        return self.history.delete_user(user_id) or had_turn

    def _previous(self, turn: Turn) -> Turn | None:
        prev = self._last.get(turn.user_id)
        if prev is None or prev.turn_id == turn.turn_id or prev.timestamp > turn.timestamp:
            return None
        return prev

    def __call__(self, state: TurnState) -> TurnState:
        turn = state.turn
        first_time = not state.replay
        previous = self._previous(turn)
        if first_time:
            self._last[turn.user_id] = turn
        failure: StageFailure | None = None
        try:
            state = self.resolver(state)
        except StageFailure as exc:
            failure = exc
        top = turn.nlu.top
        if self.model is None or top is None:
            if failure is not None:
                raise failure
            return state
        if first_time:
            self.n_turns += 1
        args = dict(state.resolved_args or {})
        ctx_room = next(
            (e.entity_id for e in turn.resolution.entities if e.slot == "room" and e.value == ""), None
        )
        if ctx_room is not None and args.get("room") == ctx_room:
            args.pop("room")
        default = Interpretation.make(top.intent, args, ctx_room)
        domain = state.home.domain if state.home is not None else None
        view = TurnView.from_turn(turn, prev=prev_turn(turn, previous), executed=default, domain=domain)
        cands = [
            c
            for i, c in enumerate(generate_candidates(view, self.history))
            if i == 0 or c.interp.intent == default.intent or not self._protected(c.interp.intent)
        ]
        if len(cands) > 1:
            best, scores = self.model.choose(featurize(cands, view, self.history))
            state.extensions["context.scores"] = {
                c.interp.key: float(s) for c, s in zip(cands, scores, strict=True)
            }
            if best != 0:
                if first_time:
                    self.n_changed += 1
                    if len(self.changes) > 10_000:
                        self.changes.clear()
                    self.changes[turn.turn_id] = cands[best].interp.key
                self._apply(state, cands[best].interp, default)
                return state
        if failure is not None:
            raise failure
        return state

    def _protected(self, intent: str) -> bool:
        if self.protected is not None:
            return intent in self.protected
        return bool(protected_by_default([intent]))

    def _apply(self, state: TurnState, chosen: Interpretation, default: Interpretation) -> None:
        turn = state.turn
        args = chosen.arg_dict
        home = state.home
        if home is not None:
            args = home.complete_args(chosen.intent, args, EntityResolver.context_room(state))
        nbest = list(turn.nlu.nbest)
        idx = next((i for i, h in enumerate(nbest) if h.intent == chosen.intent), None)
        hyp = nbest.pop(idx) if idx is not None else NluHypothesis(intent=chosen.intent, confidence=0.0)
        turn.nlu.nbest = [hyp, *nbest]
        said = {s.name for s in hyp.slots}
        old = {e.slot: e for e in turn.resolution.entities} if chosen.intent == default.intent else {}
        entities: list[ResolvedEntity] = []
        for slot, value in sorted(args.items()):
            prior = old.get(slot)
            if prior is not None and prior.entity_id == value:
                entities.append(prior)
            elif prior is not None and slot in said:
                alts = [c for c in [prior.entity_id, *prior.candidates] if c and c != value][:4]
                entities.append(prior.model_copy(update={"entity_id": value, "candidates": alts}))
            else:
                surface = (hyp.slot(slot) or CONTEXT_VALUE) if slot in said else CONTEXT_VALUE
                entities.append(ResolvedEntity(slot=slot, value=surface, entity_id=value, score=1.0))
        turn.resolution = ResolutionStage(entities=entities)
        state.resolved_args = args
        state.unresolved = None
        state.extensions["context.choice"] = chosen.key


@register("context.rerank.v1")
def make_context_reranker(
    model_dir: str | Path | None = None,
    model: ContextReranker | None = None,
    history_path: str | Path | None = None,
    history: HistoryStore | None = None,
    threshold: float = 0.8,
    tie_margin: float = 0.02,
    protected: Collection[str] | None = None,
) -> ContextRerankResolver:
    """Pipeline factory: a saved model's directory and history file (from config), or objects (in
    code). Without a model it behaves exactly like ``resolution.home.v1``."""
    if model is None and model_dir is not None and (Path(model_dir) / "manifest.json").exists():
        model = ContextReranker.load(model_dir)
    if history is None and history_path is not None and Path(history_path).exists():
        history = HistoryStore.load(history_path)
    resolver = EntityResolver(threshold=threshold, tie_margin=tie_margin)
    return ContextRerankResolver(model, history, resolver, protected=protected)
