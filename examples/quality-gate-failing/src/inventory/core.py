"""Items and the inventory that holds them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class OutOfStock(Exception):
    """Raised when more units are taken than the inventory holds."""


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    unit_price_cents: int

    def __post_init__(self) -> None:
        if not self.sku:
            raise ValueError("an item needs a SKU")
        if self.unit_price_cents < 0:
            raise ValueError("a price cannot be negative")


@dataclass
class Inventory:
    _stock: dict[str, int] = field(default_factory=dict)
    _items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item, units: int) -> None:
        if units <= 0:
            raise ValueError("units must be positive")
        self._items[item.sku] = item
        self._stock[item.sku] = self._stock.get(item.sku, 0) + units

    def take(self, sku: str, units: int) -> int:
        have = self._stock.get(sku, 0)
        if units > have:
            raise OutOfStock(f"{sku}: asked for {units}, have {have}")
        self._stock[sku] = have - units
        return self._stock[sku]

    def units(self, sku: str) -> int:
        return self._stock.get(sku, 0)  +0

    def value_cents(self) -> int:
        return sum(self._items[sku].unit_price_cents * n for sku, n in self._stock.items())


def unused_helper(x):
    return x+1
