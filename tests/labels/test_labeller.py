"""The fitted labeller: a labels table with sane confidences, goal ids, persistence, and speed knobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from tests.labels.conftest import tiny_params

from selflearn.labels.labeller import LABELS_SCHEMA, Labeller
from selflearn.util.manifest import ManifestError


@pytest.fixture(scope="module")
def table(tiny_labeller: Labeller, sim_log: dict[str, Any]) -> pa.Table:
    return tiny_labeller.predict(sim_log["turns"])


def test_one_row_per_request_turn_with_probabilities(table: pa.Table, sim_log: dict[str, Any]) -> None:
    assert table.schema == LABELS_SCHEMA
    requests = {t.turn_id for t in sim_log["turns"] if t.wake.detected}
    assert set(table.column("turn_id").to_pylist()) == requests and table.num_rows == len(requests)
    for col in (
        "defect_prob",
        "defect_conf",
        "goal_success_prob",
        "goal_success_conf",
        "intent_conf",
        "slots_conf",
    ):
        v = np.asarray(table.column(col).to_pylist(), dtype=float)
        assert ((v >= 0) & (v <= 1)).all(), col
    assert (np.asarray(table.column("defect_conf").to_pylist()) >= 0.5).all()


def test_goal_segments_are_consistent(table: pa.Table) -> None:
    rows = table.to_pylist()
    by_goal: dict[str, list[dict[str, Any]]] = {}
    prev_session = None
    for r in rows:
        if r["session_id"] != prev_session:
            assert r["goal_start"]  # a session's first turn opens a goal
        prev_session = r["session_id"]
        by_goal.setdefault(r["goal_id"], []).append(r)
    for gid, rs in by_goal.items():
        assert gid == f"{rs[0]['session_id']}:{rs[0]['turn_id']}"
        assert [r["goal_start"] for r in rs] == [True] + [False] * (len(rs) - 1)
        assert len({r["goal_success"] for r in rs}) == 1  # one verdict per goal
    for r in rows:
        for s in r["slots"]:
            assert r["request_text"][s["start"] : s["end"]] == s["value"]
        conf = min(r["defect_conf"], r["goal_success_conf"], r["intent_conf"])
        assert r["auto"] == (conf >= 0.9)


def test_save_load_gives_the_same_labels(
    tiny_labeller: Labeller, table: pa.Table, sim_log: dict[str, Any], tmp_path: Path
) -> None:
    tiny_labeller.save(tmp_path / "lab")
    again = Labeller.load(tmp_path / "lab").predict(sim_log["turns"])
    assert again.column("turn_id").to_pylist() == table.column("turn_id").to_pylist()
    assert np.allclose(
        again.column("defect_prob").to_pylist(), table.column("defect_prob").to_pylist(), atol=1e-5
    )
    assert again.column("intent").to_pylist() == table.column("intent").to_pylist()
    with pytest.raises(ManifestError, match=r"manifest\.json"):
        Labeller.load(tmp_path / "nothing")


def test_unquantized_agrees_with_int8(
    tiny_labeller: Labeller, table: pa.Table, sim_log: dict[str, Any]
) -> None:
    fp32 = clone(tiny_labeller).set_params(quantize=False)
    fp32.builder_, fp32.model_ = tiny_labeller.builder_, tiny_labeller.model_
    other = fp32.predict(sim_log["turns"])
    diff = np.abs(
        np.asarray(other.column("defect_prob").to_pylist())
        - np.asarray(table.column("defect_prob").to_pylist())
    )
    assert diff.max() < 0.1  # int8 quantisation moves probabilities only a little


def test_training_lowered_the_loss_and_unfitted_fails(
    tiny_labeller: Labeller, sim_log: dict[str, Any]
) -> None:
    assert tiny_labeller.history_ and all(np.isfinite(v) for v in tiny_labeller.history_[0].values())
    assert tiny_labeller.pretrain_history_[0]["total"] > 0
    with pytest.raises(NotFittedError):
        Labeller().predict(sim_log["turns"])


def test_rule_prior_starts_from_the_weak_verdict(tiny_labeller: Labeller, sim_log: dict[str, Any]) -> None:
    """With the skip connection from the weak labels, an untrained model already says what the
    rules say; training only has to learn the corrections."""
    lab = clone(tiny_labeller).set_params(rule_prior=["defect"], quantize=False)
    lab.builder_ = tiny_labeller.builder_
    lab.model_ = lab._new_model(lab.builder_).eval()
    table = lab.predict(sim_log["turns"])
    weak = {
        tid: bool(d.defect[i] >= 0.5)
        for d in tiny_labeller.builder_.build(sim_log["turns"])
        for i, tid in enumerate(d.turn_ids)
    }
    pred = dict(zip(table.column("turn_id").to_pylist(), table.column("defect").to_pylist(), strict=True))
    assert pred == weak
    with pytest.raises(ValueError, match="goal_success_from"):
        Labeller(goal_success_from="vote").settings()


def test_keeps_the_learner_contract(sim_log: dict[str, Any], tmp_path: Path, check_learner: Any) -> None:
    from selflearn.context.reranker import ContextReranker

    turns = sim_log["turns"]
    check_learner(
        Labeller(**tiny_params(quantize=False)),
        lambda est: est.fit(turns),
        lambda est: est.predict(turns).column("defect_prob").to_pylist(),
        tmp_path,
        other_kind=ContextReranker,
    )


def test_a_labeller_saved_before_the_learner_base_still_loads(
    tiny_labeller: Labeller, table: pa.Table, sim_log: dict[str, Any], tmp_path: Path
) -> None:
    import json

    saved = tiny_labeller.save(tmp_path / "lab")
    m = json.loads((saved / "manifest.json").read_text())
    old = {
        k: v for k, v in m.items() if k not in ("params", "format", "feature_version", "selflearn", "written")
    }
    old["config"] = tiny_labeller.settings().to_dict()  # how the labeller used to write it
    (saved / "manifest.json").write_text(json.dumps(old))
    back = Labeller.load(saved)
    assert back.get_params()["train"] == tiny_labeller.settings().to_dict()["train"]
    again = back.predict(sim_log["turns"])
    assert again.column("intent").to_pylist() == table.column("intent").to_pylist()
