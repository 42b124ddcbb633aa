"""Training data for the NLU: a request text with its intent and character-offset slot spans.

One type shared by everything that produces NLU training data (the grammar renderer, the SLURP
reader, paraphrase templates) and the NLU that learns from it, so offsets mean the same thing
everywhere: ``text[start:end] == value``. The NLU itself only reads the fields named by
`ExampleLike`, so a producer with its own dataclass of the same shape works too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class SpanLike(Protocol):
    """What the NLU reads from a slot span (read-only, so frozen dataclasses match)."""

    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class ExampleLike(Protocol):
    """What the NLU reads from a training example."""

    @property
    def text(self) -> str: ...
    @property
    def intent(self) -> str: ...
    @property
    def slots(self) -> Sequence[SpanLike]: ...


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
    offset fails where the example is made, not deep inside training. ``template_id`` names the
    phrasing that produced it (empty for examples from elsewhere), so accuracy can be reported on
    phrasings seen and unseen in training."""

    text: str
    intent: str
    slots: tuple[SpanSlot, ...] = ()
    template_id: str = ""

    def __post_init__(self) -> None:
        if not self.intent:
            raise ValueError(f"example {self.text!r} has an empty intent")
        for s in self.slots:
            if not (0 <= s.start <= s.end <= len(self.text)):
                raise ValueError(f"slot {s.name!r} span [{s.start}, {s.end}) is outside text {self.text!r}")
            if self.text[s.start : s.end] != s.value:
                raise ValueError(
                    f"slot {s.name!r} value {s.value!r} != text[{s.start}:{s.end}] "
                    f"{self.text[s.start : s.end]!r} in {self.text!r}"
                )
