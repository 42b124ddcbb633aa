from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from selflearn.rewrite.catalog import CatalogEntry, interpret_catalog, read_catalog, with_catalog
from selflearn.rewrite.online import OnlineModel, OnlineRewriter
from selflearn.rewrite.retrieval import BiEncoder, CandidateIndex, PersonalIndexes

from .test_online import AlwaysFire, _index, state


@pytest.fixture(scope="module")
def encoder() -> BiEncoder:
    return BiEncoder.load(None)


def test_read_catalog_takes_lines_and_json_records(tmp_path: Path) -> None:
    f = tmp_path / "catalog.jsonl"
    f.write_text(
        "Turn OFF the kitchen lights\n"
        + json.dumps({"slurp_id": 1, "sentence": "wake me up at seven am"})
        + "\n\n"
        + json.dumps({"text": "turn off the kitchen lights"})  # the same request, normalised
        + "\n"
    )
    assert read_catalog(f) == ["turn off the kitchen lights", "wake me up at seven am"]


@pytest.mark.parametrize(
    ("line", "why"),
    [("{not json", "not valid JSON"), (json.dumps({"sentence": 3}), "no string field")],
)
def test_read_catalog_names_the_bad_line(tmp_path: Path, line: str, why: str) -> None:
    f = tmp_path / "catalog.jsonl"
    f.write_text("play some jazz\n" + line + "\n")
    with pytest.raises(ValueError, match=rf"catalog.jsonl:2: .*{why}"):
        read_catalog(f)


def test_read_catalog_keeps_good_lines_and_reports_bad_ones(tmp_path: Path) -> None:
    f = tmp_path / "catalog.jsonl"
    f.write_text("play some jazz\n{not json\n" + json.dumps({"text": 7}) + "\nstop the music\n")
    errors: list[str] = []
    assert read_catalog(f, errors=errors) == ["play some jazz", "stop the music"]
    assert len(errors) == 2 and "catalog.jsonl:2" in errors[0] and "catalog.jsonl:3" in errors[1]


def test_interpretations_use_the_logs_format(small_nlu: Any) -> None:
    from selflearn.logs.flat import interpretation

    entries = interpret_catalog(["turn off the kitchen lights", "what time is it"], small_nlu, batch_size=1)
    assert [e.text for e in entries] == ["turn off the kitchen lights", "what time is it"]
    for e in entries:
        top = small_nlu.predict(e.text, n=1)[0]
        assert e.interpretation == interpretation(top) and e.intent == top.intent
        assert 0.0 < e.nlu_confidence <= 1.0


def test_catalog_joins_the_global_index_without_users(encoder: BiEncoder) -> None:
    glob = _index("global", ["turn off the kitchen lights"], encoder, [["u3", "u4", "u5"]])
    entries = [
        CatalogEntry("turn off the kitchen lights", "light_off|room=kitchen", "light_off", 0.9),  # logged
        CatalogEntry("set an alarm for seven am", "alarm_set|time=seven am", "alarm_set", 0.8),
        CatalogEntry("mumble", None, None, 0.0),  # nothing the NLU understood: no use as a target
    ]
    vectors = {e.text: v for e, v in zip(entries, encoder.encode([e.text for e in entries]), strict=True)}
    merged, added = with_catalog(glob, entries, vectors)
    assert added == 1 and merged.texts == ["turn off the kitchen lights", "set an alarm for seven am"]
    # The logged candidate keeps its statistics; the catalog one has nobody behind it.
    assert merged.distinct_users.tolist() == [3.0, 0.0] and merged.users == [["u3", "u4", "u5"], []]
    assert merged.interpretations[1] == "alarm_set|time=seven am"
    np.testing.assert_allclose(merged.embeddings[1], vectors["set an alarm for seven am"])
    again = CandidateIndex.from_arrow("global", merged.to_arrow())
    assert again.texts == merged.texts and again.distinct_users.tolist() == [3.0, 0.0]


def test_a_catalog_rewrite_says_where_it_came_from(encoder: BiEncoder) -> None:
    glob = _index("global", ["turn off the kitchen lights"], encoder, [["u3", "u4", "u5"]])
    entry = CatalogEntry("set an alarm for seven am", "alarm_set|time=seven am", "alarm_set", 0.8)
    merged, _ = with_catalog(glob, [entry], {entry.text: encoder.encode([entry.text])[0]})
    model = OnlineModel(encoder=encoder, global_index=merged, personal=PersonalIndexes(), ranker=AlwaysFire())
    rw = OnlineRewriter(model=model, layers="global")
    rw(state("set an alarm for seven a m", user="u9"))
    assert rw.last_provenance["candidate"] == "set an alarm for seven am"
    assert rw.last_provenance["source"] == "catalog" and rw.last_provenance["support_users"] == 0
    rw(state("turn of the kitchen lites", user="u9"))
    assert rw.last_provenance["source"] == "logs"


def test_configured_catalog_is_capped_and_reports_bad_lines(tmp_path: Path) -> None:
    from selflearn.rewrite.online_train import OnlineTrainConfig, read_configured_catalog

    f = tmp_path / "catalog.txt"
    f.write_text("play some jazz\n{oops\nstop the music\npause\n")
    texts, rejected = read_configured_catalog(OnlineTrainConfig(catalog=str(f), catalog_max=2))
    assert texts == ["play some jazz", "stop the music"] and len(rejected) == 1
    assert read_configured_catalog(OnlineTrainConfig()) == ([], [])
