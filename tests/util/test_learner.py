"""Every learner derives from the one base and has a contract test; manifests are checked."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import selflearn
from selflearn.util.learner import Learner
from selflearn.util.manifest import ManifestError, read_manifest, write_manifest

#: Learners and the test that runs the learner contract over them (tests/conftest.py).
CONTRACT_TESTS = {
    "LexicalPhoneticRephraseDetector": "tests/feedback/rephrase/test_learner_contract.py",
    "TimeGapBargeInRule": "tests/feedback/rephrase/test_learner_contract.py",
    "HeuristicRephraseDetector": "tests/feedback/rephrase/test_learner_contract.py",
    "ContextReranker": "tests/context/test_reranker.py",
    "GbmFpi": "tests/fpi/test_models.py",
    "MixerFpi": "tests/fpi/test_models.py",
    "Labeller": "tests/labels/test_labeller.py",
    "NluModel": "tests/assistant/nlu/test_model.py",
    "TransformerNlu": "tests/assistant/nlu/test_transformer.py",
    "ContextualRephraseDetector": "tests/feedback/rephrase/test_span_model.py",
    "RewriteRanker": "tests/rewrite/test_ranking.py",
}


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


def test_every_learner_has_a_contract_test() -> None:
    for mod in pkgutil.walk_packages(selflearn.__path__, "selflearn."):
        if mod.name.startswith(("selflearn.cli", "selflearn.serve")):
            continue
        importlib.import_module(mod.name)
    learners = {c.__name__ for c in _all_subclasses(Learner) if c.__module__.startswith("selflearn.")}
    assert learners == set(CONTRACT_TESTS), "add the new learner to a contract test and to CONTRACT_TESTS"


def test_manifest_round_trip_and_refusals(tmp_path: Path) -> None:
    d = write_manifest(tmp_path / "m", "Thing", {"a": 1}, format=2, feature_version="f3", n_rows=7)
    m = read_manifest(d, "Thing", formats=(2,), feature_version="f3")
    assert m["params"] == {"a": 1} and m["n_rows"] == 7 and m["written"]
    with pytest.raises(ManifestError, match="not a Other"):
        read_manifest(d, "Other", formats=(2,))
    with pytest.raises(ManifestError, match="format 2"):
        read_manifest(d, "Thing")
    with pytest.raises(ManifestError, match="retrain"):
        read_manifest(d, "Thing", formats=(2,), feature_version="f4")
    with pytest.raises(ManifestError, match=r"missing manifest\.json"):
        read_manifest(tmp_path / "nowhere", "Thing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_manifest(tmp_path / "bad", "Thing")
    with pytest.raises(ValueError, match="written by write_manifest"):
        write_manifest(tmp_path / "x", "Thing", {}, written="yesterday")


def test_old_manifests_keep_their_parameters_under_config(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"kind": "Thing", "config": {"a": 2}}))
    assert read_manifest(tmp_path, "Thing")["params"] == {"a": 2}
