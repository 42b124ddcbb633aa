"""What the assistant asks a home to do and what doing it did: the executor's contract with any
home it acts on (the simulated home, or a real deployment's adapter).

`Command.args` hold resolved canonical values: device -> entity id, room -> room id, numbers as
decimal strings, time "HH:MM", duration in seconds, date ISO, city -> place id, media_title ->
media id, artist -> artist id, other slots canonical lower-case strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Change", "Command", "Outcome"]

Change = tuple[str, str, str]  # (entity_id, field, new value as a string)


@dataclass(frozen=True, slots=True)
class Command:
    """An intent with resolved canonical arguments: what the executor asks the home to do."""

    intent: str
    args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What applying a command did. `changes` and `answer` are the effect; `message` is what the
    assistant says; `targets` are the entities acted on or read (for the response stage)."""

    ok: bool
    error: str | None = None
    changes: tuple[Change, ...] = ()
    answer: str | None = None
    message: str = ""
    targets: tuple[str, ...] = ()

    def same_effect(self, other: Outcome) -> bool:
        """Equal success, state changes and answer: how the simulator judges a turn."""
        return self.ok == other.ok and self.changes == other.changes and self.answer == other.answer

    def change_strings(self) -> list[str]:
        """Changes as 'entity_id.field=value', the form `ActionStage.changes` logs."""
        return [f"{e}.{f}={v}" for e, f, v in self.changes]
