"""The failure-point truth the FPI model learns from: a SLURP request whose intent the assistant
was never built for is labelled "unsupported" (not a stage defect), and every other failed
request keeps its stage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

SLURP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "slurp" / "devel.jsonl"


@pytest.mark.skipif(not SLURP.exists(), reason="needs ../shared/data/slurp/devel.jsonl")
def test_slurp_requests_the_nlu_cannot_know_are_unsupported() -> None:
    from selflearn.assistant.nlu.model import NluModel
    from selflearn.compose import build_assistant
    from selflearn.corpora.slurp import read_slurp, to_examples
    from selflearn.eval.bench import bench_pipeline
    from selflearn.simulate.slurp_goals import SlurpGoals
    from selflearn.simulate.slurp_traffic import SlurpSimulator
    from selflearn.simulate.traffic import SimConfig

    records = read_slurp(SLURP).records
    common = [label for label, _ in Counter(r.label for r in records).most_common(3)]
    known, unknown = common[:2], common[2]
    train = [r for r in records if r.label in known]
    goals = [r for r in records if r.label in common]
    nlu = NluModel(calibration="none", n_jobs=1).fit(to_examples(train))
    asr = {"component": "asr.noisy_channel.v1", "seed": 0, "error_rate": 0.06}
    assistant = build_assistant(bench_pipeline(nlu, asr))
    sim = SlurpSimulator(SimConfig(users=12, seed=0), SlurpGoals.from_records(goals))
    rows = [t for d in (1, 2) for t in sim.run_day(d, assistant).truth if t.is_request]
    stages = Counter((t.goal_intent == unknown, t.failed_stage) for t in rows)
    assert stages[(True, "unsupported")] > 0
    assert all(stage == "unsupported" for (is_unknown, stage) in stages if is_unknown)
    assert all(stage != "unsupported" for (is_unknown, stage) in stages if not is_unknown)
