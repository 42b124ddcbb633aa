"""benchmarks/report.py: the README's tables come from result files, flag stale results, mark missed
targets, never invent a figure, and --check catches a hand-edited block."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def report() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # report.py imports its sibling `provenance`, as a script would
    try:
        spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up while the class is made
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCH))
    return mod


def prov(commit: str = "c0ffee" * 6 + "abcd", dirty_paths: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "commit": commit,
        "dirty": bool(dirty_paths),
        "dirty_paths": list(dirty_paths),
        "command": "python benchmarks/closed_loop.py --seeds 0 1 2",
        "written": "2026-01-02T03:04:05+00:00",
    }


Pair = tuple[float, float]


def fig(rr: float, ci: Pair, seeds: list[int], ci_seeds: Pair | None) -> dict[str, Any]:
    return {
        "defect_rate_learning": 0.2 * (1 - rr),
        "defect_rate_control": 0.2,
        "relative_reduction": rr,
        "ci95": list(ci),
        "ci95_seeds": list(ci_seeds) if ci_seeds else None,
        "days": [6, 7],
        "seeds": seeds,
        "per_seed": [],
    }


def arm(rr: float, ci: tuple[float, float], seeds: list[int], **p: Any) -> dict[str, Any]:
    ci_seeds = (ci[0] - 0.02, ci[1] + 0.02) if len(seeds) >= 3 else None
    f = fig(rr, ci, seeds, ci_seeds)
    return {
        "vs_control": f,
        "first_attempt": f,
        "goal_success": f,
        "wins": 1234,
        "losses": 5,
        "win_loss_ratio": 246.8,
        "seeds": seeds,
        "seconds": 1.0,
        "provenance": prov(**p),
    }


def closed_loop(tmp: Path, beds: dict[str, Any]) -> None:
    data = {"provenance": prov(), "target": {"relative_reduction": 0.30, "ci95_low": 0.20}, "beds": beds}
    (tmp / "closed_loop.json").write_text(json.dumps(data))


def rows(text: str) -> dict[str, str]:
    """Table lines by their first cell."""
    return {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}


def never_changed(*args: str, root: Path) -> str:
    return ""


def test_headline_met_missed_and_not_measured(report: ModuleType, tmp_path: Path) -> None:
    closed_loop(
        tmp_path,
        {
            "simulator": {"arms": {"precomputed": arm(0.35, (0.25, 0.45), [0, 1, 2, 3, 4])}},
            "slurp_real_asr": {"arms": {"precomputed": arm(0.12, (0.05, 0.19), [0])}},
        },
    )
    out = report.render_table(report.HEADLINE, report.Sources(tmp_path, tmp_path, never_changed))
    r = rows(out)
    sim = r["simulator (realistic sessions) / precomputed rewrites"]
    assert "35.0% [25.0, 45.0]; seeds [23.0, 47.0]" in sim
    assert "20.0%" in sim and "13.0%" in sim  # control and learning defect rates
    assert "1,234 / 5" in sim
    assert "| met |" in sim and "missed" not in sim
    slurp = r["SLURP, real recognition (strict judge) / precomputed rewrites"]
    assert "| **missed** |" in slurp
    assert "12.0% [5.0, 19.0]; 1 seed" in slurp  # a single seed says so
    # an arm the file lacks is not measured: no figure, no verdict
    online = r["simulator (realistic sessions) / precomputed + online layers"]
    assert "not measured" in online and "%" not in online.split("|")[2]
    assert "met" not in online.replace("measured", "")
    # footnotes: each arm's commit and command, so a reader can rerun it
    assert "- `closed_loop.json` (simulator / precomputed): commit `c0ffeec`" in out
    assert "`python benchmarks/closed_loop.py --seeds 0 1 2`" in out


def test_missing_file_is_not_measured_everywhere(report: ModuleType, tmp_path: Path) -> None:
    out = report.render(report.Sources(tmp_path, tmp_path, never_changed))
    for table in report.TABLES:
        for row in table.rows:
            line = rows(out)[row.label]
            assert "not measured" in line and "· missing" in line
            assert "met" not in line.replace("measured", "")
    assert "`closed_loop.json`: not measured yet; make it with `python benchmarks/closed_loop.py`" in out


def test_capability_targets_missed_in_bold(report: ModuleType, tmp_path: Path) -> None:
    teach = {
        "config": {"seeds": [0, 1, 2]},
        "targets": {"turn_accuracy": 0.93, "next_request_success": 0.95},
        "clean": {"turn_accuracy_teaching": 0.99, "next_request_success": 0.966},
        "noisy": {
            "turn_accuracy_teaching": 0.975,
            "next_request_success": 0.934,
            "per_seed": [{"next_request_success": x} for x in (0.887, 0.959, 0.956)],
        },
    }
    (tmp_path / "teach.json").write_text(json.dumps(teach))
    line = rows(report.render_table(report.CAPABILITIES, report.Sources(tmp_path, tmp_path, never_changed)))[
        "teachable preferences"
    ]
    assert "0.966 clean / 0.934 noisy (0.887 / 0.959 / 0.956 per seed); mean of 3 seeds" in line
    assert "| **missed** (next request) |" in line
    assert "· no provenance" in line  # written before provenance existed: said, not guessed


def test_stale_and_dirty_flags(report: ModuleType, tmp_path: Path) -> None:
    calls: list[tuple[str, ...]] = []
    old, new = "old" + "0" * 37, "new" + "0" * 37

    def git(*args: str, root: Path) -> str:
        calls.append(args)
        return "f" * 40 + "\n" if args[2].startswith("old") else ""

    beds = {
        "simulator": {
            "arms": {
                "precomputed": arm(0.35, (0.25, 0.45), [0], commit=old),
                "precomputed+online": arm(
                    0.35, (0.25, 0.45), [0], commit=new, dirty_paths=("src/selflearn/rewrite/online.py",)
                ),
            }
        },
        "slurp_real_asr": {
            "arms": {"precomputed": arm(0.35, (0.25, 0.45), [0], commit=new, dirty_paths=("README.md",))}
        },
    }
    closed_loop(tmp_path, beds)
    r = rows(report.render_table(report.HEADLINE, report.Sources(tmp_path, tmp_path, git)))
    sim, slurp = "simulator (realistic sessions)", "SLURP, real recognition (strict judge)"
    assert r[f"{sim} / precomputed rewrites"].endswith("`closed_loop.json` · stale |")
    assert r[f"{sim} / precomputed + online layers"].endswith("`closed_loop.json` · dirty |")
    assert r[f"{slurp} / precomputed rewrites"].endswith("`closed_loop.json` |")  # README.md is not a dep
    log = next(c for c in calls if c[2].startswith("old"))
    assert log[:3] == ("log", "--format=%H", old + "..HEAD")
    assert "src/selflearn/rewrite" in log and "benchmarks/closed_loop.py" in log


def test_a_same_behaviour_fingerprint_carries_a_result_over_a_refactor(
    report: ModuleType, tmp_path: Path
) -> None:
    old, mid, new = ("old" + "0" * 37, "mid" + "0" * 37, "new" + "0" * 37)

    def git(*args: str, root: Path) -> str:  # the code changed after old and after mid, not after new
        return "" if args[2].startswith("new") else "f" * 40 + "\n"

    beds = {
        "simulator": {"arms": {"precomputed": arm(0.35, (0.25, 0.45), [0], commit=old)}},
        "slurp_real_asr": {"arms": {"precomputed": arm(0.35, (0.25, 0.45), [0], commit=old)}},
    }
    closed_loop(tmp_path, beds)
    comparisons = [  # old -> mid -> new on the simulator (a chain); the SLURP bed came out different
        {"from": old, "to": mid, "bed": "simulator", "same": True},
        {"from": mid, "to": new, "bed": "simulator", "same": True},
        {"from": old, "to": new, "bed": "slurp_real_asr", "same": False},
    ]
    (tmp_path / "behaviour.json").write_text(json.dumps({"comparisons": comparisons}))
    r = rows(report.render_table(report.HEADLINE, report.Sources(tmp_path, tmp_path, git)))
    sim, slurp = "simulator (realistic sessions)", "SLURP, real recognition (strict judge)"
    assert r[f"{sim} / precomputed rewrites"].endswith("`closed_loop.json` · same behaviour at `new0000` |")
    assert r[f"{slurp} / precomputed rewrites"].endswith("`closed_loop.json` · stale |")
    # a row that is not a closed-loop bed is never carried
    src = report.Sources(tmp_path, tmp_path, git)
    assert src.flags({"commit": old}, ["src"], bed="") == ["stale"]


def test_a_fingerprint_from_a_commit_with_the_same_code_carries_too(
    report: ModuleType, tmp_path: Path
) -> None:
    twin, old, new = ("twin" + "0" * 36, "old" + "0" * 37, "new" + "0" * 37)

    def git(*args: str, root: Path) -> str:
        if args[0] == "diff":  # twin and old hold the same deps (only a benchmark script changed)
            return "" if {args[2], args[3]} == {twin, old} else "src/x.py\n"
        return "" if args[2].startswith("new") else "f" * 40 + "\n"

    closed_loop(tmp_path, {"simulator": {"arms": {"precomputed": arm(0.35, (0.25, 0.45), [0], commit=twin)}}})
    comparisons = [{"from": old, "to": new, "bed": "simulator", "same": True}]
    (tmp_path / "behaviour.json").write_text(json.dumps({"comparisons": comparisons}))
    r = rows(report.render_table(report.HEADLINE, report.Sources(tmp_path, tmp_path, git)))
    assert r["simulator (realistic sessions) / precomputed rewrites"].endswith(
        "same behaviour at `new0000` |"
    )


def test_behaviour_digest_ignores_timings_and_configuration() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_behaviour", BENCH / "behaviour.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCH))
    a = {"days": [{"defect_rate": 0.25, "nightly_s": 50.0, "online_training": {"timings": {"fit": 3}}}],
         "config": {"engine": "embedded"}, "summary": {"wins": 11}}  # fmt: skip
    b = {"days": [{"defect_rate": 0.25, "nightly_s": 61.0, "online_training": {"timings": {"fit": 9}}}],
         "config": {"engine": "spark"}, "summary": {"wins": 11}}  # fmt: skip
    assert mod.digest(a) == mod.digest(b)
    assert mod.digest(a) != mod.digest({**a, "summary": {"wins": 12}})


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_stale_against_a_real_repository(report: ModuleType, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "results").mkdir()
    _git(repo, "init", "-q")
    for k, v in {"user.name": "t", "user.email": "t@example.com", "commit.gpgsign": "false"}.items():
        _git(repo, "config", k, v)
    (repo / "src" / "a.py").write_text("x = 1\n")
    (repo / "other.txt").write_text("1\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "one")
    measured = _git(repo, "rev-parse", "HEAD")
    (repo / "results" / "r.json").write_text(json.dumps({"provenance": {"commit": measured}, "x": 0.5}))
    table = report.Table(
        title="t",
        intro="",
        label_column="what",
        columns=("x",),
        rows=(report.Row("x", "r.json", lambda d: [str(d["x"])], ("src", "bench.py")),),
    )
    src = report.Sources(repo / "results", repo)
    assert rows(report.render_table(table, src))["x"].endswith("`r.json` |")

    (repo / "other.txt").write_text("2\n")  # a change elsewhere leaves the result current
    _git(repo, "commit", "-qam", "two")
    assert rows(report.render_table(table, report.Sources(repo / "results", repo)))["x"].endswith("json` |")

    (repo / "src" / "a.py").write_text("x = 2\n")  # the code it measured changed after it
    _git(repo, "commit", "-qam", "three")
    assert rows(report.render_table(table, report.Sources(repo / "results", repo)))["x"].endswith("· stale |")


def test_check_detects_a_hand_edited_block(report: ModuleType, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    closed_loop(results, {"simulator": {"arms": {"precomputed": arm(0.35, (0.25, 0.45), [0, 1, 2])}}})
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nintro\n\n{report.BEGIN}\nold figures\n{report.END}\n\nafter\n")
    args = ["--results", str(results), "--readme", str(readme), "--root", str(tmp_path)]

    assert report.main([*args, "--check"], git=never_changed) == 1  # not yet generated
    assert report.main(args, git=never_changed) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\nintro\n\n") and text.endswith(f"{report.END}\n\nafter\n")
    assert "35.0% [25.0, 45.0]" in text and "old figures" not in text
    assert report.main([*args, "--check"], git=never_changed) == 0
    assert not list(tmp_path.glob(".README.md.*"))  # the atomic write left no temporary file

    readme.write_text(text.replace("35.0% [25.0, 45.0]", "45.0% [35.0, 55.0]"))  # a hand edit
    assert report.main([*args, "--check"], git=never_changed) == 1

    readme.write_text("# no block\n")
    assert report.main([*args, "--check"], git=never_changed) == 2
