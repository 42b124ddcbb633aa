"""One contract for every registered component (spaCy's factory convention): created by name, it
reports its settings with `component_config`, plain JSON; `create` with those settings (and the
collaborators handed back) rebuilds a component that reports the same; and it declares its stage
and the hand-offs it assigns and requires. The test fails while a declared component has no case."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from selflearn.assistant.component import component_config, create, registered

# name -> (settings other than the defaults, collaborators), built per test from tmp_path and
# the session's small NLU; settings are what the config must report back.
Case = Callable[[Path, Any], tuple[dict[str, Any], dict[str, Any]]]


def _replay(tmp: Path, _nlu: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    f = tmp / "recognitions.jsonl"
    f.write_text(json.dumps({"file": "a.flac", "text": "turn on the lights"}) + "\n")
    return {"file": str(f), "default_confidence": 0.9, "n": 2}, {}


def _teach_responder(tmp: Path, _nlu: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    from selflearn.teach.component import TeachRuntime

    return {}, {"runtime": TeachRuntime(str(tmp / "prefs.sqlite"))}


CASES: dict[str, Case] = {
    "action.home.v1": lambda tmp, nlu: ({}, {}),
    "asr.noisy_channel.v1": lambda tmp, nlu: ({"error_rate": 0.1, "n": 2, "seed": 4}, {}),
    "asr.replay.v1": _replay,
    "context.rerank.v1": lambda tmp, nlu: ({"threshold": 0.7, "tie_margin": 0.05}, {}),
    "nlu.model.v1": lambda tmp, nlu: ({"threshold": 0.4, "n": 2}, {"model": nlu}),
    "resolution.home.v1": lambda tmp, nlu: ({"threshold": 0.75, "tie_margin": 0.03}, {}),
    "response.teach.v1": _teach_responder,
    "response.template.v1": lambda tmp, nlu: ({}, {}),
    "rewrite.online.v1": lambda tmp, nlu: (
        {"root": str(tmp), "layers": "global", "check_interval_s": 9.0},
        {},
    ),
    "rewrite.precomputed.v1": lambda tmp, nlu: ({"root": str(tmp), "min_score": 0.25}, {}),
    "teach.intercept.v1": lambda tmp, nlu: ({}, {}),
    "wake.score_model.v1": lambda tmp, nlu: ({"threshold": 0.4, "seed": 2, "wake_like_share": 0.1}, {}),
}
# Needs espeak-ng and pocketsphinx's models at construction; its own tests cover it where present.
NEEDS_SPEECH = {"asr.pocketsphinx.v1"}


def test_every_declared_component_has_a_contract_case() -> None:
    missing = set(registered()) - set(CASES) - NEEDS_SPEECH
    assert not missing, f"components without a contract case: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_component_contract(name: str, tmp_path: Path, small_nlu: Any) -> None:
    settings, collaborators = CASES[name](tmp_path, small_nlu)
    comp = create(name, **settings, **collaborators)
    assert isinstance(getattr(comp, "name", None), str) and comp.name, "a component names its stage"
    for what in ("assigns", "requires"):
        assert all(isinstance(n, str) for n in getattr(comp, what, ())), what
    cfg = component_config(comp)
    assert cfg["component"] == name
    assert json.loads(json.dumps(cfg)) == cfg  # plain data
    for key, value in settings.items():
        assert cfg.get(key) == value, f"{name} does not report {key}={value!r}: {cfg}"
    # rebuilt from its config (collaborators handed back), it reports the same config
    again = create(
        name, **{k: v for k, v in cfg.items() if k not in ("component", "collaborators")}, **collaborators
    )
    assert component_config(again) == cfg
    shutil.rmtree(tmp_path / "artifacts", ignore_errors=True)


def test_a_pipeline_reports_its_components_configs(small_assistant: Any) -> None:
    configs = small_assistant.pipeline.config()
    names = [c["component"] for c in configs]
    assert names[:3] == ["wake.score_model.v1", "asr.noisy_channel.v1", "nlu.model.v1"]
    assert json.loads(json.dumps(configs)) == configs
