from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from selflearn.rewrite.markov import (
    CHAIN_SCHEMA,
    FAILURE,
    REWRITE_SCHEMA,
    SUCCESS_PREFIX,
    MarkovRewriteMiner,
    Strategy,
    assign_components,
    count_transitions,
    prob_better,
    rule_id_for,
    solve_component,
)

from .chains import build_chains

LICE = "turn of the kitchen lice"
LIGHTS = "turn off the kitchen lights"


def kitchen_specs() -> list[dict]:
    specs: list[dict] = [
        {"user": "u1", "texts": [LICE, LIGHTS]},
        {"user": "u2", "texts": [LICE, LIGHTS]},
        {"user": "u3", "texts": [LICE, LICE, LIGHTS]},  # a self-loop
        {"user": "u4", "texts": [LICE], "outcome": "failure"},
        {"user": "u5", "texts": [LIGHTS, LICE, LIGHTS]},  # a back edge
    ]
    specs += [{"user": f"u{6 + i}", "texts": [LIGHTS], "intents": ["lights_off"]} for i in range(5)]
    specs += [{"user": "u6", "texts": [LIGHTS], "outcome": "failure", "intents": ["lights_off"]}]
    return specs


def test_kitchen_rule_matches_hand_computed_absorbing_chain() -> None:
    miner = MarkovRewriteMiner().fit(build_chains(kitchen_specs()))
    rows = miner.rewrites_.to_pylist()
    assert len(rows) == 1
    rule = rows[0]
    assert (rule["source"], rule["target"], rule["target_intent"]) == (LICE, LIGHTS, "lights_off")

    # Hand-built canonical form: transient [lice, lights]; absorbing [SUCCESS(lice), SUCCESS(lights), FAIL].
    # lice: 6 visits -> lights 4, lice 1, FAIL 1.  lights: 11 visits -> lice 1, SUCCESS(lights) 9, FAIL 1.
    q = np.array([[1 / 6, 4 / 6], [1 / 11, 0.0]])
    r = np.array([[0.0, 0.0, 1 / 6], [0.0, 9 / 11, 1 / 11]])
    b = np.linalg.solve(np.eye(2) - q, r)  # test oracle only
    assert b[0, 1] == pytest.approx(36 / 51)  # closed form of the 2-state system
    assert rule["probability"] == pytest.approx(b[0, 1], abs=1e-12)
    assert rule["source_success"] == pytest.approx(b[0, 0], abs=1e-12) == 0.0
    assert rule["source_count"] == 6
    assert rule["support"] == 4  # chains with lice followed later by lights: u1, u2, u3, u5
    assert rule["distinct_users"] == 4
    assert sorted(u["user_id"] for u in rule["users"]) == ["u1", "u2", "u3", "u5"]
    assert rule["rule_id"] == rule_id_for(LICE, LIGHTS)
    assert rule["example_session_ids"][0] == "u5-s4"  # most recent first
    assert len(rule["example_session_ids"]) == len(rule["example_user_ids"]) == 4
    assert rule["first_seen"] < rule["last_seen"]
    assert miner.rewrites_.schema.equals(REWRITE_SCHEMA)
    solved = {s["source"]: s for s in miner.solutions_.to_pylist()}
    assert solved[LICE]["failure"] == pytest.approx(b[0, 2])


def test_examples_are_capped() -> None:
    miner = MarkovRewriteMiner(max_examples=2).fit(build_chains(kitchen_specs()))
    assert len(miner.rewrites_["example_session_ids"][0].as_py()) == 2


def test_two_users_are_not_enough() -> None:
    specs = [
        {"user": "u1", "texts": [LICE, LIGHTS]},
        {"user": "u1", "texts": [LICE, LIGHTS]},
        {"user": "u2", "texts": [LICE, LIGHTS]},
        {"user": "u2", "texts": [LICE, LIGHTS]},
    ]
    chains = build_chains(specs)
    assert MarkovRewriteMiner(min_users=3).fit(chains).rewrites_.num_rows == 0
    got = MarkovRewriteMiner(min_users=2).fit(chains).rewrites_
    assert got["distinct_users"].to_pylist() == [2]
    assert got["support"].to_pylist() == [4]


def test_protected_target_needs_allow_protected() -> None:
    src, dst = "unlock the front floor", "unlock the front door"
    specs = [{"user": f"u{i}", "texts": [src, dst], "intents": [None, "door_unlock"]} for i in range(4)]
    chains = build_chains(specs)
    assert MarkovRewriteMiner().fit(chains).rewrites_.num_rows == 0
    allowed = MarkovRewriteMiner(allow_protected=True).fit(chains).rewrites_
    assert allowed["target_intent"].to_pylist() == ["door_unlock"]
    custom = MarkovRewriteMiner(protected_intents={"lights_off"}).fit(chains).rewrites_
    assert custom.num_rows == 1


