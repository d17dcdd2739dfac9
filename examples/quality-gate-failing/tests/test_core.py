import pytest

from inventory import Inventory, Item, OutOfStock


def make() -> Inventory:
    inv = Inventory()
    inv.add(Item("A-1", "bolt", 25), 100)
    inv.add(Item("B-2", "nut", 10), 40)
    return inv


def test_add_accumulates() -> None:
    inv = make()
    inv.add(Item("A-1", "bolt", 25), 5)
    assert inv.units("A-1") == 105


def test_take_reduces_stock() -> None:
    inv = make()
    assert inv.take("B-2", 15) == 25


def test_take_too_many_raises() -> None:
    with pytest.raises(OutOfStock):
        make().take("B-2", 41)


def test_value() -> None:
    assert make().value_cents() == 100 * 25 + 40 * 10


@pytest.mark.parametrize("sku,price", [("", 1), ("C-3", -1)])
def test_item_validation(sku: str, price: int) -> None:
    with pytest.raises(ValueError):
        Item(sku, "x", price)


def test_units_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Inventory().add(Item("D-4", "washer", 1), 0)
