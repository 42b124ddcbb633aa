"""Bearer tokens with scopes for the service: who may read, write, or administer a workspace.

selflearn learns from what anyone sends it, and its admin endpoints delete people and their fixes,
so the service must know who is calling. Each token belongs to a *principal* (a household, a
device, an operator) and carries scopes:

* ``read``: ask for rewrites (`/v1/rewrite`);
* ``write``: send turns and feedback (`/v1/interpret`, `/v1/feedback`), which the nightly job
  learns from; implies read;
* ``admin``: delete people, disable or roll back fixes; implies write and read.

Tokens are random (`new_token`: 32 bytes, URL-safe) and only their SHA-256 is stored, in
``<workspace>/serve/tokens.json`` (`selflearn token add` prints a token once, then forgets it).
A random token of that length needs no slow password hash: guessing it is hopeless, and a salted
hash of a leaked file still reveals nothing. Tokens may also come from the environment
(``SELFLEARN_TOKENS="TOKEN:PRINCIPAL:SCOPE[+SCOPE];..."``), hashed as they are read. Comparisons
are constant-time and a token never appears in a log line or an error.

With no token configured the service is open for read and write (a development setup on the
default loopback bind) but admin endpoints refuse everyone: a destructive call always needs a
credential. `selflearn serve` refuses to listen beyond loopback without tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from selflearn.util.atomic import atomic_write_text
from selflearn.util.workspace import Workspace

__all__ = [
    "SCOPES",
    "Principal",
    "TokenStore",
    "hash_token",
    "new_token",
]

#: Scopes from weakest to strongest; each implies those before it.
SCOPES = ("read", "write", "admin")
ENV_VAR = "SELFLEARN_TOKENS"


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return "sl_" + secrets.token_urlsafe(32)


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; choose one of {', '.join(SCOPES)}")
    return scope


@dataclass(frozen=True)
class Principal:
    """Who a token speaks for, and the strongest scope it holds."""

    name: str
    scope: str

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(_check_scope(scope))


@dataclass
class _Entry:
    hash: str
    principal: str
    scope: str
    created: str


class TokenStore:
    """Hashed tokens from a JSON file and/or the environment."""

    def __init__(self, path: Path | None = None, env: str | None = None) -> None:
        self.path = path
        self._entries: list[_Entry] = []
        if path is not None and path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                self._entries = [_Entry(**e) for e in raw.get("tokens", [])]
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}: not a token file ({exc})") from exc
            for i, e in enumerate(self._entries):
                if not e.hash.startswith("sha256:") or not e.principal:
                    raise ValueError(f"{path}: token {i}: needs a sha256 hash and a principal")
                _check_scope(e.scope)
        self._env: list[_Entry] = []
        for n, item in enumerate(x for x in (env or "").split(";") if x.strip()):
            parts = item.strip().split(":")
            if len(parts) != 3 or not parts[0] or not parts[1]:
                raise ValueError(f"{ENV_VAR}: entry {n + 1} is not TOKEN:PRINCIPAL:SCOPE")
            self._env.append(_Entry(hash_token(parts[0]), parts[1], _check_scope(parts[2]), "env"))

    @classmethod
    def for_workspace(cls, workspace: Path) -> TokenStore:
        return cls(Workspace(workspace).tokens_file, os.environ.get(ENV_VAR))

    def __len__(self) -> int:
        return len(self._entries) + len(self._env)

    @property
    def configured(self) -> bool:
        return len(self) > 0

    def authenticate(self, token: str | None) -> Principal | None:
        """The principal of `token`, or None (unknown, revoked or missing)."""
        if not token:
            return None
        h = hash_token(token)
        found = None
        for e in (*self._entries, *self._env):  # no early exit: the time does not say which matched
            if hmac.compare_digest(e.hash, h):
                found = Principal(e.principal, e.scope)
        return found

    # -- managing the file -------------------------------------------------------------------------
    def add(self, principal: str, scope: str) -> str:
        """Create a token for `principal`; returns it (the only time it is seen) and saves the hash."""
        if self.path is None:
            raise ValueError("this token store has no file")
        if not principal or ":" in principal or ";" in principal:
            raise ValueError(f"bad principal name {principal!r}")
        token = new_token()
        created = datetime.now(UTC).isoformat(timespec="seconds")
        self._entries.append(_Entry(hash_token(token), principal, _check_scope(scope), created))
        self._save()
        return token

    def revoke(self, principal: str) -> int:
        """Remove every stored token of `principal`; returns how many."""
        before = len(self._entries)
        self._entries = [e for e in self._entries if e.principal != principal]
        if len(self._entries) != before:
            self._save()
        return before - len(self._entries)

    def principals(self) -> list[tuple[str, str, str]]:
        """(principal, scope, created) of every token, stored ones first (never the token)."""
        return [(e.principal, e.scope, e.created) for e in (*self._entries, *self._env)]

    def _save(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"tokens": [asdict(e) for e in self._entries]}, indent=2)
        atomic_write_text(self.path, text + "\n")
        os.chmod(self.path, 0o600)
