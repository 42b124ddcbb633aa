"""An understanding change's wins and losses, judged by the truth for the report only."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from selflearn.eval.arms import understanding_wins


class _Reads:
    """A stand-in model that reads each text as a fixed intent."""

    def __init__(self, reads: dict[str, str]) -> None:
        self.reads = reads

    def predict_batch(self, texts: list[str], n: int = 1) -> list[list[Any]]:
        return [[SimpleNamespace(intent=self.reads[t])] if t in self.reads else [] for t in texts]


def _turn(tid: str, text: str) -> Any:
    return SimpleNamespace(turn_id=tid, nlu=SimpleNamespace(input_text=text))


def _truth(tid: str, intent: str | None, request: bool = True) -> Any:
    return SimpleNamespace(turn_id=tid, goal_intent=intent, is_request=request)


def test_wins_and_losses_against_the_base_model() -> None:
    base = _Reads({"lights of": "tv_off", "tv of": "tv_off", "hello": "greet"})
    live = _Reads({"lights of": "lights_off", "tv of": "lights_off", "hello": "greet"})
    turns = [_turn("a", "lights of"), _turn("b", "tv of"), _turn("c", "hello"), _turn("d", "bg")]
    truth = [_truth("a", "lights_off"), _truth("b", "tv_off"), _truth("c", "greet"), _truth("d", None, False)]
    assert understanding_wins(turns, truth, base, live) == {"nlu_wins": 1, "nlu_losses": 1}
    assert understanding_wins(turns, truth, base, base) == {"nlu_wins": 0, "nlu_losses": 0}
