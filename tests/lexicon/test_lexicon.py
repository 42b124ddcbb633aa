"""The domain's vocabularies as the runtime searches them, and the domain file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from selflearn.contracts.domain import Domain, DomainError
from selflearn.home.catalog import default_catalog
from selflearn.home.domain import simulated_domain
from selflearn.home.world import World
from selflearn.lexicon.io import load_domain, save_domain, workspace_domain
from selflearn.lexicon.lexicon import lexicon_for


def test_the_simulated_domain_survives_its_file(tmp_path: Path) -> None:
    d = simulated_domain()
    path = save_domain(d, tmp_path)
    assert path.name == "domain.json"
    back = load_domain(tmp_path)
    assert back.digest == d.digest and back.protected == d.protected
    assert workspace_domain(tmp_path) is not None and workspace_domain(tmp_path / "none") is None


def test_a_lexicon_from_a_loaded_domain_reads_names_as_the_simulated_world_does(tmp_path: Path) -> None:
    loaded = load_domain(save_domain(simulated_domain(), tmp_path))  # plain strings, no enums
    lex = lexicon_for(loaded)
    assert lexicon_for(loaded) is lex  # built once per domain object
    world, catalog = World(), default_catalog()
    for title in ("harry potter", "dune", "thriller", "gone girl"):
        assert [m.key for m in lex.catalog.find(title)] == [m.key for m in catalog.find(title)]
    for name in ("giants", "seattle", "the bulls"):
        assert [m.key for m in lex.teams.match(name)] == [m.key for m in world.team_index.match(name)]
    assert lex.cuisines.match("sushi")[0].key == world.cuisine_index.match("sushi")[0].key
    assert lex.media_types.match("film")[0].key == "movie"
    assert lex.colors.match("warm white")[0].key == "warm white"
    assert lex.generic_names_longest_first[0][0] in {"coffee machine", "security system"}
    assert lex.catalog.genre_index.match("rap")[0].key == "hip hop"


def test_a_broken_domain_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "domain.json"
    bad.write_text("{not json")
    with pytest.raises(DomainError, match=r"domain\.json: not JSON"):
        load_domain(bad)
    bad.write_text(json.dumps({"name": "x", "intents": [{"name": 1}]}))
    with pytest.raises(DomainError, match=r"domain\.json: intents\[0\]\.name"):
        load_domain(bad)


def test_the_resolver_reads_a_loaded_domain_like_the_built_in_one(tmp_path: Path) -> None:
    from selflearn.assistant.resolve import EntityResolver
    from selflearn.contracts.domain import SlotType

    loaded: Domain = load_domain(save_domain(simulated_domain(), tmp_path))
    builtin = EntityResolver(domain=simulated_domain())
    from_file = EntityResolver(domain=loaded)
    for stype, value in [
        (SlotType.COLOR, "warm white"),
        (SlotType.MEDIA_TYPE, "film"),
        (SlotType.GENRE, "rap"),
    ]:
        a = builtin.resolve_slot(stype, value, intent="x", home=None, args={}, ctx_room=None, today=_today())
        b = from_file.resolve_slot(
            stype, value, intent="x", home=None, args={}, ctx_room=None, today=_today()
        )
        assert a.value is not None and (a.value, a.score) == (b.value, b.score)


def _today() -> date:
    return date(2026, 12, 7)
