"""One protocol for runtime components, a registry of them by versioned name, and the pipeline.

A component takes the `TurnState` being built and returns it with its stage record filled in.
Stage failures are `StageFailure`s carrying a machine code: the pipeline records them in the turn
and carries on to the response, so a failure is logged, never raised past the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from selflearn.logs.records import StageError, Turn

if TYPE_CHECKING:
    from selflearn.assistant.home_api import HomeApi


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
    scratch: dict[str, Any] = field(default_factory=dict)  # per-turn hand-offs between components


class StageFailure(Exception):
    """A stage could not do its job; `code` is a machine code from `StageError` (or a new one)."""

    def __init__(self, code: StageError | str, message: str = "") -> None:
        super().__init__(message or str(code))
        self.code = str(code)


@runtime_checkable
class Component(Protocol):
    """`name` is the stage it fills (wake, asr, rewrite, nlu, resolution, action, response)."""

    name: str

    def __call__(self, state: TurnState) -> TurnState: ...


_REGISTRY: dict[str, Callable[..., Component]] = {}


def register(name: str) -> Callable[[Callable[..., Component]], Callable[..., Component]]:
    """Register a component factory under a versioned name (e.g. ``asr.noisy_channel.v1``)."""

    def deco(factory: Callable[..., Component]) -> Callable[..., Component]:
        if name in _REGISTRY and _REGISTRY[name] is not factory:
            raise ValueError(f"component {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return deco


#: The entry-point group components are declared in (pyproject.toml's
#: ``[project.entry-points."selflearn.components"]``), selflearn's own and third parties' alike.
ENTRY_POINT_GROUP = "selflearn.components"


def _entry_point(name: str) -> Callable[..., Component] | None:
    """The factory an installed package declares for `name`, loaded (importing its module, which
    may also `register` it), or None."""
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        factory = ep.load()
        _REGISTRY.setdefault(name, factory)
        return _REGISTRY[name]
    return None


def create(name: str, **params: Any) -> Component:
    """A component by its versioned name: registered in this process, else declared by an
    installed package's entry point."""
    factory = _REGISTRY.get(name) or _entry_point(name)
    if factory is None:
        raise KeyError(
            f"no component registered as {name!r}; known: {registered()} (components are declared "
            f"in the {ENTRY_POINT_GROUP!r} entry-point group: is the package that provides it installed?)"
        )
    return factory(**params)


def registered() -> list[str]:
    """Every component name known: registered in this process or declared by an entry point."""
    return sorted(set(_REGISTRY) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


_STAGE_OF: dict[str, str] = {
    "wake": "wake",
    "asr": "asr",
    "nlu": "nlu",
    "resolution": "resolution",
    "action": "action",
}


class Pipeline:
    """Runs components in order; records stage failures into the turn instead of raising."""

    def __init__(self, components: Iterable[Component]) -> None:
        self.components = list(components)

    def __call__(self, state: TurnState) -> TurnState:
        t0 = time.perf_counter()
        failed = False
        for comp in self.components:
            # After a failure only the response stage runs, so the user still hears something.
            if state.halted or (failed and comp.name != "response"):
                continue
            try:
                state = comp(state)
            except StageFailure as exc:
                failed = True
                stage = _STAGE_OF.get(comp.name)
                if stage is not None:
                    getattr(state.turn, stage).error = exc.code
                state.scratch.setdefault("failure", exc.code)
        state.turn.latency_ms = (time.perf_counter() - t0) * 1000.0
        return state

    def insert_before(self, stage: str, component: Component) -> Pipeline:
        """A new pipeline with `component` placed before the first component filling `stage`."""
        comps = list(self.components)
        idx = next((i for i, c in enumerate(comps) if c.name == stage), len(comps))
        comps.insert(idx, component)
        return Pipeline(comps)

    def replace(self, component: Component) -> Pipeline:
        """A new pipeline with the component of the same stage name swapped out."""
        return Pipeline([component if c.name == component.name else c for c in self.components])

    def get(self, stage: str) -> Component | None:
        return next((c for c in self.components if c.name == stage), None)


def build(config: Sequence[Mapping[str, Any]]) -> Pipeline:
    """Build a pipeline from a config: a list of ``{"component": name, **params}``."""
    comps = []
    for i, entry in enumerate(config):
        if "component" not in entry:
            raise ValueError(f"pipeline config entry {i} has no 'component' key: {dict(entry)!r}")
        params = {k: v for k, v in entry.items() if k != "component"}
        comps.append(create(str(entry["component"]), **params))
    return Pipeline(comps)
