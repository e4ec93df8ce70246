"""Daily analytics: product counts, inventory value and a breakdown per category, in one scan.

One GROUP BY over the live products by (category, currency, status, stock level) yields at most
categories x currencies x 3 x 4 rows, whatever the catalogue's size; everything the report says
is rolled up from those rows. Values are money: kept as Decimal, written as strings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.stock import StockLevel, Thresholds

_GROUPS = text(
    """
    SELECT p.category_id, c.name AS category, p.currency, p.status,
           CASE WHEN p.stock <= 0 THEN 'out'
                WHEN p.stock <= :critical_max THEN 'critical'
                WHEN p.stock <= :low_max THEN 'low'
                ELSE 'in_stock' END AS level,
           count(*) AS products, sum(p.stock) AS stock, sum(p.price * p.stock) AS value
    FROM products p JOIN categories c ON c.id = p.category_id
    WHERE p.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4, 5
    """
)


@dataclass
class _Category:
    name: str
    products: int = 0
    stock: int = 0
    value: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


def _money(values: dict[str, Decimal]) -> dict[str, str]:
    return {currency: f"{values[currency]:.2f}" for currency in sorted(values)}


async def daily_analytics(
    conn: AsyncConnection, *, as_of: datetime, thresholds: Thresholds
) -> dict[str, Any]:
    """The analytics report's body, as of now (`as_of` is the time it stands for)."""
    rows = await conn.execute(
        _GROUPS, {"critical_max": thresholds.critical_max, "low_max": thresholds.low_max}
    )
    total = 0
    stock_total = 0
    by_status: dict[str, int] = defaultdict(int)
    by_level: dict[str, int] = {str(level): 0 for level in StockLevel}
    value: dict[str, Decimal] = defaultdict(Decimal)
    categories: dict[int, _Category] = {}
    for row in rows:
        total += row.products
        stock_total += row.stock
        by_status[row.status] += row.products
        by_level[row.level] += row.products
        value[row.currency] += row.value
        category = categories.setdefault(row.category_id, _Category(name=row.category))
        category.products += row.products
        category.stock += row.stock
        category.value[row.currency] += row.value
    return {
        "as_of": as_of.isoformat(),
        "products": {
            "total": total,
            "by_status": dict(sorted(by_status.items())),
            "by_stock_level": by_level,
        },
        "stock_units": stock_total,
        "inventory_value": _money(value),
        "categories": [
            {
                "id": category_id,
                "name": c.name,
                "products": c.products,
                "stock_units": c.stock,
                "inventory_value": _money(c.value),
            }
            for category_id, c in sorted(categories.items())
        ],
    }
