"""The nightly graph's `nlu` step: retrain the understanding model on what the logs taught it, and
publish it only if the held-back people's logs say it reads better than the live one.

Rewrites fix a wording by mapping it onto one the model already reads; the wordings nothing in the
logs was ever read right under stay out of their reach. Retraining the model on them reaches
those: each night the step takes the live model's own training data (the deployment's examples,
kept with every ``nlu`` version as ``examples.parquet``), adds the wordings people rephrased their
way out of (`understanding.rephrase_examples`, with its support, protection and hold-out guards),
fits a candidate with the live model's parameters, and scores both on the held-back people's
chains: failed wordings the rephrase then got right, and readings their logs found fine
(`understanding.gate_targets`). Item by item, a target the candidate gets right and the live model
did not is a win, the reverse a loss; the candidate is published only when its wins exceed its
losses by at least `min_gain` and outnumber them `min_win_ratio` to one (a retrained model also
moves readings nobody complained about, and those losses are paid by people who were fine);
otherwise the night is recorded and the live model stays.

The fit is one model over all examples, on the driver, whatever the engine (like the labeller).
The artifact's digest is that of its training data (rows sorted): the fit is deterministic, so
equal data is an equal model.

Forgetting a person (`forget_nlu`) removes their rows from every kept version, retrains the live
model without them when they had supported it, and discards the versions that had learned from
them, so no rollback can bring them back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selflearn.contracts.nlu_examples import Example
from selflearn.labels.understanding import (
    examples_table,
    gate_targets,
    rephrase_examples,
    training_examples,
)
from selflearn.util.digest import table_digest
from selflearn.util.workspace import MODEL_SUBDIR, Workspace

__all__ = ["EXAMPLES_FILE", "NluNight", "forget_nlu", "live_examples", "nlu_night", "publish_nlu"]

EXAMPLES_FILE = "examples.parquet"


@dataclass
class NluNight:
    """One night's understanding step: what was learned, how the candidate fared, what went live."""

    version: str | None  # the published version; None when the live model stays
    digest: str
    learned: int  # learned wordings (each supported by enough people)
    supporting_turns: int
    gate: dict[str, dict[str, int]] = field(default_factory=dict)  # live / candidate scores
    reason: str = ""
    model: Any = None  # the model now live (the candidate when published)

    def summary(self) -> dict[str, Any]:
        return {
            "nlu_version": self.version,
            "nlu_learned_wordings": self.learned,
            "nlu_supporting_turns": self.supporting_turns,
            "nlu_gate": self.gate,
            "nlu_reason": self.reason,
        }


def publish_nlu(
    workspace: str | Path | Workspace,
    model: Any,
    examples: pa.Table,
    provenance: Mapping[str, Any] | None = None,
) -> str:
    """Publish an understanding model with the examples it was trained on (rows with provenance)."""

    def write(tmp: Path) -> None:
        model.save(tmp / MODEL_SUBDIR)
        pq.write_table(examples, tmp / EXAMPLES_FILE)

    return Workspace.of(workspace).store("nlu").publish(write, provenance)


def live_examples(workspace: str | Path | Workspace) -> pa.Table | None:
    """The live ``nlu`` version's training examples, or None (nothing live, or saved without)."""
    store = Workspace.of(workspace).store("nlu")
    version = store.current_version()
    if version is None or not (store.path(version) / EXAMPLES_FILE).exists():
        return None
    return pq.read_table(store.path(version) / EXAMPLES_FILE)


def _final_slots(workspace: Workspace, chains: pa.Table) -> dict[str, list[tuple[str, str]]]:
    """Each successful chain's last turn -> its NLU slots as heard (name, surface value)."""
    from selflearn.logs.io import read_turns

    ids_col, outcomes = chains.column("turn_ids").to_pylist(), chains.column("outcome").to_pylist()
    wanted = {ids[-1] for ids, o in zip(ids_col, outcomes, strict=True) if o == "success" and len(ids) > 1}
    out: dict[str, list[tuple[str, str]]] = {}
    for t in read_turns(workspace.logs):
        if t.turn_id in wanted and t.nlu.top is not None:
            out[t.turn_id] = [(s.name, s.value) for s in t.nlu.top.slots]
    return out


def _read(model: Any, texts: list[str]) -> dict[str, str | None]:
    if not texts:
        return {}
    tops = model.predict_batch(texts, n=1)
    return {t: (h[0].intent if h else None) for t, h in zip(texts, tops, strict=True)}


