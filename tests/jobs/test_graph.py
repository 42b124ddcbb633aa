from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from selflearn.jobs.graph import Artifact, GraphError, NightlyGraph, Step, table_digest


def _step(name: str, requires: tuple[str, ...], produces: tuple[str, ...], log: list[str]) -> Step:
    def run(values: Mapping[str, Any]) -> dict[str, Any]:
        log.append(name)
        out: dict[str, Any] = {p: f"{name}({','.join(str(values[r]) for r in requires)})" for p in produces}
        if name == "publish":
            out["artifact"] = Artifact("rewrite", "v0001", "abc")
        if name == "detect":
            out["report"] = {"chains": 3}  # kept in the summary, not among the values
        return out

    return Step(name, requires, produces, run)


def test_a_requirement_nobody_produces_refuses_to_build() -> None:
    log: list[str] = []
    with pytest.raises(GraphError, match="step 'mine' requires \\['chains'\\]"):
        NightlyGraph([_step("read", (), ("flat",), log), _step("mine", ("chains",), ("rules",), log)])
    with pytest.raises(GraphError, match="two steps"):
        NightlyGraph([_step("a", (), ("x",), log), _step("a", (), ("y",), log)])
    with pytest.raises(GraphError, match="already produced"):
        NightlyGraph([_step("a", (), ("x",), log), _step("b", (), ("x",), log)])


def test_runs_in_order_writes_a_summary_and_only_runs_what_a_step_needs(tmp_path: Path) -> None:
    log: list[str] = []
    graph = NightlyGraph(
        [
            _step("read", (), ("flat",), log),
            _step("detect", ("flat",), ("chains",), log),
            _step("context", ("flat",), ("context",), log),
            _step("publish", ("chains",), ("version",), log),
        ]
    )
    run = graph.run(summary_dir=tmp_path, meta={"engine": "embedded"})
    assert log == ["read", "detect", "context", "publish"]
    assert run.values["version"] == "publish(detect(read()))"
    summary = json.loads(run.summary_path.read_text()) if run.summary_path else {}
    assert summary["engine"] == "embedded" and [s["name"] for s in summary["steps"]] == log
    assert summary["steps"][-1]["artifact"] == {
        "kind": "rewrite",
        "version": "v0001",
        "digest": "abc",
        "published": True,
    }
    reports = {s["name"]: s.get("report") for s in summary["steps"]}
    assert reports["detect"] == {"chains": 3} and reports["read"] is None and "report" not in run.values
    assert run.artifact("rewrite") == Artifact("rewrite", "v0001", "abc")
    log.clear()
    graph.run(only="publish")
    assert log == ["read", "detect", "publish"]  # not the context step
    with pytest.raises(GraphError, match="no step 'nope'"):
        graph.run(only="nope")


def test_table_digest_is_about_content_not_order_or_chunks() -> None:
    a = pa.table({"source": ["b", "a"], "p": [0.5, 0.25]})
    b = pa.concat_tables([pa.table({"p": [0.25], "source": ["a"]}), pa.table({"p": [0.5], "source": ["b"]})])
    assert table_digest(a, ["source"]) == table_digest(b, ["source"])
    assert table_digest(a, ["source"]) != table_digest(
        pa.table({"source": ["b", "a"], "p": [0.5, 0.3]}), ["source"]
    )
