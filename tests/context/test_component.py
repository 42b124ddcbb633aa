from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from selflearn.assistant.component import StageFailure, TurnState, Utterance
from selflearn.compose import build_assistant, default_config
from selflearn.context.component import ContextRerankResolver, make_context_reranker
from selflearn.context.history import HistoryStore
from selflearn.context.reranker import ContextReranker
from selflearn.home.devices import Kind
from selflearn.home.domain import simulated_domain
from selflearn.home.factory import make_home
from selflearn.home.home import Home
from selflearn.logs.records import NluHypothesis, NluStage, Slot

SIM_DOMAIN = simulated_domain()


class PickOven(ContextReranker):
    """Chooses the first candidate acting on an oven (a stand-in for a trained model)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def choose(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        self.seen.append(x.shape[0])
        return self.pick, np.linspace(1.0, 0.0, x.shape[0])

    pick = 0


def _home() -> Home:
    for seed in range(50):
        home = make_home(random.Random(seed), "h1")
        if home.devices_of(Kind.OVEN) and home.devices_of(Kind.THERMOSTAT):
            return home
    raise AssertionError("no home with an oven")


def _state(turn_factory: Any, home: Home, text: str, hyps: list[NluHypothesis], i: int = 1) -> TurnState:
    t = turn_factory(i, text, [])
    t.context.device_states = home.snapshot()
    t.context.room = next(iter(home.rooms))
    t.nlu = NluStage(model="test", input_text=text, nbest=hyps)
    return TurnState(turn=t, utterance=Utterance(text=text), home=home)


def test_without_a_model_it_is_the_plain_resolver(turn_factory: Any) -> None:
    home = _home()
    comp = make_context_reranker()
    st = comp(
        _state(
            turn_factory,
            home,
            "what's the temperature",
            [NluHypothesis(intent="temperature_query", confidence=0.9)],
        )
    )
    assert "device" not in st.resolved_args
    with pytest.raises(StageFailure):
        comp(_state(turn_factory, home, "turn on zorblax", [
            NluHypothesis(intent="lights_on", confidence=0.9, slots=[Slot(name="device", value="zorblax")])
        ], i=2))  # fmt: skip


def test_chosen_candidate_is_executed_and_logged(turn_factory: Any) -> None:
    home = _home()
    oven = home.devices_of(Kind.OVEN)[0]
    oven.state["on"] = True
    model = PickOven()
    comp = ContextRerankResolver(model, HistoryStore(SIM_DOMAIN))
    st = _state(turn_factory, home, "what's the temperature", [
        NluHypothesis(intent="temperature_query", confidence=0.9),
        NluHypothesis(intent="weather_query", confidence=0.05),
    ])  # fmt: skip
    # find the oven candidate's index the same way the component will see it
    from selflearn.context.features import generate_candidates
    from selflearn.context.signals import Interpretation, TurnView

    view = TurnView.from_turn(
        st.turn, executed=Interpretation.make("temperature_query", {}), domain=SIM_DOMAIN
    )
    keys = [c.interp.key for c in generate_candidates(view)]
    model.pick = keys.index(f"temperature_query|device={oven.entity_id}")
    st = comp(st)
    assert st.resolved_args["device"] == oven.entity_id
    assert st.turn.nlu.top is not None and st.turn.nlu.top.intent == "temperature_query"
    ent = next(e for e in st.turn.resolution.entities if e.slot == "device")
    assert ent.value == "" and ent.entity_id == oven.entity_id  # filled from context, not said
    assert comp.n_changed == 1 and comp.n_turns == 1
    # an intent the NLU ranked second moves to the top of the n-best
    model.pick = keys.index("weather_query")
    st2 = comp(_state(turn_factory, home, "what's the temperature", [
        NluHypothesis(intent="temperature_query", confidence=0.9),
        NluHypothesis(intent="weather_query", confidence=0.05),
    ], i=2))  # fmt: skip
    assert [h.intent for h in st2.turn.nlu.nbest] == ["weather_query", "temperature_query"]


def test_replays_do_not_become_the_previous_turn(turn_factory: Any) -> None:
    home = _home()
    comp = ContextRerankResolver(PickOven(), HistoryStore(SIM_DOMAIN))
    st = _state(turn_factory, home, "turn on the tv", [NluHypothesis(intent="tv_on", confidence=0.9)])
    comp(st)
    replay = TurnState(turn=st.turn.model_copy(deep=True), utterance=st.utterance, home=home, replay=True)
    comp(replay)
    assert comp.n_turns == 1
    nxt = _state(turn_factory, home, "turn it off", [NluHypothesis(intent="lights_off", confidence=0.6)], i=2)
    assert comp._previous(nxt.turn) is st.turn
    assert comp.forget_user(st.turn.user_id) and comp._previous(nxt.turn) is None


def test_factory_puts_it_in_resolutions_place(small_nlu: Any) -> None:
    cfg = default_config(seed=0, nlu=small_nlu, context={"model": None, "history": HistoryStore(SIM_DOMAIN)})
    names = [e["component"] for e in cfg]
    assert "context.rerank.v1" in names and "resolution.home.v1" not in names
    assistant = build_assistant(cfg)
    assert isinstance(assistant.component("resolution"), ContextRerankResolver)


class PickAt(ContextReranker):
    """Prefers the candidate at `pick` (or the last): a stand-in for a model taught by forged
    feedback to prefer one reading."""

    pick = 0

    def choose(self, x: np.ndarray) -> tuple[int, np.ndarray]:
        best = min(self.pick, x.shape[0] - 1)
        return best, np.eye(x.shape[0])[best]


def test_context_never_turns_a_request_into_a_protected_action(turn_factory: Any) -> None:
    from selflearn.context.features import generate_candidates
    from selflearn.context.signals import Interpretation, TurnView

    home = _home()
    hyps = [
        NluHypothesis(intent="temperature_query", confidence=0.9),
        NluHypothesis(intent="security_disarm", confidence=0.05),
    ]
    st = _state(turn_factory, home, "what's the temperature", list(hyps))
    view = TurnView.from_turn(
        st.turn, executed=Interpretation.make("temperature_query", {}), domain=SIM_DOMAIN
    )
    intents = [c.interp.intent for c in generate_candidates(view)]
    model = PickAt()
    model.pick = intents.index("security_disarm")
    # with the guard off, the protected reading would be executed
    unguarded = ContextRerankResolver(model, HistoryStore(SIM_DOMAIN), protected=())
    st = unguarded(st)
    assert st.turn.nlu.top is not None and st.turn.nlu.top.intent == "security_disarm"
    guarded = ContextRerankResolver(model, HistoryStore(SIM_DOMAIN))  # the default policy
    st = guarded(_state(turn_factory, home, "what's the temperature", list(hyps), i=2))
    assert st.turn.nlu.top is not None and st.turn.nlu.top.intent != "security_disarm"
