from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from selflearn.rewrite.guard import ProtectedGuard

READS = {
    "lock all the doors": "door_lock",
    "unlock all the doors": "door_unlock",
    "unlok the front door": "door_unlock",
    "garage down": "garage_close",
    "garage up": "garage_open",
    "lights on": "lights_on",
    "lites on": None,
}


def read(texts: Sequence[str]) -> list[str | None]:
    return [READS.get(t) for t in texts]


GUARD = ProtectedGuard.of({"door_unlock", "garage_open"}, read)


def test_a_rule_into_a_protected_intent_is_refused_whatever_the_log_claims() -> None:
    pairs = [("lock all the doors", "unlock all the doors"), ("garage down", "garage up")]
    # the log was doctored to claim harmless targets: re-reading sees through it
    reasons = GUARD.refusals(pairs, ["lights_on", None])
    assert reasons == [
        "target reads as protected intent door_unlock",
        "target reads as protected intent garage_open",
    ]


def test_the_logs_claim_alone_is_enough_to_refuse() -> None:
    assert GUARD.refusals([("lites on", "lights on")], ["door_unlock"]) == [
        "target reads as protected intent door_unlock"
    ]
    no_reader = ProtectedGuard.of({"door_unlock"})
    assert not no_reader.allows("a", "b", claimed="door_unlock")
    assert no_reader.allows("a", "b", claimed="lights_on")


def test_fixing_a_request_that_already_meant_the_protected_intent_is_allowed() -> None:
    assert GUARD.allows("unlok the front door", "unlock all the doors")
    assert GUARD.allows("lites on", "lights on")
    # but not when the log claims something else for the target
    assert not GUARD.allows("unlok the front door", "unlock all the doors", claimed="lights_on")


def test_protected_texts_are_never_retrieval_candidates() -> None:
    texts = ["lights on", "garage up", "lock all the doors", "lites on"]
    assert GUARD.protected_texts(texts) == {"garage up"}
    assert GUARD.protected_texts(texts, [None, None, None, "door_unlock"]) == {"garage up", "lites on"}
    assert ProtectedGuard.of(()).protected_texts(texts) == set()


def test_lengths_must_agree() -> None:
    with pytest.raises(ValueError, match="2 pairs but 1"):
        GUARD.refusals([("a", "b"), ("c", "d")], ["x"])


def test_nightly_guard_drops_refused_rules_with_their_reason() -> None:
    import pyarrow as pa

    from selflearn.jobs.nightly import guard_table
    from selflearn.rewrite.table import REWRITE_SCHEMA, RewriteTable

    rows = [
        {"rule_id": "r1", "source": "garage down", "target": "garage up", "target_intent": "garage_close"},
        {"rule_id": "r2", "source": "lites on", "target": "lights on", "target_intent": "lights_on"},
    ]
    full = [{f.name: r.get(f.name) for f in REWRITE_SCHEMA} for r in rows]
    for r in full:
        r.update(probability=0.9, source_success=0.1, source_count=5)
    table = RewriteTable.from_arrow(pa.Table.from_pylist(full, schema=REWRITE_SCHEMA))
    kept, refused = guard_table(table, GUARD)
    assert [r.rule_id for r in kept] == ["r2"]
    assert refused == [
        {
            "rule_id": "r1",
            "source": "garage down",
            "target": "garage up",
            "reason": "target reads as protected intent garage_open",
        }
    ]


def test_the_workspace_domain_adds_its_protected_intents(tmp_path: Path) -> None:
    from selflearn.contracts.domain import Domain, IntentKind, IntentSpec
    from selflearn.lexicon.io import save_domain
    from selflearn.rewrite.guard import workspace_reader

    assert workspace_reader(tmp_path) == (None, None)  # no model, no domain: the miner's own policy
    oven = IntentSpec("oven_on", IntentKind.ACTION, protected=True)
    domain = Domain("house", (oven, IntentSpec("door_unlock", IntentKind.ACTION)))
    save_domain(domain, tmp_path)
    reader, protected = workspace_reader(tmp_path)
    assert reader is None and protected == frozenset({"oven_on", "door_unlock"})
