"""The n-gram LM: a normalised Kneser-Ney model, a well-formed ARPA file, a matching dictionary,
and a cache keyed by the inputs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from selflearn.speech.lm import (
    BOS,
    EOS,
    UNK,
    KneserNeyLM,
    build_language_model,
    derived_pronunciation,
    read_arpa,
    tokenize,
)

SENTENCES = [
    "turn on the kitchen lights",
    "turn off the kitchen lights",
    "turn on the lights in the living room",
    "play some jazz in the living room",
    "play the news",
    "what is the weather like tomorrow",
    "what is the time",
    "set an alarm for seven am",
    "set a timer for ten minutes",
    "pause the music",
]

# A tiny CMUdict-format dictionary, so the build needs no pocketsphinx.
DICT = """\
turn T ER N
on AA N
on(2) AO N
off AO F
the DH AH
the(2) DH IY
kitchen K IH CH AH N
lights L AY T S
light L AY T
in IH N
living L IH V IH NG
room R UW M
play P L EY
some S AH M
jazz JH AE Z
news N UW Z
what W AH T
is IH Z
weather W EH DH ER
like L AY K
tomorrow T AH M AA R OW
time T AY M
set S EH T
an AE N
alarm AH L AA R M
for F AO R
seven S EH V AH N
am AE M
a AH
timer T AY M ER
ten T EH N
minutes M IH N AH T S
pause P AO Z
music M Y UW Z IH K
audio AA D IY OW
book B UH K
play P L EY
list L IH S T
"""


def _vocab(model: KneserNeyLM) -> list[str]:
    return [w for w in model.vocabulary_ if w != BOS]


def _random_corpus(seed: int, n: int = 400) -> list[list[str]]:
    """Zipf-ish sentences: enough repetition for every count-of-count the modified discounts use."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)]
    weights = [1.0 / (i + 1) for i in range(40)]
    return [rng.choices(words, weights, k=rng.randint(2, 7)) for _ in range(n)]


def test_tokenize_keeps_inner_apostrophes_and_folds_accents() -> None:
    assert tokenize("dim to 25") == ["dim", "to", "twenty", "five"]
    assert tokenize("What's the time, Zoë? Set it for 7 o'clock!") == [
        "what's",
        "the",
        "time",
        "zoe",
        "set",
        "it",
        "for",
        "seven",
        "o'clock",
    ]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_conditional_distributions_sum_to_one(order: int) -> None:
    model = KneserNeyLM(order=order).fit([s.split() for s in SENTENCES])
    vocab = _vocab(model)
    histories: list[tuple[str, ...]] = [
        (),
        (BOS,),
        ("turn",),
        ("the",),
        ("zzz",),
        (BOS, "turn"),
        ("the", "kitchen"),
    ]
    histories += [("turn", "on", "the"), ("in", "the", "living")]
    for h in histories:
        total = sum(model.prob(w, h) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), (order, h)
    assert model.prob(BOS) == 0.0  # <s> is never predicted


def test_modified_discounts_with_enough_data_and_still_normalised() -> None:
    model = KneserNeyLM(order=3).fit(_random_corpus(0))
    for n in (1, 2, 3):
        d1, d2, d3 = model.discounts_[n]
        assert 0 < d1 < 1 and 0 < d2 < 2 and 0 < d3 < 3
    d1, d2, d3 = model.discounts_[3]
    assert d1 < d2 < d3  # Chen & Goodman: larger counts take larger discounts
    vocab = _vocab(model)
    rng = random.Random(1)
    for _ in range(5):
        h = tuple(rng.choice(vocab[:-1]) for _ in range(2))
        assert sum(model.prob(w, h) for w in vocab) == pytest.approx(1.0, abs=1e-9)


def test_kneser_ney_prefers_seen_continuations_and_uses_continuation_counts() -> None:
    model = KneserNeyLM(order=3).fit([s.split() for s in SENTENCES])
    # seen trigram beats the same word backed off from an unseen history
    assert model.prob("lights", ("the", "kitchen")) > model.prob("lights", ("the", "news"))
    # "the" follows many different words, "kitchen" only "the": continuation counts rank them so
    assert model.prob("the") > model.prob("kitchen")
    # every word of the vocabulary keeps some probability after any history
    assert min(model.prob(w, ("set", "an")) for w in _vocab(model)) > 0.0


