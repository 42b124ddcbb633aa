"""The nightly graph's evaluate step: the candidate rewrite table's estimated defect rate against the
live table's, kept in the summary and the manifest, and a gate that can keep the live table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from selflearn.jobs import nightly
from selflearn.jobs.nightly import NightlyConfig, gate_decision, run_nightly
from selflearn.offpolicy import Comparison, Estimate
from selflearn.rewrite.store import RewriteStore


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, small_assistant: Any) -> Path:
    from selflearn.simulate.run import write_day
    from selflearn.simulate.traffic import SimConfig, Simulator

    ws = tmp_path_factory.mktemp("evaluate-step")
    sim = Simulator(SimConfig(users=16, seed=3))
    for day in (1, 2):
        write_day(ws, sim.run_day(day, small_assistant))
    return ws


def _fresh(logged: Path, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(logged / "logs", ws / "logs")
    return ws


def _cfg(**kw: Any) -> NightlyConfig:
    return NightlyConfig(min_users=1, miner={"min_source_count": 1}, **kw)


def test_the_estimate_goes_into_the_summary_and_the_published_manifest(logged: Path, tmp_path: Path) -> None:
    ws = _fresh(logged, tmp_path)
    res = run_nightly(ws, _cfg())
    steps = json.loads(res.summary.read_text())["steps"] if res.summary else []
    names = [s["name"] for s in steps]
    assert names.index("mine") < names.index("evaluate") < names.index("publish")
    report = steps[names.index("evaluate")]["report"]
    assert report["kind"] == "rewrite" and report["live_version"] is None and report["publish"]
    assert report["turns"] > 0 and report["people"] > 1 and report["method"] == "direct"
    for side in ("candidate", "live"):
        est = report[side]
        assert 0 <= est["low"] <= est["defect_rate"] <= est["high"] <= 1
    published = steps[names.index("publish")]["artifact"]
    assert published["published"] and published["version"] == res.version == "v0001"
    assert RewriteStore(ws).manifest("v0001")["evaluation"] == report
    # the next night compares against the live table it published
    again = run_nightly(ws, _cfg(evaluate_gate="interval"))
    report2 = next(s["report"] for s in json.loads(again.summary.read_text())["steps"] if "report" in s)  # type: ignore[union-attr]
    assert report2["live_version"] == "v0001" and report2["gate"] == "interval"
    want = gate_decision("interval", _comparison(report2), has_live=True)
    assert (report2["publish"], report2["reason"]) == want
    assert (again.version == "v0002") == report2["publish"]


def test_a_refused_candidate_keeps_the_live_table(
    logged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = _fresh(logged, tmp_path)
    first = run_nightly(ws, _cfg())
    assert first.version == "v0001" and first.rules > 0
    monkeypatch.setattr(nightly, "gate_decision", lambda gate, comparison, has_live: (False, "refused"))
    res = run_nightly(ws, _cfg(evaluate_gate="no_worse"))
    steps = json.loads(res.summary.read_text())["steps"] if res.summary else []
    art = next(s["artifact"] for s in steps if s["name"] == "publish")
    assert art == {**art, "version": "v0001", "published": False}
    assert RewriteStore(ws).versions() == ["v0001"] and res.version == "v0001"


def _comparison(report: dict[str, Any]) -> Comparison:
    fields = ("method", "turns", "people", "changed", "level")
    ests = {k: Estimate(**report[k]) for k in ("candidate", "live", "difference")}
    return Comparison(**{k: report[k] for k in fields}, **ests)


def _cmp(cand: float, cand_high: float, live: float, diff_low: float, changed: int = 5) -> Comparison:
    return Comparison(
        "direct",
        100,
        10,
        changed,
        0.95,
        Estimate(cand, cand - 0.02, cand_high),
        Estimate(live, live - 0.02, live + 0.02),
        Estimate(cand - live, diff_low, diff_low + 0.04),
    )


def test_the_gates() -> None:
    worse = _cmp(0.30, 0.33, 0.25, diff_low=0.01)
    better = _cmp(0.20, 0.23, 0.25, diff_low=-0.08)
    unsure = _cmp(0.24, 0.27, 0.25, diff_low=-0.03)
    assert gate_decision("off", worse, True)[0]
    assert not gate_decision("no_worse", worse, True)[0]
    assert gate_decision("no_worse", unsure, True)[0]
    assert gate_decision("interval", better, True)[0]
    assert not gate_decision("interval", unsure, True)[0]
    assert gate_decision("interval", worse, False) == (True, "no live table to compare with")
    assert gate_decision("interval", _cmp(0.3, 0.33, 0.25, 0.01, changed=0), True)[0]
    with pytest.raises(ValueError, match="evaluate_gate"):
        gate_decision("bogus", worse, True)
    with pytest.raises(ValueError, match="evaluate_gate"):
        NightlyConfig(evaluate_gate="bogus")
    with pytest.raises(ValueError, match="evaluate_level"):
        NightlyConfig(evaluate_level=1.0)
