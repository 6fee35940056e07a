"""Data types shared by the routes and the database layer."""

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    quantity: int
    price: Decimal

    @property
    def in_stock(self) -> bool:
        return self.quantity > 0


@dataclass
class Order:
    customer: str
    lines: list[dict] = field(default_factory=list)

    def add(self, item: Item, quantity: int) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.lines.append({"sku": item.sku, "quantity": quantity, "unit_price": item.price})

    def skus(self) -> list[str]:
        return [line["sku"] for line in self.lines]
