import pytest

from textstats import sentence_count, word_count, word_frequencies, words


def test_words_are_lower_cased_and_keep_apostrophes():
    assert words("Don't PANIC, Arthur.") == ["don't", "panic", "arthur"]


def test_sentences_are_counted_with_or_without_a_final_stop():
    assert sentence_count("One. Two! Three?") == 3
    assert sentence_count("One. Two") == 2
    assert sentence_count("   ") == 0


def test_frequencies_rank_by_count_then_alphabet():
    assert word_frequencies("to be or not to be", top=2) == [("be", 2), ("to", 2)]
    assert word_count("to be or not to be") == 6


def test_negative_top_is_rejected():
    with pytest.raises(ValueError):
        word_frequencies("a b c", top=-1)
