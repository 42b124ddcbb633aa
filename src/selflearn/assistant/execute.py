"""The executor: applies the resolved command to the home and records what happened.

Reads `state.resolved_args` (from entity resolution; without a resolver in the pipeline the
NLU's raw slot values are used) and `state.home`. Writes `state.turn.action`, `state.command` and
`state.outcome` (a `selflearn.contracts.actions.Outcome`); a failed outcome is recorded first
and then raised as a `StageFailure` with the outcome's code, so the pipeline logs it and only the
response stage runs after it.
"""

from __future__ import annotations

from selflearn.assistant.component import StageFailure, TurnState, register
from selflearn.contracts.actions import Command, Outcome
from selflearn.logs.records import ActionStage, StageError

__all__ = ["Executor"]


@register("action.home.v1")
class Executor:
    """Builds `Command(intent, resolved args)` and applies it to `state.home`."""

    name = "action"
    assigns = ("command", "outcome")

    def __call__(self, state: TurnState) -> TurnState:
        hyp = state.turn.nlu.top
        if hyp is None:
            return state
        args = state.resolved_args
        if args is None:
            args = {s.name: s.value for s in hyp.slots}
        cmd = Command(hyp.intent, dict(args))
        state.command = cmd
        if state.home is None:
            outcome = Outcome(
                ok=False, error=str(StageError.ACTION_FAILED), message="Sorry, I can't reach your home."
            )
        else:
            outcome = state.home.apply(cmd)
        state.outcome = outcome
        state.turn.action = ActionStage(
            name=cmd.intent,
            arguments=dict(cmd.args),
            status="ok" if outcome.ok else "failed",
            error=outcome.error,
            changes=outcome.change_strings(),
        )
        if not outcome.ok:
            raise StageFailure(outcome.error or StageError.ACTION_FAILED, outcome.message)
        return state
