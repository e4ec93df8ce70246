"""Stock levels: the thresholds every part of the service agrees on."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

CRITICAL_MAX = 5  # stock <= 5 is critical
LOW_MAX = 10  # stock <= 10 is low


class StockLevel(StrEnum):
    OUT = "out"  # stock == 0
    CRITICAL = "critical"  # 1..5
    LOW = "low"  # 6..10
    IN_STOCK = "in_stock"  # > 10


def level_of(stock: int) -> StockLevel:
    if stock <= 0:
        return StockLevel.OUT
    if stock <= CRITICAL_MAX:
        return StockLevel.CRITICAL
    if stock <= LOW_MAX:
        return StockLevel.LOW
    return StockLevel.IN_STOCK


def stock_bounds(level: StockLevel) -> tuple[int, int | None]:
    """The inclusive range of stock values of `level`; None means unbounded."""
    return {
        StockLevel.OUT: (0, 0),
        StockLevel.CRITICAL: (1, CRITICAL_MAX),
        StockLevel.LOW: (CRITICAL_MAX + 1, LOW_MAX),
        StockLevel.IN_STOCK: (LOW_MAX + 1, None),
    }[level]


@dataclass(frozen=True)
class Thresholds:
    """Where low and critical end, as the inventory monitor is configured (settings)."""

    critical_max: int = CRITICAL_MAX
    low_max: int = LOW_MAX

    def level_of(self, stock: int) -> StockLevel:
        if stock <= 0:
            return StockLevel.OUT
        if stock <= self.critical_max:
            return StockLevel.CRITICAL
        if stock <= self.low_max:
            return StockLevel.LOW
        return StockLevel.IN_STOCK


# Alerts at these levels are sent (webhook, e-mail), not only stored and logged.
URGENT_LEVELS = frozenset({StockLevel.CRITICAL, StockLevel.OUT})
