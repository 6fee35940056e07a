import pytest

from textstats import flesch_kincaid_grade, flesch_reading_ease, syllable_count


@pytest.mark.parametrize(("word", "expected"), [("cat", 1), ("table", 2), ("reading", 2), ("the", 1)])
def test_syllables(word, expected):
    assert syllable_count(word) == expected


def test_simple_text_is_easy():
    assert flesch_reading_ease("The cat sat on the mat. It was happy.") > 90


def test_grade_grows_with_longer_words():
    simple = flesch_kincaid_grade("The dog ran home.")
    harder = flesch_kincaid_grade("Comprehensive documentation facilitates maintainability considerably.")
    assert harder > simple


def test_empty_text_is_rejected():
    with pytest.raises(ValueError):
        flesch_reading_ease("...")
