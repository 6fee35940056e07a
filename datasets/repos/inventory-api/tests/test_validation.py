import pytest

from inventory.validation import ValidationError, validate_page, validate_quantity, validate_sku


def test_sku_is_normalized():
    assert validate_sku(" abc-1234 ") == "ABC-1234"


def test_bad_sku_is_rejected():
    with pytest.raises(ValidationError):
        validate_sku("ABC1234")


@pytest.mark.parametrize("value, expected", [("0", 0), (12, 12), ("100000", 100_000)])
def test_quantity_accepts_whole_numbers(value, expected):
    assert validate_quantity(value) == expected


@pytest.mark.parametrize("value", ["-1", "1.5", "many", None, "100001"])
def test_quantity_rejects_everything_else(value):
    with pytest.raises(ValidationError):
        validate_quantity(value)


def test_page_defaults_to_first():
    assert validate_page(None) == 1
    assert validate_page("") == 1
    assert validate_page("0") == 1