def nlu_night(
    workspace: str | Path,
    chains: pa.Table,
    *,
    min_people: int = 3,
    protected: Collection[str] = (),
    holdout: float = 0.2,
    min_gain: int = 1,
    min_win_ratio: float = 5.0,
    publish: bool = True,
) -> NluNight:
    """One night of the understanding step (see the module docstring)."""
    from sklearn.base import clone

    from selflearn.assistant.nlu.load import load_nlu

    ws = Workspace(workspace)
    live_dir = ws.model_dir("nlu")
    base_table = live_examples(ws)
    if live_dir is None or base_table is None:
        raise FileNotFoundError(
            f"the nlu step needs a live understanding model published with its training examples "
            f"({EXAMPLES_FILE}) in {ws.store('nlu').dir}"
        )
    live = load_nlu(live_dir)
    base, _ = training_examples(base_table.filter(pc.equal(base_table["source"], "base")))
    learned = rephrase_examples(
        chains, _final_slots(ws, chains), min_people=min_people, protected=protected, holdout=holdout
    )
    table = examples_table(base, learned)
    digest = table_digest(table, sort_by=["text", "intent", "source", "turn_id"])
    night = NluNight(None, digest, len(learned), sum(len(x.support) for x in learned), model=live)
    if not learned:
        night.reason = "no wording was supported by enough people"
        return night
    # `learned` already holds only wordings with enough support, in (text, intent) order
    candidate = clone(live).fit([*base, *(x.example() for x in learned)])
    targets = gate_targets(chains, holdout=holdout, protected=protected)
    texts = targets.texts
    read_live, read_candidate = _read(live, texts), _read(candidate, texts)
    change = targets.compare(read_live, read_candidate)
    night.gate = {
        "live": targets.score(read_live),
        "candidate": targets.score(read_candidate),
        "change": change,
    }
    gain = change["wins"] - change["losses"]
    if gain < min_gain or change["wins"] < min_win_ratio * change["losses"]:
        night.reason = (
            f"on the held-back logs the candidate wins {change['wins']} and loses {change['losses']} "
            f"(needs a gain of {min_gain} and {min_win_ratio:g} wins per loss)"
        )
        return night
    if publish:
        provenance = {
            "trained_on": "the live model's examples plus wordings learned from rephrases",
            "learned_wordings": len(learned),
            "min_people": min_people,
            "holdout": holdout,
            "min_win_ratio": min_win_ratio,
            "gate": night.gate,
        }
        night.version = publish_nlu(ws, candidate, table, provenance)
    night.model = candidate
    night.reason = f"on the held-back logs the candidate wins {change['wins']} and loses {change['losses']}"
    return night


def forget_nlu(workspace: str | Path, user_id: str) -> dict[str, Any]:
    """Remove `user_id` from the understanding model (see the module docstring); what was done."""
    from sklearn.base import clone

    from selflearn.assistant.nlu.load import load_nlu

    ws = Workspace(workspace)
    store = ws.store("nlu")
    had: list[str] = []
    for version in store.versions():
        path = store.path(version) / EXAMPLES_FILE
        if path.exists():
            users = pq.read_table(path, columns=["user_id"]).column("user_id")
            if pc.any(pc.equal(users, user_id)).as_py():
                had.append(version)
    if not had:
        return {"versions": 0, "retrained": None}
    live = store.current_version()
    retrained = None
    if live in had:
        table = pq.read_table(store.path(live) / EXAMPLES_FILE)
        table = table.filter(pc.invert(pc.fill_null(pc.equal(table["user_id"], user_id), False)))
        manifest = store.manifest(live)
        base, learned = training_examples(table, min_people=int(manifest.get("min_people", 1)))
        model = clone(load_nlu(store.path(live) / MODEL_SUBDIR)).fit([*base, *learned])
        retrained = publish_nlu(
            ws,
            model,
            table,
            {**_kept(manifest), "retrained_after_deletion": True, "learned_wordings": len(learned)},
        )
    for version in had:
        store.discard(version)  # a model that learned from the person is not kept for rollback
    return {"versions": len(had), "retrained": retrained}


def _kept(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k in ("trained_on", "min_people", "holdout")}


def base_examples_table(examples: list[Example]) -> pa.Table:
    """A deployment's own training examples as an examples table (every row ``base``)."""
    return examples_table(examples, [])
