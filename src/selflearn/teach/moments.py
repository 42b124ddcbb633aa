"""Teachable moments: points in a user's recent turns where asking a question would pay off.

Why detect moments instead of quizzing everyone: a question costs the user time, so the assistant
asks only when the log shows the missing preference is hurting (the repair-and-teach idea of
teachable assistants). The detector reads only what a log holds (`Turn` records of one user:
intents, slots, resolution, errors, feedback), so it runs the same on live turns and offline on a
day's log.

Moments:

* repeated request: the same request (same intent, near-identical text) twice in a row, and the
  intent depends on a preference the user has not taught -> ask for it;
* rephrases around one slot: the same intent twice with a different value of one preference-typed
  slot, the second one working ("how did the giants do" / "how did the san francisco giants do")
  -> offer to remember the second value; an unresolved device name followed by a resolved device
  -> offer the name as an alias;
* explicit dissatisfaction ("that's not what I wanted", or a negative survey answer) after a
  preference-dependent turn -> ask for the preference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from selflearn.logs.records import FeedbackKind, StageError, Turn
from selflearn.teach.parse import normalize_teaching
from selflearn.teach.store import PreferenceKind

__all__ = ["MomentDetector", "TeachableMoment", "preference_slot"]

# intent -> (slot, kind) of the preference that fills the slot when the user leaves it out
_PREF_SLOTS: dict[str, tuple[str, PreferenceKind]] = {
    "sports_score": ("team", PreferenceKind.FAVORITE_TEAM),
    "restaurant_find": ("cuisine", PreferenceKind.CUISINE),
    "play_music": ("genre", PreferenceKind.MUSIC_GENRE),
}
_TEACH_MODEL = "teach.parser.v1"


def preference_slot(intent: str) -> tuple[str, PreferenceKind] | None:
    """The (slot, preference kind) an intent's unsaid slot is filled from, if any."""
    return _PREF_SLOTS.get(intent)


@dataclass(frozen=True)
class TeachableMoment:
    """A reason to open a teaching sub-dialogue. With `value` the assistant offers to remember it
    (a yes/no question); without, it asks for the value. `key` is the alias name for aliases."""

    reason: str  # repeated_request | slot_rephrase | dissatisfaction
    kind: PreferenceKind
    turn_id: str
    key: str = ""
    value: str | None = None

    @property
    def tag(self) -> str:
        """Identifies the moment's subject, so one subject is offered once per session."""
        return f"{self.kind.value}:{self.key}"


def _said(turn: Turn, slot: str) -> str | None:
    top = turn.nlu.top
    return top.slot(slot) if top is not None else None


def _resolved(turn: Turn, slot: str) -> str | None:
    return next((e.entity_id for e in turn.resolution.entities if e.slot == slot and e.entity_id), None)


def _failed(turn: Turn) -> bool:
    return bool(turn.errors) or turn.feedback.barge_in or turn.feedback.explicit is FeedbackKind.NEGATIVE


class MomentDetector:
    """Finds the teachable moment, if any, at the end of one user's recent turns.

    window_s: turns further apart than this are not one episode; similar: text similarity (0..100)
    above which two requests count as the same request.
    """

    def __init__(self, window_s: float = 120.0, similar: float = 85.0) -> None:
        self.window_s = window_s
        self.similar = similar

    def _pair(self, turns: Sequence[Turn]) -> tuple[Turn, Turn] | None:
        reqs = [t for t in turns if t.nlu.model != _TEACH_MODEL and t.nlu.top is not None]
        if len(reqs) < 2:
            return None
        prev, last = reqs[-2], reqs[-1]
        if prev.session_id != last.session_id or prev.user_id != last.user_id:
            return None
        if (last.timestamp - prev.timestamp).total_seconds() > self.window_s:
            return None
        return prev, last

    def detect(
        self, turns: Sequence[Turn], known: Callable[[PreferenceKind, str], bool]
    ) -> TeachableMoment | None:
        """The moment at the end of `turns` (one user's, oldest first); `known(kind, key)` says
        whether that preference is already stored (then there is nothing to ask)."""
        pair = self._pair(turns)
        if pair is None:
            return None
        prev, last = pair
        p_top, l_top = prev.nlu.top, last.nlu.top
        assert p_top is not None and l_top is not None
        if p_top.intent != l_top.intent:
            return None
        intent = l_top.intent
        # an unresolved device name, then the same request naming a device that worked
        p_dev, l_dev = _said(prev, "device"), _resolved(last, "device")
        if (
            p_dev
            and StageError.ER_UNRESOLVED in prev.errors
            and l_dev
            and not last.errors
            and not known(PreferenceKind.ALIAS, normalize_teaching(p_dev))
        ):
            return TeachableMoment(
                "slot_rephrase", PreferenceKind.ALIAS, last.turn_id, normalize_teaching(p_dev), l_dev
            )
        pref = preference_slot(intent)
        if pref is None:
            return None
        slot, kind = pref
        p_val, l_val = _said(prev, slot), _said(last, slot)
        if p_val and l_val and normalize_teaching(p_val) != normalize_teaching(l_val):
            value = _resolved(last, slot)
            if value and not last.errors and _failed(prev):
                return TeachableMoment("slot_rephrase", kind, last.turn_id, value=value)
            return None
        same = fuzz.ratio(normalize_teaching(prev.text), normalize_teaching(last.text)) >= self.similar
        if same and not l_val and not known(kind, ""):
            return TeachableMoment("repeated_request", kind, last.turn_id)
        return None

    @staticmethod
    def after_dissatisfaction(previous: Turn | None) -> TeachableMoment | None:
        """The user said the last answer was wrong: ask for the preference that turn depended on
        (an unresolved device name becomes an alias question)."""
        if previous is None or previous.nlu.top is None or previous.nlu.model == _TEACH_MODEL:
            return None
        top = previous.nlu.top
        dev = top.slot("device")
        if dev and StageError.ER_UNRESOLVED in previous.errors:
            return TeachableMoment(
                "dissatisfaction", PreferenceKind.ALIAS, previous.turn_id, normalize_teaching(dev)
            )
        pref = preference_slot(top.intent)
        if pref is None:
            return None
        return TeachableMoment("dissatisfaction", pref[1], previous.turn_id)
