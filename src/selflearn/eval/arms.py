"""The control arm: the same people, goals and random streams as the learning arm, an assistant
that never learns (no rewrite table, no online layers, no context model), nothing mined at night.

A loop (`eval.loop`, `eval.bench`) runs one beside its learning arm, day by day, so that each
day's difference between the two is what learning did, not what the dice did: both simulators are
built from the same `SimConfig` with `paired_streams` on, which gives every session and every goal
its own random stream (a changed outcome in one arm cannot reshuffle what people do elsewhere).
On day 1 nothing has been learned yet, so the two arms see identical traffic and outcomes (a test
holds that). The control arm's logs and truth go to `<workspace>/control/`, apart from the
learning arm's, so no nightly job ever reads them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from selflearn.eval.compare import arm_day_figures
from selflearn.simulate.run import write_day
from selflearn.simulate.truth import truth_table

__all__ = ["CONTROL_DIR", "ControlArm"]

CONTROL_DIR = "control"


@dataclass
class ControlArm:
    """A simulator and a non-learning assistant; `run_day` simulates, writes and judges a day."""

    sim: Any
    assistant: Any
    root: Path
    truth: list[pa.Table] = field(default_factory=list)

    def run_day(self, day: int) -> dict[str, Any]:
        """Simulate day `day`, write its logs and truth under `root`, return the day's figures with
        a ``control_`` prefix (the keys `report.json`'s per-day rows carry)."""
        res = self.sim.run_day(day, self.assistant)
        write_day(self.root, res)
        table = truth_table(res.truth)
        self.truth.append(table)
        figs = arm_day_figures(table)
        req = int(sum(1 for r in res.truth if r.is_request))
        return {
            "control_request_turns": req,
            "control_defect_rate": figs["defect_rate"],
            "control_first_attempt_defect_rate": figs["first_attempt_defect_rate"],
            "control_goal_success_rate": figs["goal_success_rate"],
        }

    def all_truth(self) -> pa.Table:
        return pa.concat_tables(self.truth) if self.truth else truth_table([])


def learning_day_figures(table: pa.Table) -> dict[str, float]:
    """The learning arm's first-attempt and goal figures for a day (its defect rate is already in
    `DayMetrics`)."""
    figs = arm_day_figures(table)
    return {
        "first_attempt_defect_rate": figs["first_attempt_defect_rate"],
        "goal_success_rate": figs["goal_success_rate"],
    }


def adopt_understanding(assistant: Any, night: Any, current: Any) -> Any:
    """After a night whose understanding step ran (`night` a `labels.nlu_night.NluNight`, or None):
    serve its newly published model from the next turn on, and return the model now live (what
    the next night's guards read with); `current` when nothing was published."""
    if night is None or night.version is None:
        return current
    from selflearn.assistant.nlu.component import NluComponent

    served = assistant.component("nlu")
    if not isinstance(served, NluComponent):
        raise TypeError(f"the understanding step retrains an NLU model; this assistant's is {served!r}")
    served.set_model(night.model)
    return night.model


def understanding_wins(turns: Sequence[Any], truth: Sequence[Any], base: Any, live: Any) -> dict[str, int]:
    """A retrained understanding model's wins and losses on one day of the learning arm, judged by
    the truth (for the report only; no learner reads it): a request the `live` model read as the
    goal's intent where the `base` model (the one the deployment started with) would not have,
    and the reverse. Both read the same text, what the NLU stage was given. Zero when the live
    model is the base."""
    if live is base:
        return {"nlu_wins": 0, "nlu_losses": 0}
    goal = {r.turn_id: r.goal_intent for r in truth if r.is_request and r.goal_intent}
    texts = {t.turn_id: t.nlu.input_text for t in turns if t.turn_id in goal and t.nlu.input_text}
    ids = sorted(texts)
    if not ids:
        return {"nlu_wins": 0, "nlu_losses": 0}
    batch = [texts[i] for i in ids]
    now = [h[0].intent if h else None for h in live.predict_batch(batch, n=1)]
    before = [h[0].intent if h else None for h in base.predict_batch(batch, n=1)]
    wins = sum(n == goal[i] != b for i, n, b in zip(ids, now, before, strict=True))
    losses = sum(b == goal[i] != n for i, n, b in zip(ids, now, before, strict=True))
    return {"nlu_wins": int(wins), "nlu_losses": int(losses)}