def margin_chains(own_successes: int) -> pa.Table:
    specs: list[dict] = [{"user": f"u{i}", "texts": [LICE, LIGHTS]} for i in range(3)]
    specs += [{"user": f"w{i}", "texts": [LICE]} for i in range(own_successes)]
    return build_chains(specs)


def test_margin_is_respected() -> None:
    chains = margin_chains(own_successes=2)  # B[s, lights] = 3/5, B[s, SUCCESS(s)] = 2/5
    solved = MarkovRewriteMiner(margin=0.2).fit(chains).solutions_.to_pylist()[0]
    assert solved["probability"] == pytest.approx(0.6)
    assert solved["source_success"] == pytest.approx(0.4)
    assert MarkovRewriteMiner(margin=0.2).fit(chains).rewrites_.num_rows == 1  # 0.6 >= 0.4 + 0.2
    assert MarkovRewriteMiner(margin=0.25).fit(chains).rewrites_.num_rows == 0
    assert MarkovRewriteMiner(margin=0.2, min_probability=0.65).fit(chains).rewrites_.num_rows == 0
    # the exact necessary-condition prefilter drops the source before any solve
    assert MarkovRewriteMiner(margin=0.3).fit(chains).solutions_.num_rows == 0


def test_min_source_count() -> None:
    chains = margin_chains(own_successes=0)  # source seen 3 times
    assert MarkovRewriteMiner(min_source_count=3).fit(chains).rewrites_.num_rows == 1
    assert MarkovRewriteMiner(min_source_count=4).fit(chains).rewrites_.num_rows == 0


def test_blocked_rule_ids() -> None:
    chains = margin_chains(own_successes=0)
    assert (
        MarkovRewriteMiner(blocked_rule_ids={rule_id_for(LICE, LIGHTS)}).fit(chains).rewrites_.num_rows == 0
    )


def test_count_transitions_edges_and_users() -> None:
    edges = count_transitions(build_chains(kitchen_specs()))
    got = {(r["src"], r["dst"]): (r["count"], r["distinct_users"]) for r in edges.to_pylist()}
    assert got == {
        (LICE, LICE): (1, 1),
        (LICE, LIGHTS): (4, 4),
        (LICE, FAILURE): (1, 1),
        (LIGHTS, LICE): (1, 1),
        (LIGHTS, SUCCESS_PREFIX + LIGHTS): (9, 9),
        (LIGHTS, FAILURE): (1, 1),
    }


def test_texts_are_normalized() -> None:
    specs = [
        {"user": f"u{i}", "texts": ["Turn of the Kitchen  lice!", "turn off the kitchen lights."]}
        for i in range(3)
    ]
    rows = MarkovRewriteMiner().fit(build_chains(specs)).rewrites_.to_pylist()
    assert [(r["source"], r["target"]) for r in rows] == [(LICE, LIGHTS)]


def test_mismatched_lists_are_rejected() -> None:
    chains = build_chains([{"user": "u1", "texts": [LICE, LIGHTS]}])
    bad = chains.set_column(
        chains.schema.get_field_index("defective"), "defective", pa.array([[True]], pa.list_(pa.bool_()))
    )
    with pytest.raises(ValueError, match="defective"):
        MarkovRewriteMiner().fit(bad)


# -- the per-component solver against a dense oracle ---------------------------------------------


