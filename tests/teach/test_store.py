"""The preference store: typed values, history, corrections, and complete deletion."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from selflearn.teach.store import PreferenceKind, PreferenceStore

K = PreferenceKind


def test_set_get_and_list_are_per_user() -> None:
    store = PreferenceStore()
    store.set("u1", K.FAVORITE_TEAM, "golden_state_warriors", display="the Golden State Warriors")
    store.set("u1", K.ALIAS, "light.bedroom", key="moonlight")
    store.set("u2", K.CUISINE, "thai")
    got = store.get("u1", K.FAVORITE_TEAM)
    assert got is not None and got.value == "golden_state_warriors" and got.display.endswith("Warriors")
    assert [(p.kind, p.key) for p in store.preferences("u1")] == [
        (K.ALIAS, "moonlight"),
        (K.FAVORITE_TEAM, ""),
    ]
    assert store.get("u2", K.FAVORITE_TEAM) is None  # never another user's value
    assert store.users() == ["u1", "u2"]


def test_a_new_value_is_a_correction_in_the_history() -> None:
    store = PreferenceStore()
    first = store.set("u1", "cuisine", "italian")
    second = store.set("u1", "cuisine", "thai", source="correction")
    assert (first.action, first.old_value) == ("set", None)
    assert (second.action, second.old_value, second.new_value) == ("correct", "italian", "thai")
    assert [c.action for c in store.history("u1")] == ["set", "correct"]
    assert store.get("u1", K.CUISINE).value == "thai"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.set("u1", "colour", "red"), "unknown preference kind 'colour'"),
        (lambda s: s.set("", K.CUISINE, "thai"), "user_id must be non-empty"),
        (lambda s: s.set("u1", K.ALIAS, "light.x"), "alias preference of user 'u1'"),
        (lambda s: s.set("u1", K.CUISINE, "thai", key="x"), "single-valued"),
        (lambda s: s.set("u1", K.CUISINE, "  "), "value must be non-empty"),
    ],
)
def test_bad_input_names_the_record_and_field(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        call(PreferenceStore())


def test_forget_deletes_the_value_and_its_history() -> None:
    store = PreferenceStore()
    store.set("u1", K.ALIAS, "light.bedroom", key="moonlight")
    store.set("u1", K.MUSIC_GENRE, "jazz")
    assert store.forget("u1", K.ALIAS, "moonlight") is True
    assert store.get("u1", K.ALIAS, "moonlight") is None
    hist = store.history("u1")
    assert all("moonlight" not in (c.key, c.old_value, c.new_value) for c in hist)
    assert [c.action for c in hist if c.kind is K.ALIAS] == ["forget"]  # a tombstone, no values
    assert store.forget("u1", K.ALIAS, "moonlight") is False
    assert store.get("u1", K.MUSIC_GENRE) is not None


def test_delete_user_is_immediate_and_gone_from_the_file(tmp_path: Path) -> None:
    db = tmp_path / "prefs.sqlite"
    store = PreferenceStore(db)
    store.set("alice", K.ALIAS, "light.bedroom", key="zanzibarglow")
    store.set("alice", K.FAVORITE_TEAM, "chicago_cubs", display="the Chicago Cubs")
    store.set("alice", K.FAVORITE_TEAM, "seattle_kraken", display="the Seattle Kraken")
    store.set("bob", K.CUISINE, "thai")
    assert store.delete_user("alice") == 2
    store.close()
    with sqlite3.connect(db) as raw:  # a fresh connection sees no trace of the user
        for table in ("preferences", "preference_history"):
            rows = raw.execute(f"select count(*) from {table} where user_id = 'alice'").fetchone()
            assert rows == (0,)
        assert raw.execute("select value from preferences where user_id = 'bob'").fetchall() == [("thai",)]
    data = db.read_bytes()
    assert b"zanzibarglow" not in data and b"seattle_kraken" not in data and b"chicago_cubs" not in data


def test_opens_by_url_and_keeps_values_across_instances(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    PreferenceStore(url).set("u1", K.DEFAULT_ROOM, "kitchen")
    again = PreferenceStore(url)
    assert again.get("u1", K.DEFAULT_ROOM).value == "kitchen"  # type: ignore[union-attr]
