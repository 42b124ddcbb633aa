"""Training data for the NLU: a request text with its intent and character-offset slot spans.

One type shared by everything that produces NLU training data (the grammar renderer, the SLURP
reader, paraphrase templates) and the NLU that learns from it, so offsets mean the same thing
everywhere: ``text[start:end] == value``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpanSlot:
    """A slot as a span of the request text: ``value`` is exactly ``text[start:end]``."""

    name: str
    value: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    """One labelled request. Construction checks every slot span against the text, so a bad
    offset fails where the example is made, not deep inside training."""

    text: str
    intent: str
    slots: tuple[SpanSlot, ...] = ()

    def __post_init__(self) -> None:
        if not self.intent:
            raise ValueError(f"example {self.text!r} has an empty intent")
        for s in self.slots:
            if not (0 <= s.start <= s.end <= len(self.text)):
                raise ValueError(
                    f"slot {s.name!r} span [{s.start}, {s.end}) is outside text {self.text!r}"
                )
            if self.text[s.start : s.end] != s.value:
                raise ValueError(
                    f"slot {s.name!r} value {s.value!r} != text[{s.start}:{s.end}] "
                    f"{self.text[s.start : s.end]!r} in {self.text!r}"
                )
