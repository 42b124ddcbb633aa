"""The turn state components pass along: typed hand-offs instead of a shared dictionary.

A component reads the `Turn` being built (its stage records are the log) and, for what the log
does not hold, the typed fields here: the resolver's arguments, what it could not resolve, the
executor's command and outcome, the first stage failure, the speaking user's taught preferences.
Components say which of these they `assigns` and which they `requires` (as spaCy's pipeline
components do), and `Pipeline` refuses to build when a requirement is not assigned by an earlier
component. A hand-off only a plugin knows about (the teaching step, the context reranker's scores)
goes in `extensions` under a dotted name the plugin declares the same way, so the core never
imports the packages that provide them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from selflearn.contracts.actions import Command, Outcome
from selflearn.contracts.domain import SlotType
from selflearn.logs.records import Turn

if TYPE_CHECKING:
    from selflearn.assistant.home_api import HomeApi

__all__ = ["CORE_HANDOFFS", "PersonalPreferences", "Stage", "TurnState", "Unresolved", "Utterance"]


class Stage(StrEnum):
    """The stages a component fills (`Component.name`), in pipeline order."""

    WAKE = "wake"
    ASR = "asr"
    REWRITE = "rewrite"
    TEACH = "teach"
    NLU = "nlu"
    RESOLUTION = "resolution"
    ACTION = "action"
    RESPONSE = "response"


@dataclass
class Utterance:
    """What reached the microphone. For simulated speech this is the text the person said plus
    who said it; a real front end fills `audio_path` or `recording` instead."""

    text: str
    speaker_id: str = ""
    noise_profile: Mapping[str, float] = field(default_factory=dict)
    voice: str | None = None  # TTS voice for synthesized speech
    audio_path: str | None = None
    recording: str | None = None  # recording file name for replayed recognition
    is_directed: bool = True  # False: background speech (TV, conversation) the device overheard
    careful: bool = False  # the speaker is speaking slowly and clearly (a retry)


@dataclass(frozen=True)
class Unresolved:
    """The slot entity resolution gave up on: what the response asks the user about."""

    slot: str
    type: str
    value: str


@runtime_checkable
class PersonalPreferences(Protocol):
    """What one user taught the assistant, as the resolver consults it: the user's own names for
    things ("moonlight" -> a lamp's entity id, "my team" -> a team id) and defaults for slots the
    user did not say ("find me a restaurant" -> their cuisine)."""

    def lookup(self, stype: SlotType, value: str) -> str | None:
        """The canonical value a user's own word stands for, or None when it is not personal."""
        ...

    def default(self, intent: str, slot: str, stype: SlotType, args: Mapping[str, str]) -> str | None:
        """A canonical value for an unsaid `slot` of `intent` given the args resolved so far."""
        ...


@dataclass
class TurnState:
    """The turn being built plus what the runtime needs that the log does not hold."""

    turn: Turn
    utterance: Utterance
    home: HomeApi | None = None
    halted: bool = False  # a stage decided nothing further should run (e.g. no wake word)
    # A counterfactual replay of a turn already run (the simulator's "what if" runs for the truth
    # table): components decide it as usual but must not learn from it or count it, since nobody
    # said it again.
    replay: bool = False
    # -- hand-offs between components (see the module docstring) --
    resolved_args: dict[str, str] | None = None  # canonical slot values (resolution -> action)
    unresolved: Unresolved | None = None  # the slot resolution could not resolve (-> response)
    command: Command | None = None  # what the executor asked the home
    outcome: Outcome | None = None  # what doing it did (action -> response)
    failure: str | None = None  # the first stage failure's code (the pipeline sets it)
    preferences: PersonalPreferences | None = None  # the user's taught preferences (-> resolution)
    extensions: dict[str, Any] = field(default_factory=dict)  # plugins' hand-offs, by dotted name


#: The typed hand-offs a component may declare in `assigns` / `requires` (plugins' go in
#: `extensions` under a dotted name).
CORE_HANDOFFS: frozenset[str] = frozenset(
    f.name
    for f in fields(TurnState)
    if f.name not in {"turn", "utterance", "home", "halted", "replay", "extensions"}
)
