from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import selflearn.rewrite.store as store_mod
from selflearn.rewrite.store import RewriteStore, StoreError

from .chains import rule_row, table_of

A = rule_row("turn of the kitchen lice", "turn off the kitchen lights")
B = rule_row("play jas", "play jazz", intent="play_music")
C = rule_row("whether today", "weather today", intent="weather_query")


def test_publish_current_versions(tmp_path: Path) -> None:
    store = RewriteStore(tmp_path)
    assert store.current() is None and store.versions() == []
    v1 = store.publish(table_of(A, B), {"input": {"chains": 42}, "note": "first"})
    assert v1 == "v0001"
    assert (tmp_path / "artifacts/rewrites/CURRENT").read_text().strip() == "v0001"
    current = store.current()
    assert current is not None and current.version == "v0001" and len(current) == 2
    manifest = json.loads((tmp_path / "artifacts/rewrites/v0001/manifest.json").read_text())
    assert manifest["version"] == "v0001" and manifest["parent"] is None
    assert manifest["miner"]["min_users"] == 3
    assert manifest["counts"]["rules"] == 2
    assert manifest["input"] == {"chains": 42} and manifest["note"] == "first"
    assert "created_at" in manifest
    assert current.meta["version"] == "v0001"

    v2 = store.publish(table_of(A))
    assert (v2, store.versions()) == ("v0002", ["v0001", "v0002"])
    assert store.manifest(v2)["parent"] == "v0001"
    assert store.current_version() == "v0002"


def test_rollback_follows_the_lineage(tmp_path: Path) -> None:
    store = RewriteStore(tmp_path)
    with pytest.raises(StoreError) as err:
        store.rollback()
    assert err.value.code == "rewrite-nothing-published"
    store.publish(table_of(A))
    store.publish(table_of(A, B))
    assert store.rollback() == "v0001"  # one call: back to the version before current
    current = store.current()
    assert current is not None and current.version == "v0001" and len(current) == 1
    with pytest.raises(StoreError) as err:
        store.rollback()
    assert err.value.code == "rewrite-no-parent"
    v3 = store.publish(table_of(A, C))  # published on top of the rolled-back v0001
    assert v3 == "v0003"  # version names are never reused
    assert store.rollback() == "v0001"  # its parent, not v0002 (the version we rolled away from)
    assert store.rollback(to="v0002") == "v0002"
    with pytest.raises(StoreError) as err:
        store.rollback(to="v0042")
    assert err.value.code == "rewrite-version-unknown"


def test_disable_one_bad_rewrite(tmp_path: Path) -> None:
    store = RewriteStore(tmp_path)
    store.publish(table_of(A, B))
    v2 = store.disable([B["rule_id"]], "users complain: jazz is not jas")
    current = store.current()
    assert current is not None and current.version == v2 == "v0002"
    assert current.lookup("play jas") is None and current.lookup(A["source"]) is not None
    manifest = store.manifest(v2)
    assert manifest["disabled"]["reason"] == "users complain: jazz is not jas"
    assert manifest["parent"] == "v0001"
    assert store.disabled_rules() == {B["rule_id"]: "users complain: jazz is not jas"}
    # a later publish (e.g. the nightly miner re-finding the rule) keeps it out
    v3 = store.publish(table_of(A, B, C))
    assert store.manifest(v3)["dropped_disabled"] == [B["rule_id"]]
    current = store.current()
    assert current is not None and current.lookup("play jas") is None and len(current) == 2
    with pytest.raises(StoreError) as err:
        store.disable(["rw-nope"], "x")
    assert err.value.code == "rewrite-rule-unknown"


def test_delete_user_everywhere(tmp_path: Path) -> None:
    store = RewriteStore(tmp_path)
    a4 = rule_row(A["source"], A["target"], users=("alice", "bob", "carol", "dave"))
    b3 = rule_row(B["source"], B["target"], users=("alice", "bob", "carol"))
    c3 = rule_row(C["source"], C["target"], users=("bob", "carol", "erin"))
    store.publish(table_of(a4, b3))
    store.publish(table_of(a4, b3, c3))
    new = store.delete_user("alice")
    assert new == "v0003"
    current = store.current()
    assert current is not None and current.version == "v0003"
    assert current.lookup(B["source"]) is None  # 2 users left < min_users 3: dropped
    rule_a = current.lookup(A["source"])
    assert rule_a is not None and rule_a.distinct_users == 3 and rule_a.support == 3
    assert "alice-session" not in rule_a.example_session_ids
    assert current.lookup(C["source"]) is not None  # never involved alice
    for version in store.versions():  # every version, so a rollback cannot bring her back
        vdir = tmp_path / "artifacts/rewrites" / version
        data = pq.read_table(vdir / "table.parquet").to_pylist()
        assert "alice" not in json.dumps(data, default=str)
        assert "alice" not in (vdir / "manifest.json").read_text()
    assert store.manifest("v0001")["redactions"][0]["dropped"] == 1
    assert store.delete_user("alice") is None  # nothing left to delete


def test_failed_publish_leaves_no_partial_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RewriteStore(tmp_path)
    store.publish(table_of(A))
    root = tmp_path / "artifacts/rewrites"
    before = sorted(p.name for p in root.iterdir())

    def broken_write(*args: object, **kwargs: object) -> None:
        raise OSError("disk full while writing the table")

    monkeypatch.setattr(store_mod.pq, "write_table", broken_write)
    with pytest.raises(OSError, match="disk full"):
        store.publish(table_of(A, B))
    monkeypatch.undo()
    assert sorted(p.name for p in root.iterdir()) == before  # no temp dir, no new version
    current = store.current()
    assert current is not None and current.version == "v0001" and len(current) == 1

    def broken_switch(path: object, text: str) -> None:
        raise OSError("crash while switching CURRENT")

    import selflearn.util.versions as versions_mod

    monkeypatch.setattr(versions_mod, "atomic_write_text", broken_switch)
    with pytest.raises(OSError, match="switching"):
        store.publish(table_of(A, B))
    monkeypatch.undo()
    assert sorted(p.name for p in root.iterdir()) == before  # the orphan version was removed
    assert store.versions() == ["v0001"]
    assert (root / "CURRENT").read_text().strip() == "v0001"
    assert store.publish(table_of(A, B)) == "v0002"  # and the store still works


def test_current_switch_is_a_rename(tmp_path: Path) -> None:
    store = RewriteStore(tmp_path)
    store.publish(table_of(A))
    inode = store.current_path.stat().st_ino
    store.publish(table_of(A, B))
    assert store.current_path.stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert not [p for p in store.dir.iterdir() if p.name.startswith(".")]
