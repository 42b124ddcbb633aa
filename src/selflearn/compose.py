"""The composition root: builds the reference assistant from a config, and its default NLU from
the built-in grammar.

The pipeline is a list of components named in a config; swapping the ASR (noisy channel,
pocketsphinx, replay) or adding a rewriter is a config change. Components are found by name
through the ``selflearn.components`` entry points (`assistant.component.create`), so neither this
module nor the runtime core imports the packages that provide them. It lives above the runtime
and the learners (it knows the rewriters, the context reranker and teaching by their config), and
below the loops, the service and the CLI that call it. The default NLU trains on a seeded part of
the grammar's templates only, so simulated people also use phrasings it never saw, as real people
do."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from selflearn.assistant.assistant import Assistant
from selflearn.assistant.component import build
from selflearn.util.workspace import Workspace

# Word error rate of the simulated recogniser for an average speaker: far-field assistants in
# homes are commonly reported around 5-10% WER; people vary around it by their noise profile.
DEFAULT_ASR_ERROR_RATE = 0.06

DEFAULT_PIPELINE: list[dict[str, Any]] = [
    {"component": "wake.score_model.v1"},
    {"component": "asr.noisy_channel.v1"},
    {"component": "nlu.model.v1"},
    {"component": "resolution.home.v1"},
    {"component": "action.home.v1"},
    {"component": "response.template.v1"},
]


def default_config(
    seed: int = 0,
    nlu: Any = None,
    rewrite_store: str | Path | None = None,
    asr_error_rate: float | None = None,
    rewrite_online: str = "off",
    online_options: dict[str, Any] | None = None,
    teach: Any = None,
    context: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The default pipeline with seeds, a fitted NLU and optionally a rewrite store filled in.

    `rewrite_online` ("global", "personal", "global+personal"; needs `rewrite_store`) puts the
    online rewriter (`rewrite.online.v1`, precomputed table first) in place of the precomputed one;
    `online_options` are passed to it (e.g. ``gate_nlu``). `teach` (a
    `selflearn.teach.component.TeachRuntime`, or a preference-store path or URL) makes the
    assistant teachable: a teaching stage before the NLU and a responder that asks at teachable
    moments."""
    cfg = copy.deepcopy(DEFAULT_PIPELINE)
    for entry in cfg:
        name = entry["component"]
        if name.startswith(("wake.", "asr.")):
            entry["seed"] = seed
        if name == "asr.noisy_channel.v1":
            entry["error_rate"] = DEFAULT_ASR_ERROR_RATE if asr_error_rate is None else asr_error_rate
        if name == "nlu.model.v1" and nlu is not None:
            entry["model"] = nlu
    if rewrite_store is not None:
        idx = next(i for i, e in enumerate(cfg) if e["component"] == "nlu.model.v1")
        rewriter: dict[str, Any] = {
            "component": "rewrite.precomputed.v1",
            "root": str(rewrite_store),
            "check_interval_s": 0.0,
        }
        if rewrite_online != "off":
            rewriter = {**rewriter, "component": "rewrite.online.v1", "layers": rewrite_online, "nlu": nlu}
            rewriter.update(online_options or {})
        cfg.insert(idx, rewriter)
    if teach is not None:
        from selflearn.teach.component import TeachRuntime

        runtime = teach if isinstance(teach, TeachRuntime) else TeachRuntime(teach)
        idx = next(i for i, e in enumerate(cfg) if e["component"] == "nlu.model.v1")
        cfg.insert(idx, {"component": "teach.intercept.v1", "runtime": runtime})
        for e in cfg:
            if e["component"] == "response.template.v1":
                e["component"] = "response.teach.v1"
                e["runtime"] = runtime
    if context is not None:
        # Context-aware interpretation (selflearn.context): `context` holds the parameters of
        # `context.rerank.v1` (model/model_dir, history/history_path), which takes resolution's place.
        for e in cfg:
            if e["component"] == "resolution.home.v1":
                e.clear()
                e.update({"component": "context.rerank.v1", **context})
    return cfg


def build_assistant(config: list[dict[str, Any]]) -> Assistant:
    """The assistant whose pipeline `config` names (see `default_config`)."""
    return Assistant(build(config))


def default_nlu_examples(seed: int = 0, n_per_intent: int = 400, train_fraction: float = 0.7) -> list[Any]:
    """The training part of the grammar the default NLU learns from (deterministic under `seed`)."""
    from selflearn.grammar import generate, split_templates

    train_ids, _heldout = split_templates(seed, train_fraction)
    return list(generate(n_per_intent, seed, template_ids=train_ids))


def train_default_nlu(seed: int = 0, n_per_intent: int = 400, train_fraction: float = 0.7) -> Any:
    """Fit the NLU on the training part of the grammar (deterministic under `seed`)."""
    from selflearn.assistant.nlu.model import NluModel

    return NluModel().fit(default_nlu_examples(seed, n_per_intent, train_fraction))


def load_or_train_nlu(workspace: str | Path | Workspace, seed: int = 0, n_per_intent: int = 400) -> Any:
    """The workspace's live NLU when it was trained as asked (or published by hand, with no
    ``trained_with`` provenance), else one trained on the grammar and published as the next
    ``nlu`` version."""
    from selflearn.assistant.nlu.load import load_nlu
    from selflearn.assistant.nlu.model import NluModel

    ws = Workspace.of(workspace)
    wanted = {"grammar_seed": seed, "n_per_intent": n_per_intent}
    model_dir = ws.model_dir("nlu")
    if model_dir is not None and _trained_with(ws, model_dir) in (None, wanted):
        return load_nlu(model_dir)
    from selflearn.labels.nlu_night import base_examples_table, publish_nlu

    examples = default_nlu_examples(seed=seed, n_per_intent=n_per_intent)
    model = NluModel().fit(examples)
    # the examples go with the model: the nightly understanding step retrains on them
    provenance = {"trained_on": "the built-in grammar", "trained_with": wanted}
    publish_nlu(ws, model, base_examples_table(examples), provenance)
    return model


def _trained_with(ws: Workspace, model_dir: Path) -> Any:
    """How the live NLU was trained: the store's provenance, or the marker file the pre-store
    layout kept beside the model; None when it was saved by hand."""
    version = ws.store("nlu").current_version()
    if version is not None:
        return ws.store("nlu").manifest(version).get("trained_with")
    marker = model_dir / "trained-with.json"
    return json.loads(marker.read_text()) if marker.exists() else None
