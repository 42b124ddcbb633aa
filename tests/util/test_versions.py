"""The versioned artifact store every published kind shares."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from selflearn.util.versions import StoreError, VersionedStore


def _writer(text: str):  # type: ignore[no-untyped-def]
    def write(d: Path) -> None:
        (d / "model.txt").write_text(text)

    return write


def test_publish_switches_current_and_records_provenance(tmp_path: Path) -> None:
    s = VersionedStore(tmp_path / "ctx", "context", required=("model.txt",))
    assert s.current_version() is None and s.versions() == []
    v1 = s.publish(_writer("a"), {"turns": 10, "version": "ignored"})
    v2 = s.publish(_writer("b"), {"turns": 20})
    assert (v1, v2) == ("v0001", "v0002") and s.current_version() == v2
    m = s.manifest(v2)
    assert m["kind"] == "context" and m["parent"] == v1 and m["turns"] == 20 and m["created_at"]
    assert s.manifest(v1)["version"] == v1  # the caller cannot overwrite the reserved fields
    assert (s.path(v2) / "model.txt").read_text() == "b"


def test_a_failed_publish_leaves_everything_as_it_was(tmp_path: Path) -> None:
    s = VersionedStore(tmp_path, "ctx", required=("model.txt",))
    s.publish(_writer("a"))

    def boom(d: Path) -> None:
        (d / "model.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        s.publish(boom)
    with pytest.raises(StoreError, match="needs"):
        s.publish(lambda d: None)  # an incomplete version is refused
    assert s.versions() == ["v0001"] and s.current_version() == "v0001"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rollback_disable_and_enable(tmp_path: Path) -> None:
    s = VersionedStore(tmp_path, "ctx")
    s.publish(_writer("a"))
    s.publish(_writer("b"))
    assert s.rollback() == "v0001" and s.current_version() == "v0001"
    with pytest.raises(StoreError) as err:
        s.rollback()
    assert err.value.code == "ctx-no-parent"
    with pytest.raises(StoreError, match="no published"):
        s.rollback("v0009")
    s.disable("made kitchen requests worse")
    assert s.current_version() is None and s.pointed_version() == "v0001"
    assert s.disabled()["reason"] == "made kitchen requests worse"  # type: ignore[index]
    assert s.enable() and s.current_version() == "v0001" and not s.enable()


def test_pruning_keeps_the_newest_and_the_live_one_and_never_lists_a_half_version(tmp_path: Path) -> None:
    s = VersionedStore(tmp_path, "online", keep=2)
    for text in "abcd":
        s.publish(_writer(text))
    assert s.versions() == ["v0003", "v0004"]
    s.rollback("v0003")
    s.publish(_writer("e"))
    # the newest two, and the live one's parent (what a rollback goes back to)
    assert s.versions() == ["v0003", "v0004", "v0005"] and s.manifest("v0005")["parent"] == "v0003"
    # leftovers of interrupted writers: a pruned version not yet deleted, an old temp dir
    (tmp_path / ".trash-v0002-1-1").mkdir()
    old_tmp = tmp_path / ".tmp-abc"
    old_tmp.mkdir()
    os.utime(old_tmp, (time.time() - 7200, time.time() - 7200))
    young_tmp = tmp_path / ".tmp-live"
    young_tmp.mkdir()
    assert sorted(s.clean()) == [".tmp-abc", ".trash-v0002-1-1"] and young_tmp.exists()


def test_rewrite_scrubs_a_kept_version_and_notes_it_without_names(tmp_path: Path) -> None:
    s = VersionedStore(tmp_path, "ctx")
    v = s.publish(_writer("alice bob"))
    s.rewrite(v, {"model.txt": lambda p: p.write_text("bob")}, {"rows": 1})
    assert (s.path(v) / "model.txt").read_text() == "bob"
    redactions = s.manifest(v)["redactions"]
    assert redactions[0]["rows"] == 1 and "alice" not in json.dumps(redactions)
    with pytest.raises(StoreError):
        s.path("../etc")