def random_component(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    names = [f"t{i:04d}" for i in range(n)]
    rows: dict[tuple[str, str], int] = {}
    for a, b in zip(rng.integers(0, n, 2 * n), rng.integers(0, n, 2 * n), strict=True):
        key = (names[a], names[b])
        rows[key] = rows.get(key, 0) + int(rng.integers(1, 5))
    for name in names:
        if rng.random() < 0.8:
            rows[(name, SUCCESS_PREFIX + name)] = int(rng.integers(1, 6))
        if rng.random() < 0.5 or (name, SUCCESS_PREFIX + name) not in rows:
            rows[(name, FAILURE)] = int(rng.integers(1, 4))
    edges = assign_components(
        pa.table({"src": [k[0] for k in rows], "dst": [k[1] for k in rows], "count": list(rows.values())})
    )
    biggest = int(np.bincount(edges["component"].to_numpy()).argmax())
    return edges.filter(pc.equal(edges["component"], biggest))


def dense_absorption(edges: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray]:
    names = sorted(set(edges["src"].to_pylist()))
    ix = {x: i for i, x in enumerate(names)}
    n = len(names)
    c, s, f = np.zeros((n, n)), np.zeros(n), np.zeros(n)
    for a, d, k in zip(*(edges[x].to_pylist() for x in ("src", "dst", "count")), strict=True):
        if d == FAILURE:
            f[ix[a]] += k
        elif d.startswith(SUCCESS_PREFIX):
            s[ix[a]] += k
        else:
            c[ix[a], ix[d]] += k
    out = c.sum(1) + s + f
    fundamental = np.linalg.inv(np.eye(n) - c / out[:, None])  # test oracle only
    return names, fundamental * (s / out)[None, :], fundamental @ (f / out)


@pytest.mark.parametrize(("n", "seed"), [(25, 0), (25, 1), (60, 2), (700, 3)])
@pytest.mark.parametrize("strategy", ["rows", "columns", "auto"])
def test_solve_component_equals_dense_oracle(n: int, seed: int, strategy: str) -> None:
    edges = random_component(n, seed)
    names, b, fail = dense_absorption(edges)
    sol = solve_component(edges, strategy=strategy)  # type: ignore[arg-type]
    assert sol.num_rows == len(names)
    for row in sol.to_pylist():
        i = names.index(row["source"])
        others = b[i].copy()
        others[i] = -1.0
        assert row["source_success"] == pytest.approx(b[i, i], abs=1e-10)
        assert row["failure"] == pytest.approx(fail[i], abs=1e-10)
        assert row["probability"] == pytest.approx(others.max(), abs=1e-10)
        if others.max() > 0:
            assert b[i, names.index(row["target"])] == pytest.approx(others.max(), abs=1e-10)
        else:
            assert row["target"] is None


def test_solve_component_sources_and_threshold() -> None:
    edges = random_component(40, 5)
    names, b, _ = dense_absorption(edges)
    some = names[::7]
    sol = solve_component(edges, sources=some, min_probability=0.3).to_pylist()
    assert [r["source"] for r in sol] == some
    for row in sol:
        i = names.index(row["source"])
        if row["target"] is not None:  # whatever is reported is the true absorption probability
            assert b[i, names.index(row["target"])] == pytest.approx(row["probability"], abs=1e-10)
        others = b[i].copy()
        others[i] = -1
        if others.max() >= 0.3:  # a target that clears the threshold is never missed
            assert row["probability"] == pytest.approx(others.max(), abs=1e-10)
    with pytest.raises(ValueError, match="source"):
        solve_component(edges, sources=["not a node"])


def random_chains(seed: int, n_chains: int = 400) -> pa.Table:
    rng = np.random.default_rng(seed)
    texts = [f"text {i}" for i in range(30)]
    specs = []
    for _ in range(n_chains):
        length = int(rng.choice([1, 1, 2, 3]))
        specs.append(
            {
                "user": f"u{rng.integers(0, 25)}",
                "texts": [texts[int(t)] for t in rng.integers(0, len(texts), length)],
                "outcome": str(rng.choice(["success", "success", "failure", "abandoned"])),
            }
        )
    return build_chains(specs)


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_composes_the_pure_steps(seed: int) -> None:
    chains = random_chains(seed)
    miner = MarkovRewriteMiner(min_users=2, margin=0.0, min_probability=0.1).fit(chains)
    fitted = {r["source"]: r for r in miner.solutions_.to_pylist()}
    assert fitted, "the random graph should have candidate sources"
    edges = assign_components(count_transitions(chains))
    for comp in np.unique(edges["component"].to_numpy()):
        part = edges.filter(pc.equal(edges["component"], comp))
        wanted = sorted(set(part["src"].to_pylist()) & set(fitted))
        if not wanted:
            continue
        for row in solve_component(part, sources=wanted, min_probability=0.1).to_pylist():
            got = fitted[row["source"]]
            assert got["target"] == row["target"]
            assert got["probability"] == pytest.approx(row["probability"], abs=1e-12)
            assert got["source_success"] == pytest.approx(row["source_success"], abs=1e-12)


def test_min_edge_users_prunes_single_user_rephrases() -> None:
    specs = [{"user": f"u{i}", "texts": [LICE, LIGHTS]} for i in range(3)]
    specs += [{"user": "solo", "texts": [LICE, "play jazz"]}] * 2  # one user, twice
    specs += [{"user": f"j{i}", "texts": ["play jazz"]} for i in range(3)]
    chains = build_chains(specs)
    exact = MarkovRewriteMiner().fit(chains).solutions_.to_pylist()
    pruned = MarkovRewriteMiner(min_edge_users=2).fit(chains).solutions_.to_pylist()
    assert exact[0]["probability"] == pytest.approx(3 / 5)
    assert pruned[0]["probability"] == pytest.approx(3 / 5)
    assert exact[0]["failure"] == pytest.approx(0.0)
    assert pruned[0]["failure"] == pytest.approx(2 / 5)  # the solo rephrase counts as leaving the graph


# -- self-aware feedback -------------------------------------------------------------------------

RULE = rule_id_for(LICE, LIGHTS)


def history_specs() -> list[dict]:
    """Before the rule: 5 users rephrase lice -> lights; lights mostly succeeds on its own."""
    specs: list[dict] = [
        {"user": f"h{i}", "texts": [LICE, LIGHTS], "intents": [None, "lights_off"]} for i in range(5)
    ]
    specs += [{"user": f"l{i}", "texts": [LIGHTS], "intents": ["lights_off"]} for i in range(20)]
    return specs


def fired_specs(good: int, bad: int) -> list[dict]:
    """With the rule live: the user said lice, the NLU read lights (rule fired)."""
    specs: list[dict] = []
    for i in range(good):
        specs.append(
            {"user": f"f{i}", "texts": [LIGHTS], "asr": [LICE], "rules": [RULE], "defective": [False]}
        )
    for i in range(bad):
        specs.append(
            {
                "user": f"b{i}",
                "texts": [LIGHTS, "never mind"],
                "asr": [LICE, "never mind"],
                "rules": [RULE, None],
                "defective": [True, True],
                "outcome": "failure",
            }
        )
    return specs


def test_prob_better_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    for a1, b1, a2, b2 in [(3, 9, 6, 6), (11, 2, 1, 6), (50, 50, 48, 52), (1, 1, 1, 1), (400, 10, 380, 30)]:
        mc = float(np.mean(rng.beta(a1, b1, 200_000) > rng.beta(a2, b2, 200_000)))
        assert prob_better(a1, b1, a2, b2)[0] == pytest.approx(mc, abs=0.01)


def test_self_aware_drops_a_live_rule_whose_fired_turns_fail() -> None:
    first = MarkovRewriteMiner().fit(build_chains(history_specs()))
    assert first.rewrites_["rule_id"].to_pylist() == [RULE]
    previous = first.to_table()

    window = build_chains(history_specs() + fired_specs(good=1, bad=10))
    graph_only = MarkovRewriteMiner(self_aware=False).fit(window, previous)
    assert graph_only.rewrites_["rule_id"].to_pylist() == [RULE], "the graph still favours the rule"

    aware = MarkovRewriteMiner().fit(window, previous)
    assert aware.rewrites_.num_rows == 0
    dropped = aware.dropped_.to_pylist()
    assert [d["rule_id"] for d in dropped] == [RULE]
    assert "self-aware" in dropped[0]["reason"]
    assert aware.stats_["dropped_previous"] == 1


def test_self_aware_keeps_a_good_rule_the_graph_no_longer_sees() -> None:
    previous = MarkovRewriteMiner().fit(build_chains(history_specs())).to_table()
    # only fired turns: the source node is gone from the graph (they are attributed to the target)
    window = build_chains(fired_specs(good=12, bad=1))
    assert MarkovRewriteMiner(self_aware=False).fit(window, previous).rewrites_.num_rows == 0
    aware = MarkovRewriteMiner().fit(window, previous)
    rows = aware.rewrites_.to_pylist()
    assert [r["rule_id"] for r in rows] == [RULE]
    assert (rows[0]["fired_successes"], rows[0]["fired_failures"]) == (12, 1)
    # the source's own record comes from the previous table (5 defective un-rewritten turns)
    assert (rows[0]["source_successes"], rows[0]["source_failures"]) == (0, 5)
    assert rows[0]["p_better"] > 0.99
    assert aware.stats_["kept_previous"] == 1


def test_get_params_round_trip_and_table_meta() -> None:
    miner = MarkovRewriteMiner(min_users=4, blocked_rule_ids={"rw-x"})
    clone = MarkovRewriteMiner(**{**miner.get_params(), "prior": tuple(miner.get_params()["prior"])})
    assert clone.get_params() == miner.get_params()
    with pytest.raises(RuntimeError, match="not fitted"):
        miner.to_table()
    table = MarkovRewriteMiner().fit(build_chains(kitchen_specs())).to_table()
    assert table.meta["miner"]["min_users"] == 3
    assert table.meta["input"]["chains"] == 11
    assert table.lookup(LICE) is not None


def test_chunked_and_sliced_input_gives_the_same_rules() -> None:
    chains = build_chains([*kitchen_specs(), {"user": "x", "texts": ["play jazz"]}])
    whole = MarkovRewriteMiner().fit(chains).rewrites_
    chunked = pa.concat_tables([chains.slice(0, 4), chains.slice(4)])
    assert MarkovRewriteMiner().fit(chunked).rewrites_.equals(whole)
    sliced = MarkovRewriteMiner().fit(chains.slice(0, 5)).solutions_
    assert sliced["source"].to_pylist() == [LICE]


def test_null_texts_and_outcomes_never_make_rules() -> None:
    empty_first = [{"user": f"u{i}", "texts": [None, LIGHTS]} for i in range(4)]
    miner = MarkovRewriteMiner().fit(build_chains(empty_first))
    assert miner.solutions_.num_rows == 0 and miner.rewrites_.num_rows == 0  # "" is never a source
    no_outcome = [{"user": f"v{i}", "texts": [LICE, LIGHTS], "outcome": None} for i in range(4)]
    miner = MarkovRewriteMiner().fit(build_chains(no_outcome))
    assert miner.rewrites_.num_rows == 0  # a null outcome is not a success
    assert miner.input_["chains"] == 4


def test_chain_schema_matches_the_producer() -> None:
    producer = pytest.importorskip("selflearn.feedback.chains")
    assert producer.CHAIN_SCHEMA.equals(CHAIN_SCHEMA)


# -- success grouped by interpretation -------------------------------------------------------------

KITCHEN = "lights_on|device=light.kitchen"
BEDROOM = "lights_on|device=light.bedroom"
MISHEARD = "turn on the kitten lice"
KITCHEN_TEXTS = ["lights on in the kitchen please", "turn on the kitchen lights", "kitchen lamp on"]


def rephrase(user: str, target: str, interp: str | None, outcome: str = "success") -> dict:
    return {
        "user": user,
        "texts": [MISHEARD, target],
        "interps": [None, interp],
        "intents": [None, "lights_on"],
        "outcome": outcome,
    }


def fragmented_specs() -> list[dict]:
    """Three users fail with the misheard request, each then succeeds with another wording of the
    same interpretation; one more gives up. Per text: 1/4 each; per interpretation: 3/4."""
    specs = [rephrase(f"u{i}", text, KITCHEN) for i, text in enumerate(KITCHEN_TEXTS)]
    specs.append({"user": "u9", "texts": [MISHEARD], "outcome": "failure"})
    # the kitchen wordings also succeed on their own; "turn on the kitchen lights" most often
    specs += [
        {"user": f"k{i}", "texts": [KITCHEN_TEXTS[1]], "interps": [KITCHEN], "intents": ["lights_on"]}
        for i in range(3)
    ]
    return specs


def test_fragmented_rephrases_pool_into_one_interpretation() -> None:
    chains = build_chains(fragmented_specs())
    per_text = MarkovRewriteMiner(group_by_interpretation=False).fit(chains)
    assert per_text.rewrites_.num_rows == 0
    assert per_text.solutions_["probability"].to_pylist() == [pytest.approx(0.25)]

    miner = MarkovRewriteMiner().fit(chains)
    rows = miner.rewrites_.to_pylist()
    assert len(rows) == 1
    rule = rows[0]
    assert (rule["source"], rule["target"]) == (MISHEARD, "turn on the kitchen lights")  # most endings
    assert rule["probability"] == pytest.approx(3 / 4)  # the summed mass of the three wordings
    assert rule["source_success"] == 0.0
    assert rule["target_intent"] == "lights_on"
    assert (rule["support"], rule["distinct_users"]) == (3, 3)
    assert sorted(u["user_id"] for u in rule["users"]) == ["u0", "u1", "u2"]
    sol = miner.solutions_.to_pylist()[0]
    assert sol["target_state"] == SUCCESS_PREFIX + "@" + KITCHEN
    assert sol["failure"] == pytest.approx(1 / 4)
    assert miner.input_["success_groups"] == int(miner.input_["texts"] or 0) + 1


def test_target_tie_breaks_users_then_text() -> None:
    specs = [rephrase(f"u{i}", text, KITCHEN) for i, text in enumerate(KITCHEN_TEXTS)]
    got = MarkovRewriteMiner().fit(build_chains(specs)).rewrites_["target"].to_pylist()
    assert got == ["kitchen lamp on"]  # one ending each, one user each: the smallest text
    # "lights on in the kitchen please" ends twice more, from one user; "turn on the kitchen
    # lights" ends twice more from two users: counts tie at 3, users decide
    extra = [
        {"user": "a", "texts": [KITCHEN_TEXTS[0]], "interps": [KITCHEN]},
        {"user": "a", "texts": [KITCHEN_TEXTS[0]], "interps": [KITCHEN]},
        {"user": "b", "texts": [KITCHEN_TEXTS[1]], "interps": [KITCHEN]},
        {"user": "c", "texts": [KITCHEN_TEXTS[1]], "interps": [KITCHEN]},
    ]
    got = MarkovRewriteMiner().fit(build_chains(specs + extra)).rewrites_["target"].to_pylist()
    assert got == ["turn on the kitchen lights"]


def test_two_interpretations_from_one_source_are_not_merged() -> None:
    specs = [
        rephrase("u0", "turn on the kitchen lights", KITCHEN),
        rephrase("u1", "kitchen lamp on", KITCHEN),
        rephrase("u2", "turn on the bedroom lights", BEDROOM),
        rephrase("u3", "bedroom lamp on", BEDROOM),
        {"user": "u4", "texts": [MISHEARD], "outcome": "failure"},
    ]
    chains = build_chains(specs)
    miner = MarkovRewriteMiner(min_users=1).fit(chains)
    assert miner.rewrites_.num_rows == 0  # 2/5 each, never 4/5
    sol = miner.solutions_.to_pylist()[0]
    assert sol["probability"] == pytest.approx(2 / 5)
    # at a lower threshold: the tie goes to the smaller state name (bedroom), its own texts only
    low = MarkovRewriteMiner(min_users=1, min_probability=0.4).fit(chains)
    rule = low.rewrites_.to_pylist()[0]
    assert rule["probability"] == pytest.approx(2 / 5)
    assert rule["target"] == "bedroom lamp on"
    assert low.solutions_["target_state"].to_pylist() == [SUCCESS_PREFIX + "@" + BEDROOM]
    assert sorted(u["user_id"] for u in rule["users"]) == ["u2", "u3"]


def test_target_must_mostly_mean_the_interpretation() -> None:
    """A context-dependent text that mostly resolves elsewhere is never the target."""
    vague = "turn on the lights"
    specs = [rephrase(f"u{i}", "kitchen lamp on", KITCHEN) for i in range(3)]
    specs.append(rephrase("u3", vague, KITCHEN))
    specs += [{"user": f"k{i}", "texts": [vague], "interps": [KITCHEN]} for i in range(4)]
    specs += [{"user": f"b{i}", "texts": [vague], "interps": [BEDROOM]} for i in range(6)]
    miner = MarkovRewriteMiner().fit(build_chains(specs))
    rule = miner.rewrites_.to_pylist()[0]
    # vague ends 5 times in the kitchen (more than "kitchen lamp on", 3) but 6 times in the bedroom
    assert rule["target"] == "kitchen lamp on"
    assert rule["probability"] == pytest.approx(3 / 4 + 1 / 4 * 5 / 11)
    assert miner.solutions_["target_state"].to_pylist() == [SUCCESS_PREFIX + "@" + KITCHEN]


def test_a_group_reached_only_through_a_mixed_text_has_no_support() -> None:
    """The chain is memoryless: through a text that mostly succeeds in the bedroom, the bedroom
    group can win for a source whose users all succeeded in the kitchen; no user supports that."""
    vague = "turn on the lights"
    specs = [rephrase(f"u{i}", vague, KITCHEN) for i in range(3)]
    specs += [{"user": f"b{i}", "texts": [vague], "interps": [BEDROOM]} for i in range(5)]
    miner = MarkovRewriteMiner().fit(build_chains(specs))
    sol = miner.solutions_.to_pylist()[0]
    assert (sol["target"], sol["target_state"]) == (vague, SUCCESS_PREFIX + "@" + BEDROOM)
    assert sol["probability"] == pytest.approx(5 / 8)
    assert miner.rewrites_.num_rows == 0


def test_source_succeeding_in_the_group_and_the_margin() -> None:
    target = "turn on the kitchen lights"
    specs = [rephrase(f"u{i}", target, KITCHEN) for i in range(3)]
    specs += [{"user": f"s{i}", "texts": [MISHEARD], "interps": [KITCHEN]} for i in range(2)]
    miner = MarkovRewriteMiner().fit(build_chains(specs))
    rule = miner.rewrites_.to_pylist()[0]
    # B[s, kitchen] counts s's own kitchen successes too; source_success is s succeeding itself
    assert rule["probability"] == pytest.approx(1.0)
    assert rule["source_success"] == pytest.approx(2 / 5)
    assert MarkovRewriteMiner(margin=0.65).fit(build_chains(specs)).rewrites_.num_rows == 0
    # per text: 3/5 vs 2/5, below a 0.25 margin that the group clears
    assert MarkovRewriteMiner(margin=0.25).fit(build_chains(specs)).rewrites_.num_rows == 1
    per_text = MarkovRewriteMiner(margin=0.25, group_by_interpretation=False).fit(build_chains(specs))
    assert per_text.rewrites_.num_rows == 0
    assert per_text.solutions_.num_rows == 0  # dropped by the exact prefilter already
    sol = MarkovRewriteMiner(group_by_interpretation=False).fit(build_chains(specs)).solutions_
    assert sol["probability"].to_pylist() == [pytest.approx(3 / 5)]


def test_group_support_counts_successful_endings_in_the_group() -> None:
    target = "turn on the kitchen lights"
    specs = [rephrase(f"u{i}", target, KITCHEN) for i in range(2)]
    specs += [
        rephrase("f", target, KITCHEN, outcome="failure"),  # did not succeed
        {"user": "b", "texts": [MISHEARD, target], "interps": [None, BEDROOM]},  # another group
        {"user": "s", "texts": [target, MISHEARD], "interps": [KITCHEN, KITCHEN]},  # ends with s itself
        {"user": "t", "texts": [MISHEARD, "kitchen lamp on"], "interps": [None, KITCHEN]},  # any text of g*
    ]
    miner = MarkovRewriteMiner(min_users=1, min_probability=0.0, margin=0.0).fit(build_chains(specs))
    rule = miner.rewrites_.to_pylist()[0]
    assert rule["target"] == target
    assert sorted(u["user_id"] for u in rule["users"]) == ["t", "u0", "u1"]
    assert rule["support"] == rule["distinct_users"] == 3
    per_text = MarkovRewriteMiner(min_users=1, min_probability=0.0, margin=0.0, group_by_interpretation=False)
    old = per_text.fit(build_chains(specs)).rewrites_.to_pylist()[0]
    assert sorted(u["user_id"] for u in old["users"]) == ["b", "f", "u0", "u1"]  # s followed by u, any end


def test_count_transitions_names_interpretation_states() -> None:
    chains = build_chains(fragmented_specs())
    got = {(r["src"], r["dst"]): r["count"] for r in count_transitions(chains).to_pylist()}
    assert got[(KITCHEN_TEXTS[1], SUCCESS_PREFIX + "@" + KITCHEN)] == 4
    assert got[(MISHEARD, FAILURE)] == 1
    per_text = count_transitions(chains, group_by_interpretation=False)
    assert (KITCHEN_TEXTS[1], SUCCESS_PREFIX + KITCHEN_TEXTS[1]) in {
        (r["src"], r["dst"]) for r in per_text.to_pylist()
    }


def test_group_by_interpretation_false_reproduces_the_text_miner() -> None:
    """Interpretations are ignored entirely: the same rules as chains without the column."""
    specs = kitchen_specs()
    for s in specs:
        s["interps"] = [KITCHEN if t == LIGHTS else None for t in s["texts"]]
    chains = build_chains(specs)
    legacy = chains.drop_columns(["interpretations"])
    off = MarkovRewriteMiner(group_by_interpretation=False).fit(chains)
    assert off.rewrites_.equals(MarkovRewriteMiner().fit(legacy).rewrites_)
    assert off.rewrites_.equals(MarkovRewriteMiner(group_by_interpretation=False).fit(legacy).rewrites_)
    rule = off.rewrites_.to_pylist()[0]
    assert rule["probability"] == pytest.approx(36 / 51)
    assert count_transitions(chains, group_by_interpretation=False).equals(count_transitions(legacy))
    # grouped, LIGHTS is the only text of its group: same numbers
    on = MarkovRewriteMiner().fit(chains).rewrites_.to_pylist()[0]
    assert (on["target"], on["probability"]) == (LIGHTS, pytest.approx(36 / 51))
    assert MarkovRewriteMiner().get_params()["group_by_interpretation"] is True


def random_group_component(n: int, seed: int, n_groups: int = 12) -> pa.Table:
    """A random component whose success states are shared interpretation groups (and a few texts' own)."""
    rng = np.random.default_rng(seed)
    names = [f"t{i:04d}" for i in range(n)]
    rows: dict[tuple[str, str], list[int]] = {}
    for a, b in zip(rng.integers(0, n, 2 * n), rng.integers(0, n, 2 * n), strict=True):
        rows.setdefault((names[a], names[b]), [0, 0])[0] += int(rng.integers(1, 5))
    for name in names:
        for _ in range(int(rng.integers(0, 3))):
            g = int(rng.integers(0, n_groups))
            state = SUCCESS_PREFIX + (f"@g{g:02d}" if g < n_groups - 2 else name)
            rows.setdefault((name, state), [0, 0])[0] += int(rng.integers(1, 6))
        if rng.random() < 0.5 or not any(
            k[0] == name and k[1] != FAILURE and k[1].startswith(SUCCESS_PREFIX) for k in rows
        ):
            rows.setdefault((name, FAILURE), [0, 0])[0] += int(rng.integers(1, 4))
    for v in rows.values():
        v[1] = int(rng.integers(1, v[0] + 1))
    edges = assign_components(
        pa.table(
            {
                "src": [k[0] for k in rows],
                "dst": [k[1] for k in rows],
                "count": [v[0] for v in rows.values()],
                "distinct_users": [v[1] for v in rows.values()],
            }
        )
    )
    biggest = int(np.bincount(edges["component"].to_numpy()).argmax())
    return edges.filter(pc.equal(edges["component"], biggest))


def group_oracle(edges: pa.Table) -> dict[str, dict]:
    """The grouped decision straight from its definition, with a dense inverse and BFS reachability."""
    names = sorted(set(edges["src"].to_pylist()))
    groups = sorted(
        {d[len(SUCCESS_PREFIX) :] for d in edges["dst"].to_pylist() if d.startswith(SUCCESS_PREFIX)}
    )
    ix, gx = {x: i for i, x in enumerate(names)}, {x: i for i, x in enumerate(groups)}
    n, ng = len(names), len(groups)
    c, sc, su, f = np.zeros((n, n)), np.zeros((n, ng)), np.zeros((n, ng)), np.zeros(n)
    for a, d, k, u in zip(
        *(edges[x].to_pylist() for x in ("src", "dst", "count", "distinct_users")), strict=True
    ):
        if d == FAILURE:
            f[ix[a]] += k
        elif d.startswith(SUCCESS_PREFIX):
            sc[ix[a], gx[d[len(SUCCESS_PREFIX) :]]] += k
            su[ix[a], gx[d[len(SUCCESS_PREFIX) :]]] += u
        else:
            c[ix[a], ix[d]] += k
    out = c.sum(1) + sc.sum(1) + f
    fund = np.linalg.inv(np.eye(n) - c / out[:, None])  # test oracle only
    r = sc / out[:, None]
    b = fund @ r
    adj = [set(np.flatnonzero(c[i] > 0).tolist()) for i in range(n)]
    res = {}
    for s in range(n):
        seen, todo = {s}, [s]
        while todo:
            for j in adj[todo.pop()]:
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        others = sorted(seen - {s})
        cand = [g for g in range(ng) if any(sc[u, g] > 0 for u in others)]
        row = {"probability": 0.0, "target": None, "state": None, "own": fund[s, s] * r[s].sum()}
        if cand:
            top = max(b[s, g] for g in cand)
            g = next(g for g in cand if b[s, g] >= top - 1e-12)
            elig = [u for u in others if sc[u, g] > 0 and 2 * sc[u, g] >= sc[u].sum()]
            elig.sort(key=lambda u: (-sc[u, g], -su[u, g], names[u]))
            row = {
                "probability": b[s, g],
                "target": names[elig[0]] if elig else None,
                "state": SUCCESS_PREFIX + groups[g],
                "own": row["own"],
            }
        res[names[s]] = row
    return res


@pytest.mark.parametrize(("n", "seed"), [(30, 0), (60, 1), (600, 2)])
@pytest.mark.parametrize("strategy", ["rows", "columns", "auto"])
def test_grouped_solve_component_equals_oracle(n: int, seed: int, strategy: str) -> None:
    edges = random_group_component(n, seed)
    want = group_oracle(edges)
    sol = solve_component(edges, strategy=strategy)  # type: ignore[arg-type]
    assert sol.num_rows == len(want)
    targets = 0
    for row in sol.to_pylist():
        w = want[row["source"]]
        assert row["probability"] == pytest.approx(w["probability"], abs=1e-10)
        assert row["source_success"] == pytest.approx(w["own"], abs=1e-10)
        assert (row["target_state"], row["target"]) == (w["state"], w["target"])
        targets += row["target"] is not None
    assert targets > len(want) // 3


def random_interp_chains(seed: int, n_chains: int = 500) -> pa.Table:
    rng = np.random.default_rng(seed)
    texts = [f"text {i}" for i in range(30)]
    interps = [f"intent{i % 3}|x={i}" for i in range(8)]
    specs = []
    for _ in range(n_chains):
        length = int(rng.choice([1, 1, 2, 3]))
        tx = [int(t) for t in rng.integers(0, len(texts), length)]
        specs.append(
            {
                "user": f"u{rng.integers(0, 25)}",
                "texts": [texts[t] for t in tx],
                "interps": [interps[t % 8] if rng.random() < 0.85 else None for t in tx],
                "outcome": str(rng.choice(["success", "success", "failure", "abandoned"])),
            }
        )
    return build_chains(specs)


@pytest.mark.parametrize("seed", [0, 1])
def test_grouped_fit_composes_the_pure_steps_and_an_external_solver(seed: int) -> None:
    chains = random_interp_chains(seed)
    params: dict[str, Any] = {"min_users": 2, "margin": 0.0, "min_probability": 0.1}
    miner = MarkovRewriteMiner(**params).fit(chains)
    fitted = {r["source"]: r for r in miner.solutions_.to_pylist()}
    assert any(
        r["target_state"].startswith(SUCCESS_PREFIX + "@") for r in fitted.values() if r["target_state"]
    )
    edges = assign_components(count_transitions(chains))

    def per_component(
        edges: pa.Table, sources: Sequence[str], *, strategy: Strategy, min_probability: float
    ) -> pa.Table:
        parts = []
        for comp in np.unique(edges["component"].to_numpy()):
            part = edges.filter(pc.equal(edges["component"], comp))
            mine = sorted(set(part["src"].to_pylist()) & set(sources))
            if mine:
                parts.append(
                    solve_component(part, sources=mine, strategy=strategy, min_probability=min_probability)
                )
        return pa.concat_tables(parts)

    solved = per_component(edges, sorted(fitted), strategy="auto", min_probability=0.1)
    for row in solved.to_pylist():
        got = fitted[row["source"]]
        assert (got["target"], got["target_state"]) == (row["target"], row["target_state"])
        assert got["probability"] == pytest.approx(row["probability"], abs=1e-12)
        assert got["source_success"] == pytest.approx(row["source_success"], abs=1e-12)
    external = MarkovRewriteMiner(**params).fit(chains, solver=per_component)
    assert external.rewrites_.equals(miner.rewrites_)
    assert external.solutions_.equals(miner.solutions_)
    assert miner.rewrites_.num_rows > 0


def test_principals_that_appear_only_together_count_once() -> None:
    import numpy as np

    from selflearn.rewrite.markov import independent_principals

    minute = 60_000_000
    # three credentials driven by one client within the same minutes: one voice
    burst = [np.array([0]), np.array([1 * minute]), np.array([2 * minute, 3 * minute])]
    assert independent_principals(burst, 10 * minute) == 1
    # three people meeting the same problem on their own schedules: three
    spread = [np.array([0]), np.array([60 * minute]), np.array([600 * minute])]
    assert independent_principals(spread, 10 * minute) == 3
    # one of them also acted alone, later: not "only together" any more
    mixed = [np.array([0]), np.array([1 * minute, 300 * minute])]
    assert independent_principals(mixed, 10 * minute) == 2
    assert independent_principals(burst, 0) == 3  # off
