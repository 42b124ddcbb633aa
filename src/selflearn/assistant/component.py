"""One protocol for runtime components, a registry of them by versioned name, and the pipeline.

A component takes the `TurnState` being built (`selflearn.assistant.state`) and returns it with
its stage record filled in. It declares the hand-offs it `assigns` and `requires`; a `Pipeline`
whose component requires what no earlier component assigns does not build. Stage failures are
`StageFailure`s carrying a machine code: the pipeline records them in the turn and carries on to
the response, so a failure is logged, never raised past the pipeline.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from selflearn.assistant.state import CORE_HANDOFFS, Stage, TurnState, Utterance
from selflearn.logs.records import StageError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Component",
    "Pipeline",
    "PipelineError",
    "Stage",
    "StageFailure",
    "TurnState",
    "Utterance",
    "build",
    "check_pipeline",
    "create",
    "register",
    "registered",
]


class StageFailure(Exception):
    """A stage could not do its job; `code` is a machine code from `StageError` (or a new one)."""

    def __init__(self, code: StageError | str, message: str = "") -> None:
        super().__init__(message or str(code))
        self.code = str(code)


@runtime_checkable
class Component(Protocol):
    """`name` is the stage it fills (`Stage`: wake, asr, rewrite, teach, nlu, resolution, action,
    response). A component may also declare, as class attributes, the hand-offs it `assigns` and
    `requires`: `TurnState` field names (`state.CORE_HANDOFFS`) or a plugin's dotted
    `extensions` names; undeclared means none."""

    name: str

    def __call__(self, state: TurnState) -> TurnState: ...


class PipelineError(ValueError):
    """A pipeline that cannot work as configured (names the component and what it lacks)."""


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
    made = factory(**params)
    # what `component_config` reports (a component that takes no attributes keeps its class path)
    with contextlib.suppress(AttributeError):
        made.created_as = name  # type: ignore[attr-defined]
    return made


_NOT_PLAIN = object()


def _plain(value: Any) -> Any:
    """`value` as JSON data (paths as strings, sets sorted), or `_NOT_PLAIN`."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        if any(v is _NOT_PLAIN for v in items):
            return _NOT_PLAIN
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        out = {k: _plain(v) for k, v in value.items()}
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in out.values()) else out
    return _NOT_PLAIN


def component_config(comp: Component) -> dict[str, Any]:
    """What rebuilds `comp` with `create`: ``{"component": name, **settings}``.

    Components follow one convention (scikit-learn's for estimators, spaCy's for factories): the
    factory's keyword parameters are the component's settings, stored under their own names. The
    settings here are those whose values are plain data (numbers, strings, lists, mappings);
    collaborators (a model, a store, a domain) are listed under ``"collaborators"``, to be handed
    to `create` again by whoever rebuilds the pipeline. A component with its own `config()`
    method is asked instead. The name is the one it was created under, else its class's path."""
    own = getattr(comp, "config", None)
    if callable(own):
        return dict(own())
    factory = _REGISTRY.get(getattr(comp, "created_as", "")) or type(comp)
    params: Mapping[str, inspect.Parameter]
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    settings: dict[str, Any] = {}
    collaborators: list[str] = []
    for pname, param in params.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or pname == "self":
            continue
        if not hasattr(comp, pname):
            continue
        value = _plain(getattr(comp, pname))
        if value is _NOT_PLAIN:
            collaborators.append(pname)
        else:
            settings[pname] = value
    name = getattr(comp, "created_as", None) or f"{type(comp).__module__}:{type(comp).__qualname__}"
    out: dict[str, Any] = {"component": name, **settings}
    if collaborators:
        out["collaborators"] = collaborators
    return out


def registered() -> list[str]:
    """Every component name known: registered in this process or declared by an entry point."""
    return sorted(set(_REGISTRY) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


#: Stages whose turn record carries an `error` field.
_ERROR_STAGES = frozenset({Stage.WAKE, Stage.ASR, Stage.NLU, Stage.RESOLUTION, Stage.ACTION})


def _declared(comp: Component, what: str) -> tuple[str, ...]:
    names = tuple(getattr(comp, what, ()) or ())
    unknown = [n for n in names if n not in CORE_HANDOFFS and "." not in n]
    if unknown:
        raise PipelineError(
            f"component {type(comp).__name__} ({comp.name!r}) {what} {unknown}: neither a TurnState "
            f"hand-off ({', '.join(sorted(CORE_HANDOFFS))}) nor a dotted extension name"
        )
    return names


def check_pipeline(components: Sequence[Component]) -> None:
    """Raise `PipelineError` when a component requires a hand-off no earlier component assigns."""
    assigned: set[str] = set()
    for comp in components:
        missing = [n for n in _declared(comp, "requires") if n not in assigned]
        if missing:
            raise PipelineError(
                f"component {type(comp).__name__} ({comp.name!r}) requires {missing}, which no "
                "component before it assigns"
            )
        assigned.update(_declared(comp, "assigns"))


class Pipeline:
    """Runs components in order; records stage failures into the turn instead of raising."""

    def __init__(self, components: Iterable[Component]) -> None:
        self.components = list(components)
        check_pipeline(self.components)

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
                if comp.name in _ERROR_STAGES:
                    getattr(state.turn, comp.name).error = exc.code
                if state.failure is None:
                    state.failure = exc.code
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

    def config(self) -> list[dict[str, Any]]:
        """Each component's `component_config`, in order: what a report or the service records
        about the pipeline that served, and (with the collaborators) what `build` rebuilds."""
        return [component_config(c) for c in self.components]


def build(config: Sequence[Mapping[str, Any]]) -> Pipeline:
    """Build a pipeline from a config: a list of ``{"component": name, **params}``."""
    comps = []
    for i, entry in enumerate(config):
        if "component" not in entry:
            raise ValueError(f"pipeline config entry {i} has no 'component' key: {dict(entry)!r}")
        params = {k: v for k, v in entry.items() if k != "component"}
        comps.append(create(str(entry["component"]), **params))
    return Pipeline(comps)