def test_arpa_header_counts_match_sections_and_probabilities_round_trip(tmp_path: Path) -> None:
    model = KneserNeyLM(order=3).fit([s.split() for s in SENTENCES])
    path = tmp_path / "m.arpa"
    path.write_text(model.to_arpa(), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("\\data\\") and text.rstrip().endswith("\\end\\")

    # count the section lines independently of read_arpa
    sections: dict[int, int] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("\\") and line.endswith("-grams:"):
            current = int(line[1])
            sections[current] = 0
        elif line.startswith("\\end"):
            current = None
        elif current is not None and line.strip():
            sections[current] += 1
    header = {
        int(line[6]): int(line.split("=")[1]) for line in text.splitlines() if line.startswith("ngram ")
    }
    assert header == sections
    assert header[1] == len(model.vocabulary_)  # every word, <s> and </s> included
    assert header[3] == len(model.prob_[3])

    arpa = read_arpa(path)
    assert arpa.order == 3
    assert arpa.logprob[1][(BOS,)] == -99.0 and (BOS,) in arpa.backoff
    vocab = [w for w in arpa.vocabulary if w != BOS]
    for h in [(), (BOS,), ("turn",), ("the", "kitchen"), ("play", "the"), ("xyz", "abc")]:
        assert sum(arpa.prob(w, h) for w in vocab) == pytest.approx(1.0, abs=1e-4), h
        for w in ("lights", EOS, "the"):
            assert arpa.prob(w, h) == pytest.approx(model.prob(w, h), rel=1e-4)


def test_backoff_weights_are_sane(tmp_path: Path) -> None:
    model = KneserNeyLM(order=3).fit(_random_corpus(2))
    path = tmp_path / "m.arpa"
    path.write_text(model.to_arpa(), encoding="utf-8")
    arpa = read_arpa(path)
    # a weight is in (0, 1]: the backed-off mass is a real, non-empty share of the history's mass
    assert arpa.backoff and all(-10.0 < b <= 1e-9 for b in arpa.backoff.values())
    # only histories have weights: no entry for </s> or the top order
    assert all(len(g) < 3 and g != (EOS,) for g in arpa.backoff)
    # every n-gram's history and suffix are listed, as ARPA readers require
    for n in (2, 3):
        for g in arpa.logprob[n]:
            assert g[:-1] in arpa.logprob[n - 1] and g[1:] in arpa.logprob[n - 1]


def test_unlisted_word_gets_backoff_weight_times_lower_order(tmp_path: Path) -> None:
    model = KneserNeyLM(order=2).fit([s.split() for s in SENTENCES])
    path = tmp_path / "m.arpa"
    path.write_text(model.to_arpa(), encoding="utf-8")
    arpa = read_arpa(path)
    assert ("pause", "jazz") not in arpa.logprob[2]
    expected = 10 ** (arpa.backoff[("pause",)] + arpa.logprob[1][("jazz",)])
    assert arpa.prob("jazz", ("pause",)) == pytest.approx(expected)


def test_fit_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="no sentences"):
        KneserNeyLM().fit([[], []])


def test_derived_pronunciations_only_from_dictionary_words() -> None:
    prons = {"audio": ("AA D IY OW",), "book": ("B UH K",), "box": ("B AA K S",), "cat": ("K AE T",)}
    assert derived_pronunciation("audiobook", prons) == "AA D IY OW B UH K"
    assert derived_pronunciation("audiobooks", prons) == "AA D IY OW B UH K S"
    assert derived_pronunciation("boxes", prons) == "B AA K S IH Z"
    assert derived_pronunciation("cat's", prons) == "K AE T S"
    assert derived_pronunciation("xyzzy", prons) is None


def test_build_writes_matching_dictionary_maps_oov_and_caches(tmp_path: Path) -> None:
    dict_file = tmp_path / "tiny.dict"
    dict_file.write_text(DICT, encoding="utf-8")
    sents = [*SENTENCES, "play my audiobook playlist", "play zyxxy"]
    lm = build_language_model(sents, cache_dir=tmp_path / "cache", dictionary=dict_file)
    assert lm.arpa_path.exists() and lm.dict_path.exists()
    assert "zyxxy" in lm.oov_words and "my" in lm.oov_words
    assert "audiobook" not in lm.oov_words  # compound of dictionary words
    arpa = read_arpa(lm.arpa_path)
    words = {w for w in arpa.vocabulary if w not in (BOS, EOS, UNK)}
    assert UNK in arpa.vocabulary and "zyxxy" not in arpa.vocabulary
    entries = [line.split()[0] for line in lm.dict_path.read_text(encoding="utf-8").splitlines()]
    heads = {e.split("(")[0] for e in entries}
    assert heads == words  # exactly the LM's words, no more, no fewer
    assert "on(2)" in entries and "the(2)" in entries  # pronunciation variants kept

    again = build_language_model(list(reversed(sents)), cache_dir=tmp_path / "cache", dictionary=dict_file)
    assert again == lm  # same multiset of sentences -> same key, served from the cache
    other = build_language_model(SENTENCES, cache_dir=tmp_path / "cache", dictionary=dict_file)
    assert other.key != lm.key and other.arpa_path != lm.arpa_path
    assert ("audiobook",) not in read_arpa(other.arpa_path).logprob[1]


def test_build_with_bundled_cmudict(tmp_path: Path) -> None:
    pytest.importorskip("pocketsphinx")
    lm = build_language_model(["turn on the lights", "play some jazz"], cache_dir=tmp_path)
    text = lm.dict_path.read_text(encoding="utf-8")
    assert "\nlights L AY T S\n" in f"\n{text}" and lm.oov_words == ()
