"""Components are found by name through entry points: selflearn's own and a third party's alike."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest

from selflearn.assistant import component
from selflearn.assistant.component import ENTRY_POINT_GROUP, create, registered

ROOT = Path(__file__).resolve().parents[2]


def _declared() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(meta["project"]["entry-points"][ENTRY_POINT_GROUP])


def test_every_declared_component_is_known_and_loads_to_a_callable_factory() -> None:
    declared = _declared()
    assert set(declared) <= set(registered())
    for name, target in declared.items():
        module, attr = target.split(":")
        ep = EntryPoint(name=name, value=target, group=ENTRY_POINT_GROUP)
        factory = ep.load()
        assert callable(factory), name
        assert factory.__module__ == module and factory.__name__ == attr


def test_an_unknown_name_says_where_components_come_from() -> None:
    with pytest.raises(KeyError, match=ENTRY_POINT_GROUP):
        create("nothing.here.v1")


def test_a_third_party_component_is_created_through_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme_component.py").write_text(
        "class Shout:\n"
        "    name = 'response'\n"
        "    def __init__(self, word: str = 'hi') -> None:\n"
        "        self.word = word\n"
        "    def __call__(self, state):\n"
        "        return state\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint(name="acme.shout.v1", value="acme_component:Shout", group=ENTRY_POINT_GROUP)
    real = component.entry_points

    def fake(**kw: Any) -> Any:
        found = list(real(**kw))
        if kw.get("group") == ENTRY_POINT_GROUP and kw.get("name") in (None, ep.name):
            found.append(ep)
        return found

    monkeypatch.setattr(component, "entry_points", fake)
    monkeypatch.delitem(component._REGISTRY, "acme.shout.v1", raising=False)
    assert "acme.shout.v1" in registered()
    made = create("acme.shout.v1", word="hello")
    assert made.name == "response" and made.word == "hello"  # type: ignore[attr-defined]
    monkeypatch.delitem(component._REGISTRY, "acme.shout.v1", raising=False)
