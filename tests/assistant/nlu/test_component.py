"""NluComponent: reads the turn's text, records the n-best, fails with machine codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from selflearn.assistant.component import Component, Pipeline, StageFailure, TurnState, Utterance, create
from selflearn.assistant.nlu.component import NluComponent
from selflearn.assistant.nlu.model import NluModel
from selflearn.contracts.nlu_examples import Example, SpanSlot
from selflearn.logs.records import AsrHypothesis, AsrStage, DeviceInfo, DeviceType, RewriteStage, Turn


def _examples() -> list[Example]:
    out = []
    for room in ["kitchen", "bedroom", "office", "garage", "hallway"]:
        for t in ["turn on the {} lights", "lights on in the {}", "switch on the {} light"]:
            text = t.format(room)
            i = text.index(room)
            out.append(Example(text, "lights_on", (SpanSlot("room", room, i, i + len(room)),)))
        for t in ["turn off the {} lights", "lights off in the {}", "switch off the {} light"]:
            text = t.format(room)
            i = text.index(room)
            out.append(Example(text, "lights_off", (SpanSlot("room", room, i, i + len(room)),)))
    for city in ["paris", "rome", "oslo", "lima", "cairo"]:
        for t in ["weather in {}", "is it raining in {}", "how cold is it in {}"]:
            text = t.format(city)
            i = text.index(city)
            out.append(Example(text, "weather_query", (SpanSlot("city", city, i, i + len(city)),)))
    return out


@pytest.fixture(scope="module")
def model() -> NluModel:
    return NluModel().fit(_examples())


def _state(asr: str, rewrite: str | None = None) -> TurnState:
    turn = Turn(
        turn_id="t1",
        session_id="s1",
        user_id="u1",
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        device=DeviceInfo(device_id="d1", type=DeviceType.SPEAKER),
        asr=AsrStage(nbest=[AsrHypothesis(text=asr, confidence=0.9)] if asr else []),
    )
    if rewrite is not None:
        turn.rewrite = RewriteStage(original=asr, rewritten=rewrite, rule_id="r1")
    return TurnState(turn=turn, utterance=Utterance(asr))


def test_fills_the_nlu_stage(model: NluModel) -> None:
    comp = NluComponent(model)
    assert isinstance(comp, Component) and comp.name == "nlu"
    state = comp(_state("turn on the kitchen lights"))
    nlu = state.turn.nlu
    assert nlu.input_text == "turn on the kitchen lights" and nlu.error is None
    assert nlu.model == f"{model.name}@{model.version_}"
    assert nlu.top is not None and nlu.top.intent == "lights_on" and nlu.top.slot("room") == "kitchen"
    assert len(nlu.nbest) == 3


def test_reads_the_rewrite_when_one_fired(model: NluModel) -> None:
    state = NluComponent(model)(_state("whether in paris", rewrite="weather in paris"))
    assert state.turn.nlu.input_text == "weather in paris"
    assert state.turn.nlu.top is not None and state.turn.nlu.top.intent == "weather_query"


def test_empty_text_fails_with_no_intent(model: NluModel) -> None:
    state = _state("")
    with pytest.raises(StageFailure) as exc:
        NluComponent(model)(state)
    assert exc.value.code == "nlu-no-intent"
    assert state.turn.nlu.nbest == [] and state.turn.nlu.model


def test_low_confidence_records_the_nbest_before_failing(model: NluModel) -> None:
    state = _state("lights in the oslo")
    with pytest.raises(StageFailure) as exc:
        NluComponent(model, threshold=1.0)(state)
    assert exc.value.code == "nlu-low-confidence"
    assert len(state.turn.nlu.nbest) == 3 and state.turn.nlu.input_text == "lights in the oslo"
    # inside a pipeline the failure is recorded in the turn, not raised
    out = Pipeline([NluComponent(model, threshold=1.0)])(_state("lights in the oslo"))
    assert out.turn.nlu.error == "nlu-low-confidence" and out.turn.nlu.nbest


def test_registered_factory_takes_a_model_or_a_directory(model: NluModel, tmp_path: Path) -> None:
    comp = create("nlu.model.v1", model=model, threshold=0.5, n=2)
    assert isinstance(comp, NluComponent) and comp.threshold == 0.5
    assert len(comp(_state("lights off in the garage")).turn.nlu.nbest) == 2
    model.save(tmp_path / "m")
    loaded = create("nlu.model.v1", model_dir=str(tmp_path / "m"))
    a = loaded(_state("lights off in the garage")).turn.nlu
    b = comp(_state("lights off in the garage")).turn.nlu
    assert a.model == b.model and a.nbest[:2] == b.nbest
    with pytest.raises(ValueError):
        create("nlu.model.v1")
    with pytest.raises(ValueError):
        NluComponent(model, threshold=2.0)


def test_a_rewrite_into_a_protected_intent_is_refused_at_serve_time(model: NluModel) -> None:
    """Whatever a learner published, a rewrite alone never makes a request a protected action."""
    comp = NluComponent(model, protected={"lights_off"})
    state = comp(_state("weather in paris", rewrite="turn off the kitchen lights"))
    assert state.turn.rewrite is None  # refused: the words as heard are understood instead
    assert state.turn.nlu.input_text == "weather in paris"
    assert state.turn.nlu.top is not None and state.turn.nlu.top.intent == "weather_query"
    assert comp.refused == 1
    # a rewrite that keeps the protected intent the request already had is no new power: kept
    kept = comp(_state("lights of in the kitchen", rewrite="turn off the kitchen lights"))
    assert kept.turn.rewrite is not None and kept.turn.nlu.top is not None
    assert kept.turn.nlu.top.intent == "lights_off" and comp.refused == 1
    # unprotected targets are untouched
    free = NluComponent(model, protected=set())(
        _state("weather in paris", rewrite="turn off the kitchen lights")
    )
    assert free.turn.rewrite is not None


def test_protected_intents_default_to_the_domain_policy(model: NluModel) -> None:
    assert NluComponent(model).protected == frozenset()  # lights and weather: nothing to guard
    assert NluComponent(model, protected=["lights_off"]).protected == {"lights_off"}
