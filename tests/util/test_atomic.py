from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from selflearn.util.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    new_temp_path,
    publish_temp,
)


def test_write_and_replace(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "a.txt"  # parent created on demand
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    atomic_write_bytes(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.txt"]


def test_failure_leaves_old_content_and_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("crash")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["a.txt"]


def test_failure_on_new_file_leaves_nothing(tmp_path: Path) -> None:
    p = tmp_path / "new.bin"
    with pytest.raises(ValueError), atomic_path(p) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".")  # hidden, same directory
        tmp.write_bytes(b"partial")
        raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_no_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "a"
    atomic_write_text(p, "first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write_text(p, "second", overwrite=False)
    assert p.read_text() == "first"
    assert [x.name for x in tmp_path.iterdir()] == ["a"]


def test_publish_temp_keeps_temp_on_conflict(tmp_path: Path) -> None:
    tmp = new_temp_path(tmp_path / "x")
    tmp.write_text("data")
    (tmp_path / "x").write_text("taken")
    with pytest.raises(FileExistsError):
        publish_temp(tmp, tmp_path / "x", overwrite=False)
    assert tmp.exists()
    publish_temp(tmp, tmp_path / "y", overwrite=False)
    assert (tmp_path / "y").read_text() == "data" and not tmp.exists()


def test_permissions_follow_umask(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    p = tmp_path / "perm"
    atomic_write_text(p, "x")
    ref = tmp_path / "ref"
    ref.write_text("x")
    assert stat.S_IMODE(p.stat().st_mode) == stat.S_IMODE(ref.stat().st_mode)


def test_atomic_dir_replaces_a_directory_whole_or_not_at_all(tmp_path: Path) -> None:
    from selflearn.util.atomic import atomic_dir

    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("one")
    assert (target / "a.txt").read_text() == "one"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("failed part way")
    assert (target / "a.txt").read_text() == "one"  # untouched
    with atomic_dir(target) as tmp:
        (tmp / "b.txt").write_text("two")
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]  # whole, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left beside it
