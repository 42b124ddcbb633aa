"""The assembled assistant: a front half (wake word, ASR) and a back half (rewrite, NLU, entity
resolution, executor, response) on one pipeline. Split so evaluation can replay the back half of a
turn with other inputs (a reference transcript, without the rewriter) on a copy of the home."""

from __future__ import annotations

from collections.abc import Iterable

from selflearn.assistant.component import Component, Pipeline, TurnState

FRONT_STAGES = ("wake", "asr")


class Assistant:
    """Runs a turn through every stage; exposes the back half for counterfactual replays."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def __call__(self, state: TurnState) -> TurnState:
        return self.pipeline(state)

    def back(self, exclude: Iterable[str] = ()) -> Pipeline:
        skip = set(exclude) | set(FRONT_STAGES)
        return Pipeline([c for c in self.pipeline.components if c.name not in skip])

    def stages(self, names: Iterable[str]) -> Pipeline:
        wanted = set(names)
        return Pipeline([c for c in self.pipeline.components if c.name in wanted])

    def component(self, stage: str) -> Component | None:
        return self.pipeline.get(stage)

    def with_component(self, component: Component, before: str = "nlu") -> Assistant:
        """A new assistant with `component` replacing its stage, or inserted before `before`."""
        if self.pipeline.get(component.name) is not None:
            return Assistant(self.pipeline.replace(component))
        return Assistant(self.pipeline.insert_before(before, component))
