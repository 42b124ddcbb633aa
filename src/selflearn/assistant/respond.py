"""The response stage: what the assistant says, whether it shows something, and for how long it
talks (so a barge-in offset can be compared with the response's length).

Reads `state.outcome` (from the executor) or, after a failed stage, `state.failure` (the code the
pipeline recorded) and `state.unresolved` (which slot the resolver could not resolve). Writes
`state.turn.response`.
"""

from __future__ import annotations

from selflearn.assistant.component import TurnState, register
from selflearn.contracts.actions import Outcome
from selflearn.logs.records import DeviceType, ResponseStage, StageError

__all__ = ["FAILURE_TEXT", "Responder", "speech_ms", "verbalize"]

FAILURE_TEXT: dict[str, str] = {
    StageError.WAKE_FALSE: "",
    StageError.ASR_NO_TEXT: "Sorry, I didn't catch that.",
    StageError.NLU_NO_INTENT: "Sorry, I didn't understand.",
    StageError.NLU_LOW_CONFIDENCE: "Sorry, I didn't understand.",
    StageError.ER_UNRESOLVED: "Sorry, I don't know which device you mean.",
    StageError.ER_AMBIGUOUS: "Sorry, which one did you mean?",
    StageError.ACTION_FAILED: "Sorry, something went wrong.",
    StageError.ACTION_UNSUPPORTED: "Sorry, I can't do that.",
    StageError.ACTION_MISSING_SLOT: "Sorry, I need a bit more information.",
}
# er-unresolved, by the type of the slot that did not resolve
_UNRESOLVED_TEXT: dict[str, str] = {
    "device": "Sorry, I don't know which device you mean.",
    "room": "Sorry, I don't know which room you mean.",
    "city": "Sorry, I don't know where {value} is.",
    "media_title": "Sorry, I couldn't find {value}.",
    "artist": "Sorry, I couldn't find music by {value}.",
    "team": "Sorry, I don't know the team {value}.",
}
_FALLBACK = "Sorry, something went wrong."
MS_PER_CHAR = 60
MS_BASE = 300


def speech_ms(text: str) -> int:
    """How long saying `text` takes: ~60 ms a character plus 300 ms; 0 for silence."""
    return MS_PER_CHAR * len(text) + MS_BASE if text else 0


@register("response.template.v1")
class Responder:
    """Template responses from the executor's outcome or the recorded failure."""

    name = "response"

    def __call__(self, state: TurnState) -> TurnState:
        text = self.text(state)
        dev = state.turn.device
        visual = dev.has_screen or dev.type in (DeviceType.SCREEN, DeviceType.TV)
        if not visual and state.home is not None:
            visual = state.home.has_screen(dev.device_id)
        state.turn.response = ResponseStage(
            text=text, has_visual=bool(visual and text), duration_ms=speech_ms(text)
        )
        return state

    @staticmethod
    def text(state: TurnState) -> str:
        outcome = state.outcome
        failure = state.failure
        # the outcome speaks unless a failure other than its own was recorded
        if isinstance(outcome, Outcome) and (failure is None or failure == outcome.error):
            return outcome.message or ("OK." if outcome.ok else _FALLBACK)
        if failure is not None:
            if failure == StageError.ER_UNRESOLVED:
                miss = state.unresolved
                tmpl = _UNRESOLVED_TEXT.get(
                    miss.type if miss else "device", "Sorry, I couldn't find {value}."
                )
                return tmpl.format(value=miss.value if miss else "that")
            return FAILURE_TEXT.get(str(failure), _FALLBACK)
        top = state.turn.nlu.top
        if top is None:
            return FAILURE_TEXT[StageError.NLU_NO_INTENT]
        return verbalize(top.intent, [(s.name, s.value) for s in top.slots])


def verbalize(intent: str, slots: list[tuple[str, str]]) -> str:
    """Say back what was understood when no executor answered (intents the home does not carry
    out, e.g. a SLURP-format assistant's questions and lists). Real assistants answer with what
    they understood ("Here's the weather for Boston"), never a bare "OK": people hear from it
    whether they were understood, and so does anything that reads the log afterwards."""
    words = intent.replace("_", " ").strip() or "that"
    values = [v for _n, v in slots if v]
    return f"OK, {words}: {', '.join(values)}." if values else f"OK, {words}."
