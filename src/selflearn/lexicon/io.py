"""The domain file: `domain.json` in a workspace (or anywhere), written by whoever produces the logs
(the simulator, a corpus reader, an assistant's adapter) and read by the learners and the service.
"""

from __future__ import annotations

import json
from pathlib import Path

from selflearn.contracts.domain import Domain, DomainError
from selflearn.util.atomic import atomic_write_text

__all__ = ["DOMAIN_FILE", "load_domain", "save_domain", "workspace_domain"]

DOMAIN_FILE = "domain.json"


def save_domain(domain: Domain, path: str | Path) -> Path:
    """Write `domain` as JSON, atomically; a directory gets `domain.json` inside it."""
    path = Path(path)
    if path.is_dir():
        path = path / DOMAIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(domain.to_dict(), indent=1, sort_keys=True) + "\n")
    return path


def load_domain(path: str | Path) -> Domain:
    """Read a domain file; a directory means its `domain.json`. Errors name the file and field."""
    path = Path(path)
    if path.is_dir():
        path = path / DOMAIN_FILE
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DomainError(f"{path}: not JSON ({e})") from None
    try:
        return Domain.from_dict(raw)
    except DomainError as e:
        raise DomainError(f"{path}: {e}") from None


def workspace_domain(workspace: str | Path) -> Domain | None:
    """The domain a workspace's logs were written under, or None when it has no domain file."""
    path = Path(workspace) / DOMAIN_FILE
    return load_domain(path) if path.exists() else None
