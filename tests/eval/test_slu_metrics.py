from __future__ import annotations

import pytest

from selflearn.eval.slu_metrics import char_distance, slu_f1, word_distance


def test_identical_entities_score_one() -> None:
    gold = [[("date", "monday"), ("time", "seven am")], [("place_name", "paris")]]
    out = slu_f1(gold, gold)
    for name in ("slu", "word", "char", "span"):
        assert out[f"{name}_f1"] == 1.0
        assert out[f"{name}_precision"] == 1.0 and out[f"{name}_recall"] == 1.0


def test_type_mismatch_scores_zero() -> None:
    out = slu_f1([[("date", "monday")]], [[("time", "monday")]])
    # Same value, other type: no match by type, so one FP and one FN in every metric.
    assert out["slu_f1"] == out["word_f1"] == out["char_f1"] == out["span_f1"] == 0.0


def test_one_wrong_character_gets_partial_credit() -> None:
    out = slu_f1([[("date", "monday")]], [[("date", "mondax")]])
    # word: 1 of 1 words substituted, d=1: TP=1, FP=FN=1 -> P=R=1/2, F1=1/2
    assert out["word_f1"] == pytest.approx(0.5)
    # char: 1 edit over 6 chars, d=1/6: TP=1, FP=FN=1/6 -> P=R=6/7
    assert out["char_f1"] == pytest.approx(6 / 7)
    # SLU: summed counts TP=2, FP=FN=7/6 -> P=R=F1=2/(2+7/6)=12/19
    assert out["slu_f1"] == pytest.approx(12 / 19)
    assert out["slu_precision"] == pytest.approx(12 / 19) and out["slu_recall"] == pytest.approx(12 / 19)
    assert 0.0 < out["slu_f1"] < 1.0
    assert out["span_f1"] == 0.0  # exact match gives no credit


def test_multi_word_value_partial_credit() -> None:
    out = slu_f1([[("time", "seven am")]], [[("time", "seven pm")]])
    # word: 1 of 2 words wrong, d=1/2 -> F1 = 1/(1+1/2) = 2/3
    assert out["word_f1"] == pytest.approx(2 / 3)
    # char: 1 edit over 8 chars, d=1/8 -> F1 = 8/9
    assert out["char_f1"] == pytest.approx(8 / 9)
    # SLU: TP=2, FP=FN=5/8 -> F1 = 2/(2+5/8) = 16/21
    assert out["slu_f1"] == pytest.approx(16 / 21)


def test_matches_nearest_gold_of_the_type_and_counts_leftovers() -> None:
    gold = [[("place", "paris"), ("place", "london")]]
    pred = [[("place", "londn"), ("date", "today")]]
    out = slu_f1(gold, pred)
    # char: "londn" pairs with "london" (d=1/6, "paris" is farther); "today" is an FP; "paris" an FN.
    # TP=1, FP=1/6+1=7/6, FN=1/6+1=7/6 -> P=R=F1=6/13
    assert out["char_f1"] == pytest.approx(6 / 13)
    # word: both golds at d=1, the first ("paris") is taken: TP=1, FP=2, FN=2 -> F1=1/3
    assert out["word_f1"] == pytest.approx(1 / 3)
    # SLU: TP=2, FP=FN=19/6 -> F1 = 2/(2+19/6) = 12/31
    assert out["slu_f1"] == pytest.approx(12 / 31)
    assert out["span_f1"] == 0.0


def test_missing_and_extra_entities_use_toolkit_precision_recall() -> None:
    out = slu_f1([[("date", "monday"), ("time", "noon")]], [[("date", "monday")]])
    # One exact match, one missed: P=1, R=1/2, F1=2/3 in every metric.
    for name in ("slu", "word", "char", "span"):
        assert out[f"{name}_precision"] == 1.0
        assert out[f"{name}_recall"] == pytest.approx(0.5)
        assert out[f"{name}_f1"] == pytest.approx(2 / 3)
    only_pred = slu_f1([[]], [[("date", "monday")]])
    assert only_pred["slu_f1"] == 0.0 and only_pred["slu_precision"] == 0.0
    assert only_pred["slu_recall"] == 0.0  # the toolkit's 0 where TP+FN = 0


def test_empty_gold_and_empty_pred() -> None:
    # Nothing to find and nothing found: 1.0 by this module's documented convention.
    assert slu_f1([], []) == slu_f1([[], []], [[], []])
    out = slu_f1([[], []], [[], []])
    assert set(out) == {
        f"{n}_{m}" for n in ("slu", "word", "char", "span") for m in ("f1", "precision", "recall")
    }
    assert all(v == 1.0 for v in out.values())


def test_misaligned_corpora_are_rejected() -> None:
    with pytest.raises(ValueError):
        slu_f1([[]], [])


def test_distances() -> None:
    assert word_distance("seven am", "seven pm") == 0.5
    assert word_distance("x", "a b c") == 3.0  # WER, uncapped as in the toolkit
    assert word_distance("", "") == 0.0 and word_distance("", "a") == 1.0
    assert char_distance("monday", "mondax") == pytest.approx(1 / 6)
    assert char_distance("", "") == 0.0 and char_distance("ab", "") == 1.0
