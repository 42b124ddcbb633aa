"""Name matching: normalisation, exact, fuzzy and sound-alike scores."""

from __future__ import annotations

from selflearn.text.matching import NameIndex, norm_name, phonetic


def test_norm_name() -> None:
    assert norm_name("The Beatles") == "beatles"
    assert norm_name("Beyoncé") == "beyonce"
    assert norm_name("AC/DC") == "ac dc"
    assert norm_name("Kid's Room") == "kids room"
    assert norm_name("R&B") == "r and b"
    assert norm_name("the") == "the"
    assert phonetic("harry potter") == "HR PTR"


def test_exact_fuzzy_phonetic() -> None:
    idx = NameIndex([("kitchen light", "a"), ("kitchen lights", "a"), ("moonlight", "b"), ("wilkerson", "c"),
                     ("wilkerson", "d"), ("front door", "e")])  # fmt: skip
    assert len(idx) == 6 and idx.keys() == ["a", "b", "c", "d", "e"]
    m = idx.match("Kitchen Light")
    assert [(x.key, x.score) for x in m] == [("a", 1.0)]
    assert [x.key for x in idx.match("wilkerson")] == ["c", "d"]  # an ambiguous name keeps both
    fuzzy = idx.match("moon light")
    assert fuzzy[0].key == "b" and 0.85 < fuzzy[0].score < 1.0
    sound = idx.match("wilkersen")
    assert {x.key for x in sound[:2]} == {"c", "d"} and sound[0].score < 1.0
    assert idx.match("garbage disposal", cutoff=0.8) == []
    assert idx.match("") == []
    assert idx.exact("FRONT DOOR") == ["e"]
