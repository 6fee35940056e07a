"""Input checks for the HTTP routes."""

import re

SKU_PATTERN = re.compile(r"^[A-Z]{3}-\d{4,6}$")
MAX_QUANTITY = 100_000


class ValidationError(ValueError):
    """Raised when a request carries a value the service does not accept."""


def validate_sku(value: str) -> str:
    value = value.strip().upper()
    if not SKU_PATTERN.match(value):
        raise ValidationError(f"invalid SKU: {value!r}")
    return value


def validate_quantity(value: str | int) -> int:
    try:
        quantity = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"quantity must be a whole number, got {value!r}") from exc
    if not 0 <= quantity <= MAX_QUANTITY:
        raise ValidationError(f"quantity must be between 0 and {MAX_QUANTITY}")
    return quantity


def validate_page(value: str | None, default: int = 1) -> int:
    if value is None or value == "":
        return default
    page = validate_quantity(value)
    return max(page, 1)
