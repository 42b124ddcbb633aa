"""The media catalog: size, unique ids, ambiguous titles, deterministic default readings."""

from __future__ import annotations

from collections import defaultdict

from selflearn.home.catalog import MediaType, default_catalog
from selflearn.text.matching import norm_name

CAT = default_catalog()


def test_size_and_unique_ids() -> None:
    assert len(CAT.items) >= 150
    assert len(CAT.by_id) == len(CAT.items)
    counts = {t: sum(it.type is t for it in CAT.items) for t in MediaType}
    assert counts[MediaType.SONG] >= 60 and counts[MediaType.MOVIE] >= 30
    assert (
        counts[MediaType.AUDIOBOOK] >= 15
        and counts[MediaType.PODCAST] >= 10
        and counts[MediaType.ALBUM] >= 10
    )
    assert all(it.artist and it.genre for it in CAT.items if it.type is MediaType.SONG)


def test_ambiguous_titles_exist_in_several_types() -> None:
    by_title: dict[str, set[MediaType]] = defaultdict(set)
    for it in CAT.items:
        for s in (it.title, *it.aliases):
            by_title[norm_name(s)].add(it.type)
    assert by_title["harry potter"] == {MediaType.MOVIE, MediaType.AUDIOBOOK}
    assert by_title["hunger games"] == {MediaType.MOVIE, MediaType.AUDIOBOOK}
    assert by_title["dune"] == {MediaType.MOVIE, MediaType.AUDIOBOOK, MediaType.ALBUM}
    assert by_title["thriller"] == {MediaType.SONG, MediaType.ALBUM}
    assert sum(len(v) > 1 for v in by_title.values()) >= 20


def test_find_orders_ties_by_popularity_and_filters_by_type() -> None:
    hp = CAT.find("harry potter")
    assert [m.key for m in hp[:2]] == ["movie:harry_potter", "audiobook:harry_potter"]
    assert hp[0].score == hp[1].score == 1.0
    assert CAT.find("Harry Potter", "audiobook")[0].key == "audiobook:harry_potter"
    assert CAT.find("dune", "album")[0].key == "album:dune"
    assert CAT.find("hary poter")[0].key == "movie:harry_potter"
    assert CAT.find("hary poter")[0].score < 1.0
    assert CAT.find("zzzz qqqq") == []


def test_artists_genres_songs() -> None:
    assert CAT.artists["beatles"] == "The Beatles" and CAT.artists["beyonce"] == "Beyoncé"
    assert {"pop", "rock", "jazz", "classical", "country", "hip hop", "rnb"} <= set(CAT.genres)
    assert CAT.genre_index.match("rap")[0].key == "hip hop"
    songs = CAT.songs(artist="beatles")
    assert {s.title for s in songs} == {"Yesterday", "Let It Be", "Hey Jude"}
    assert [s.popularity for s in songs] == sorted((s.popularity for s in songs), reverse=True)
    assert all(s.genre == "jazz" for s in CAT.songs(genre="jazz"))
