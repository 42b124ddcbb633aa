"""The per-user preference store: what each person taught the assistant, with its history.

Why a database and not a dict: preferences outlive the process, are shared by every assistant
instance of a deployment, and must be deletable on request with a guarantee. SQLite is the default
(one file next to the workspace); any SQLAlchemy URL works for a shared server database.

Privacy rules the store enforces rather than leaves to callers:

* every read and write is keyed by `user_id`; there is no query that returns another user's
  values, so a preference taught by one person is never applied to another;
* `forget` (one preference) and `delete_user` (everything) delete rows, including the history rows
  that held the values, in one transaction that is committed before the call returns. On SQLite
  `secure_delete` is on, so the freed pages are zeroed and the values are gone from the file, not
  just unlinked from the b-tree.

History: every set, correction and forget is a row in `preference_history`, so "you told me X,
then Y" can be shown and a correction audited. A forget keeps only a tombstone (kind, time), never
the forgotten value or an alias name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.pool import StaticPool

__all__ = [
    "SINGLE_VALUED",
    "Change",
    "Preference",
    "PreferenceKind",
    "PreferenceStore",
]


class PreferenceKind(StrEnum):
    """The typed kinds of preference. Values are canonical ids of the home and world: a team id, a
    cuisine, a catalog genre, a room id, an entity id."""

    FAVORITE_TEAM = "favorite_team"
    CUISINE = "cuisine"
    MUSIC_GENRE = "music_genre"
    DEFAULT_ROOM = "default_room"
    DEFAULT_DEVICE = "default_device"  # where media plays when no device or room is said
    ALIAS = "alias"  # key: the user's own name for a device ("moonlight"); value: its entity id


# Kinds with one value per user (key ""); aliases are keyed by the name.
SINGLE_VALUED: frozenset[PreferenceKind] = frozenset(set(PreferenceKind) - {PreferenceKind.ALIAS})

_metadata = MetaData()
_prefs = Table(
    "preferences",
    _metadata,
    Column("user_id", String(128), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("display", String(256), nullable=False, default=""),
    Column("source", String(32), nullable=False, default="teach"),
    Column("updated_at", String(40), nullable=False),
)
_history = Table(
    "preference_history",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", String(128), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(128), nullable=False),
    Column("action", String(16), nullable=False),  # set | correct | forget
    Column("old_value", String(256), nullable=True),
    Column("new_value", String(256), nullable=True),
    Column("source", String(32), nullable=False),
    Column("at", String(40), nullable=False),
)


@dataclass(frozen=True)
class Preference:
    """One stored preference. `display` is how the assistant says the value back ("the Golden
    State Warriors"); `source` tells how it was learned (teach, dialogue, moment, correction)."""

    user_id: str
    kind: PreferenceKind
    key: str
    value: str
    display: str
    source: str
    updated_at: datetime


@dataclass(frozen=True)
class Change:
    """One history row. A forget carries no values (tombstone)."""

    user_id: str
    kind: PreferenceKind
    key: str
    action: str
    old_value: str | None
    new_value: str | None
    source: str
    at: datetime


def _kind(kind: PreferenceKind | str) -> PreferenceKind:
    try:
        return PreferenceKind(kind)
    except ValueError:
        raise ValueError(
            f"unknown preference kind {kind!r}; known: {[k.value for k in PreferenceKind]}"
        ) from None


def _check(user_id: str, kind: PreferenceKind, key: str, value: str | None = None) -> None:
    if not user_id or not user_id.strip():
        raise ValueError(f"preference for kind {kind.value!r}: user_id must be non-empty")
    if kind is PreferenceKind.ALIAS and not key.strip():
        raise ValueError(f"alias preference of user {user_id!r}: key (the alias name) must be non-empty")
    if kind in SINGLE_VALUED and key:
        raise ValueError(f"preference {kind.value!r} of user {user_id!r} is single-valued: key must be ''")
    if value is not None and not value.strip():
        raise ValueError(f"preference {kind.value!r} of user {user_id!r}: value must be non-empty")


def _url(target: str | Path) -> str:
    """A path (or 'sqlite:///...', or any SQLAlchemy URL) -> URL."""
    s = str(target)
    if "://" in s:
        return s
    return f"sqlite:///{Path(s).expanduser().resolve()}"


class PreferenceStore:
    """Typed per-user preferences on SQLAlchemy (SQLite by default).

    `target`: a file path, a SQLAlchemy URL, or "sqlite://" / ":memory:" for an in-memory store
    (tests, benchmarks). Tables are created on open.
    """

    def __init__(self, target: str | Path = ":memory:", *, now: Any = None) -> None:
        memory = str(target) in (":memory:", "sqlite://", "sqlite:///:memory:")
        self.url = "sqlite://" if memory else _url(target)
        if memory:
            self.engine: Engine = create_engine(
                self.url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            if self.url.startswith("sqlite:///"):
                Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        _metadata.create_all(self.engine)
        self._now = now or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------------------ plumbing

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> PreferenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _row(r: Any) -> Preference:
        return Preference(
            user_id=r.user_id,
            kind=PreferenceKind(r.kind),
            key=r.key,
            value=r.value,
            display=r.display,
            source=r.source,
            updated_at=datetime.fromisoformat(r.updated_at),
        )

    # --------------------------------------------------------------------------------- writes

    def set(
        self,
        user_id: str,
        kind: PreferenceKind | str,
        value: str,
        *,
        key: str = "",
        display: str = "",
        source: str = "teach",
    ) -> Change:
        """Store (or replace) a preference; a replaced value is recorded as a correction."""
        k = _kind(kind)
        _check(user_id, k, key, value)
        now = self._now().isoformat()
        with self._tx() as conn:
            cond = and_(_prefs.c.user_id == user_id, _prefs.c.kind == k.value, _prefs.c.key == key)
            old = conn.execute(select(_prefs.c.value).where(cond)).scalar_one_or_none()
            row = {"value": value, "display": display or value, "source": source, "updated_at": now}
            if old is None:
                conn.execute(insert(_prefs).values(user_id=user_id, kind=k.value, key=key, **row))
            else:
                conn.execute(update(_prefs).where(cond).values(**row))
            action = "set" if old is None else "correct"
            conn.execute(
                insert(_history).values(
                    user_id=user_id,
                    kind=k.value,
                    key=key,
                    action=action,
                    old_value=old,
                    new_value=value,
                    source=source,
                    at=now,
                )
            )
        return Change(user_id, k, key, action, old, value, source, datetime.fromisoformat(now))

    def forget(self, user_id: str, kind: PreferenceKind | str, key: str = "") -> bool:
        """Delete one preference and every history row that held its values; True if it existed.
        A tombstone (kind and time only) records that something was forgotten."""
        k = _kind(kind)
        _check(user_id, k, key)
        now = self._now().isoformat()
        with self._tx() as conn:
            cond = and_(_prefs.c.user_id == user_id, _prefs.c.kind == k.value, _prefs.c.key == key)
            n = conn.execute(delete(_prefs).where(cond)).rowcount
            conn.execute(
                delete(_history).where(
                    and_(_history.c.user_id == user_id, _history.c.kind == k.value, _history.c.key == key)
                )
            )
            if n:
                conn.execute(
                    insert(_history).values(
                        user_id=user_id,
                        kind=k.value,
                        key="",
                        action="forget",
                        old_value=None,
                        new_value=None,
                        source="user",
                        at=now,
                    )
                )
        return bool(n)

    def delete_user(self, user_id: str) -> int:
        """Delete everything about a user (preferences and history, tombstones included) at once;
        returns the number of preferences deleted."""
        if not user_id:
            raise ValueError("delete_user: user_id must be non-empty")
        with self._tx() as conn:
            n = conn.execute(delete(_prefs).where(_prefs.c.user_id == user_id)).rowcount
            conn.execute(delete(_history).where(_history.c.user_id == user_id))
        return int(n or 0)

    # ---------------------------------------------------------------------------------- reads

    def get(self, user_id: str, kind: PreferenceKind | str, key: str = "") -> Preference | None:
        k = _kind(kind)
        with self.engine.connect() as conn:
            r = conn.execute(
                select(_prefs).where(
                    and_(_prefs.c.user_id == user_id, _prefs.c.kind == k.value, _prefs.c.key == key)
                )
            ).first()
        return self._row(r) if r is not None else None

    def preferences(self, user_id: str) -> list[Preference]:
        """Every preference of one user, in a stable order (kind, key)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_prefs).where(_prefs.c.user_id == user_id).order_by(_prefs.c.kind, _prefs.c.key)
            ).all()
        return [self._row(r) for r in rows]

    def history(self, user_id: str) -> list[Change]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_history).where(_history.c.user_id == user_id).order_by(_history.c.id)
            ).all()
        return [
            Change(
                r.user_id,
                PreferenceKind(r.kind),
                r.key,
                r.action,
                r.old_value,
                r.new_value,
                r.source,
                datetime.fromisoformat(r.at),
            )
            for r in rows
        ]

    def users(self) -> list[str]:
        """Users with at least one stored preference (for operators; never used at run time)."""
        with self.engine.connect() as conn:
            return [
                r[0] for r in conn.execute(select(_prefs.c.user_id).distinct().order_by(_prefs.c.user_id))
            ]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # secure_delete zeroes freed pages, so deleted values do not linger in the file.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()
