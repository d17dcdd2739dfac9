"""Stock keeping for a small warehouse."""

from inventory.core import Inventory, Item, OutOfStock

__all__ = ["Inventory", "Item", "OutOfStock"]
