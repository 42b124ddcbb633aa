"""The interaction-log contract: typed records for sessions of turns.

Everything selflearn learns from is a `Turn`. A turn carries what a real assistant's log holds
(ids, time, device, context, one record per pipeline stage, feedback) and nothing a real log would
not (no reference transcript, no gold intent: those live in the simulator's truth table).
Pydantic validates records so a broken record is rejected with the exact field that broke it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = "1.0"

Confidence = Annotated[float, Field(ge=0.0, le=1.0)]


class _Record(BaseModel):
    model_config = ConfigDict(
        extra="forbid", validate_assignment=False, use_enum_values=False, allow_inf_nan=False
    )


class DeviceType(StrEnum):
    SPEAKER = "speaker"  # voice only
    SCREEN = "screen"  # smart display
    TV = "tv"
    PHONE = "phone"


class StageError(StrEnum):
    """Machine codes for stage failures: recorded in the turn, never parsed out of messages."""

    WAKE_FALSE = "wake-false-trigger"
    ASR_NO_TEXT = "asr-no-text"
    NLU_NO_INTENT = "nlu-no-intent"
    NLU_LOW_CONFIDENCE = "nlu-low-confidence"
    ER_UNRESOLVED = "er-unresolved"
    ER_AMBIGUOUS = "er-ambiguous"
    ACTION_FAILED = "action-failed"
    ACTION_UNSUPPORTED = "action-unsupported"
    ACTION_MISSING_SLOT = "action-missing-slot"


class FeedbackKind(StrEnum):
    POSITIVE = "positive"
    NEGATIVE = "negative"


class DeviceInfo(_Record):
    """The device the user spoke to."""

    device_id: str = Field(min_length=1)
    type: DeviceType
    has_screen: bool = False
    capabilities: list[str] = Field(default_factory=list)


class DeviceState(_Record):
    """A snapshot of one home entity's state at the time of the turn."""

    entity_id: str = Field(min_length=1)
    kind: str
    name: str = ""
    room: str | None = None
    state: dict[str, str] = Field(default_factory=dict)  # values stringified: the log is not the home


class Context(_Record):
    """What the assistant knew about the situation when the request came."""

    room: str | None = None
    local_time: datetime | None = None  # wall clock where the device is (naive ok)
    location: str | None = None  # city of the household
    device_states: list[DeviceState] = Field(default_factory=list)


class WakeStage(_Record):
    detected: bool = True
    score: Confidence = 1.0
    threshold: Confidence = 0.5
    error: str | None = None


class AsrHypothesis(_Record):
    text: str
    confidence: Confidence


class AsrStage(_Record):
    engine: str = ""
    nbest: list[AsrHypothesis] = Field(default_factory=list)
    error: str | None = None

    @property
    def text(self) -> str:
        return self.nbest[0].text if self.nbest else ""

    @property
    def confidence(self) -> float:
        return self.nbest[0].confidence if self.nbest else 0.0


class RewriteStage(_Record):
    """A rewrite applied between ASR and NLU; `rule_id` points back to the published table row."""

    original: str
    rewritten: str
    rule_id: str
    source: str = "precomputed"  # precomputed | online-global | online-personal
    score: Confidence = 1.0
    table_version: str | None = None


class Slot(_Record):
    name: str = Field(min_length=1)
    value: str
    start: int | None = Field(default=None, ge=0)  # character offsets into the NLU input text
    end: int | None = Field(default=None, ge=0)


class NluHypothesis(_Record):
    intent: str = Field(min_length=1)
    confidence: Confidence
    slots: list[Slot] = Field(default_factory=list)

    def slot(self, name: str) -> str | None:
        return next((s.value for s in self.slots if s.name == name), None)


class NluStage(_Record):
    model: str = ""
    input_text: str = ""  # the text the NLU read (after any rewrite)
    nbest: list[NluHypothesis] = Field(default_factory=list)
    error: str | None = None

    @property
    def top(self) -> NluHypothesis | None:
        return self.nbest[0] if self.nbest else None


class ResolvedEntity(_Record):
    slot: str
    value: str
    entity_id: str | None = None  # None: unresolved
    score: Confidence = 0.0
    candidates: list[str] = Field(default_factory=list)  # runner-up entity ids


class ResolutionStage(_Record):
    entities: list[ResolvedEntity] = Field(default_factory=list)
    error: str | None = None


class ActionStage(_Record):
    name: str | None = None  # the executed intent, None if nothing ran
    arguments: dict[str, str] = Field(default_factory=dict)
    status: str = "none"  # ok | failed | none (nothing ran) | unknown (not recorded)
    error: str | None = None
    changes: list[str] = Field(default_factory=list)  # "entity_id.field=new" for state changes


class ResponseStage(_Record):
    text: str = ""
    has_visual: bool = False
    duration_ms: int = Field(default=0, ge=0)


class Feedback(_Record):
    """What the user did that tells us how the turn went, as the device saw it."""

    barge_in: bool = False
    barge_in_offset_ms: int | None = Field(default=None, ge=0)
    explicit: FeedbackKind | None = None  # answer to "did I answer your question?"
    teaching: str | None = None  # a preference the user stated in this turn


class Turn(_Record):
    """One exchange: the user spoke (or the device woke), the assistant ran its stages and answered."""

    schema_version: str = SCHEMA_VERSION
    turn_id: str = Field(min_length=1)
    session_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    household_id: str | None = None
    turn_index: int = Field(default=0, ge=0)
    timestamp: datetime
    device: DeviceInfo
    context: Context = Field(default_factory=Context)
    wake: WakeStage = Field(default_factory=WakeStage)
    asr: AsrStage = Field(default_factory=AsrStage)
    rewrite: RewriteStage | None = None
    nlu: NluStage = Field(default_factory=NluStage)
    resolution: ResolutionStage = Field(default_factory=ResolutionStage)
    action: ActionStage = Field(default_factory=ActionStage)
    response: ResponseStage = Field(default_factory=ResponseStage)
    feedback: Feedback = Field(default_factory=Feedback)
    latency_ms: float = Field(default=0.0, ge=0.0)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware (UTC)")
        try:
            return v.astimezone(UTC)
        except OverflowError:
            raise ValueError("timestamp is out of range once moved to UTC") from None

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        major, dot, minor = v.partition(".")
        if not (major.isdecimal() and dot and minor.isdecimal() and v.isascii()):
            raise ValueError(f"schema version {v!r} is not MAJOR.MINOR; this reader speaks {SCHEMA_VERSION}")
        if major != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"unsupported schema version {v!r}; this reader speaks {SCHEMA_VERSION}")
        return v

    @property
    def text(self) -> str:
        """What the NLU was asked to understand: the rewrite if one fired, else the ASR 1-best."""
        return self.rewrite.rewritten if self.rewrite else self.asr.text

    @property
    def errors(self) -> list[str]:
        """Every stage's error code, in pipeline order."""
        stages: list[Any] = [self.wake, self.asr, self.nlu, self.resolution, self.action]
        return [s.error for s in stages if s.error]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
