"""The direct-method estimate: logged turns as the estimators read them, a reward model that never
lets a person vouch for themselves, paired intervals, and a rewrite table as a policy."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import pyarrow as pa
import pytest

from selflearn.contracts.chains import CHAIN_SCHEMA
from selflearn.offpolicy import compare_policies, logged_turns, table_policy
from selflearn.offpolicy.outcomes import RewardModel, _fold
from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteTable

_ids = count()


def _chain(who: str, turns: list[tuple[str, str | None, str | None, bool]]) -> dict[str, object]:
    """turns: (heard, served or None, rule id or None, defective)."""
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    n = len(turns)
    cid = f"c{next(_ids)}"
    return {
        "chain_id": cid,
        "user_id": who,
        "session_id": f"s-{cid}",
        "turn_ids": [f"{cid}-{i}" for i in range(n)],
        "asr_texts": [t[0] for t in turns],
        "nlu_texts": [t[1] for t in turns],
        "rule_ids": [t[2] for t in turns],
        "intents": [None] * n,
        "timestamps": [ts] * n,
        "defective": [t[3] for t in turns],
        "outcome": "success" if not turns[-1][3] else "failure",
        "first_ts": ts,
        "last_ts": ts,
        "interpretations": [None] * n,
        "principal": who,
    }


def _people(fold: int, n: int) -> list[str]:
    return [p for p in (f"p{i}" for i in range(1000)) if _fold(p) == fold][:n]


def _table(rules: list[tuple[str, str]]) -> RewriteTable:
    data = [
        {**dict.fromkeys(REWRITE_SCHEMA.names), "rule_id": f"r{i}", "source": src, "target": tgt}
        for i, (src, tgt) in enumerate(rules)
    ]
    return RewriteTable(pa.Table.from_pylist(data, schema=REWRITE_SCHEMA))


def _log() -> pa.Table:
    """20 people: "turn of the lights" always fails and its rephrase "turn off the lights"
    succeeds; "play jazz" succeeds; "play jas" fails."""
    chains = []
    for who in _people(0, 10) + _people(1, 10):
        chains.append(
            _chain(
                who, [("turn of the lights", None, None, True), ("turn off the lights", None, None, False)]
            )
        )
        chains.append(_chain(who, [("play jazz", None, None, False)]))
        chains.append(_chain(who, [("play jas", None, None, True)]))
    return pa.Table.from_pylist(chains, schema=CHAIN_SCHEMA)


def test_logged_turns_read_every_turn_with_the_logs_own_verdict() -> None:
    table = pa.Table.from_pylist(
        [_chain("a", [("x", "y", "r1", True), ("z", None, None, False)])], schema=CHAIN_SCHEMA
    )
    turns = logged_turns(table)
    assert turns.heard == ["x", "z"] and turns.served == ["y", "z"]  # served falls back to heard
    assert turns.rule_id == ["r1", None] and turns.success.tolist() == [False, True]
    assert turns.principal == ["a", "a"] and len(turns) == 2


def test_the_reward_model_never_lets_a_person_vouch_for_themselves() -> None:
    a, b = _people(0, 1)[0], _people(1, 1)[0]
    rows = [
        _chain(a, [("only a says this", None, None, False)] * 6),
        _chain(b, [("other", None, None, True)]),
    ]
    turns = logged_turns(pa.Table.from_pylist(rows, schema=CHAIN_SCHEMA))
    model = RewardModel(prior_strength=2.0).fit(turns)
    own, others = model.predict([a, b], ["only a says this", "only a says this"])
    assert own == pytest.approx(0.0)  # a's half holds no one else; b's half failed its one turn
    assert others == pytest.approx((6 + 2 * 1.0) / (6 + 2))  # b reads a's half: 6 of 6
    with pytest.raises(ValueError, match="prior_strength"):
        RewardModel(prior_strength=0)


def test_the_same_policy_twice_differs_by_nothing() -> None:
    turns = logged_turns(_log())
    live = table_policy(None)
    cmp = compare_policies(turns, live, live, bootstrap=200)
    assert cmp.changed == 0 and cmp.difference.defect_rate == 0 == cmp.difference.low == cmp.difference.high
    assert cmp.live.defect_rate == pytest.approx(2 / 4)  # 2 of every person's 4 turns failed
    assert cmp.live.low <= cmp.live.defect_rate <= cmp.live.high
    assert cmp.people == 20 and cmp.turns == 80


def test_a_good_rule_is_estimated_better_and_a_bad_one_worse() -> None:
    turns = logged_turns(_log())
    good = compare_policies(
        turns, table_policy(_table([("turn of the lights", "turn off the lights")])), table_policy(None)
    )
    assert good.changed == 20
    assert good.difference.high < 0 < good.live.defect_rate - good.candidate.defect_rate
    bad = compare_policies(turns, table_policy(_table([("play jazz", "play jas")])), table_policy(None))
    assert bad.difference.low > 0
    # seeded: the same estimate again
    assert bad == compare_policies(
        turns, table_policy(_table([("play jazz", "play jas")])), table_policy(None)
    )
    assert set(bad.to_dict()) >= {"method", "candidate", "live", "difference", "changed", "level"}


def test_a_table_as_a_policy() -> None:
    table = pa.Table.from_pylist(
        [
            _chain(
                "a",
                [
                    ("fires", None, None, True),  # the candidate has a rule: its target
                    ("was rewritten", "old target", "r-old", True),  # an older precomputed rule: as heard
                    ("online", "online target", "online:global:v1:ab", False),  # another layer: as logged
                ],
            )
        ],
        schema=CHAIN_SCHEMA,
    )
    served = table_policy(_table([("fires", "new target")]))(logged_turns(table))
    assert served == ["new target", "was rewritten", "online target"]


def test_empty_logs_and_bad_levels() -> None:
    empty = logged_turns(CHAIN_SCHEMA.empty_table())
    cmp = compare_policies(empty, table_policy(None), table_policy(None))
    assert cmp.turns == 0 and cmp.candidate.defect_rate == 0.0
    with pytest.raises(ValueError, match="level"):
        compare_policies(empty, table_policy(None), table_policy(None), level=1.5)
