"""The weekly inventory report: stock and value per category, the low/critical/out lists, the
week's biggest movers and the stock-out forecast, each one aggregate or index scan in SQL.

The lists are capped (LIST_LIMIT products each, with their full count beside them), so the
report stays small whatever the catalogue's size.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.stock import Thresholds

LIST_LIMIT = 1000  # products listed per stock level
MOVERS = 20  # the week's biggest movers listed
FORECAST_LIMIT = 100  # soonest predicted stock-outs listed
WEEK = timedelta(days=7)


async def _categories(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(
            """
            SELECT c.id, c.name, p.currency, count(p.id) AS products,
                   coalesce(sum(p.stock), 0) AS stock, coalesce(sum(p.price * p.stock), 0) AS value
            FROM categories c
            LEFT JOIN products p ON p.category_id = c.id AND p.deleted_at IS NULL
            GROUP BY c.id, c.name, p.currency ORDER BY c.id, p.currency
            """
        )
    )
    found: dict[int, dict[str, Any]] = {}
    values: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        entry = found.setdefault(
            row.id, {"id": row.id, "name": row.name, "products": 0, "stock_units": 0}
        )
        entry["products"] += row.products
        entry["stock_units"] += int(row.stock)
        if row.currency is not None:
            values[row.id][row.currency] = Decimal(row.value)
    for category_id, entry in found.items():
        entry["inventory_value"] = {
            currency: f"{value:.2f}" for currency, value in sorted(values[category_id].items())
        }
    return list(found.values())


async def _level_list(conn: AsyncConnection, low: int, high: int) -> dict[str, Any]:
    params = {"low": low, "high": high, "limit": LIST_LIMIT}
    count = await conn.scalar(
        text(
            "SELECT count(*) FROM products"
            " WHERE deleted_at IS NULL AND stock BETWEEN :low AND :high"
        ),
        params,
    )
    rows = await conn.execute(
        text(
            "SELECT id, sku, name, category_id, stock FROM products"
            " WHERE deleted_at IS NULL AND stock BETWEEN :low AND :high"
            " ORDER BY stock, id LIMIT :limit"
        ),
        params,
    )
    items = [
        {
            "product_id": r.id,
            "sku": r.sku,
            "name": r.name,
            "category_id": r.category_id,
            "stock": r.stock,
        }
        for r in rows
    ]
    return {"count": int(count or 0), "items": items}


async def _movers(
    conn: AsyncConnection, *, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Products with the largest net stock change of the week, by absolute size."""
    rows = await conn.execute(
        text(
            """
            WITH net AS (
                SELECT product_id, sum(delta) AS net_change, count(*) AS movements
                FROM stock_movements WHERE created_at >= :since AND created_at < :until
                GROUP BY product_id
            )
            SELECT n.product_id, p.sku, p.name, p.category_id, p.stock, n.net_change, n.movements
            FROM net n JOIN products p ON p.id = n.product_id
            WHERE p.deleted_at IS NULL AND n.net_change <> 0
            ORDER BY abs(n.net_change) DESC, n.product_id LIMIT :limit
            """
        ),
        {"since": since, "until": until, "limit": MOVERS},
    )
    return [
        {
            "product_id": r.product_id,
            "sku": r.sku,
            "name": r.name,
            "category_id": r.category_id,
            "stock": r.stock,
            "net_change": int(r.net_change),
            "movements": r.movements,
        }
        for r in rows
    ]


async def _forecast(conn: AsyncConnection, *, within_days: int, today: Any) -> dict[str, Any]:
    horizon = today + timedelta(days=within_days)
    count = await conn.scalar(
        text(
            "SELECT count(*) FROM stock_forecasts f JOIN products p ON p.id = f.product_id"
            " WHERE p.deleted_at IS NULL AND f.stockout_on <= :horizon"
        ),
        {"horizon": horizon},
    )
    rows = await conn.execute(
        text(
            """
            SELECT f.product_id, p.sku, p.name, p.stock, f.daily_demand, f.days_of_cover,
                   f.stockout_on
            FROM stock_forecasts f JOIN products p ON p.id = f.product_id
            WHERE p.deleted_at IS NULL AND f.stockout_on IS NOT NULL
            ORDER BY f.stockout_on, f.product_id LIMIT :limit
            """
        ),
        {"limit": FORECAST_LIMIT},
    )
    items = [
        {
            "product_id": r.product_id,
            "sku": r.sku,
            "name": r.name,
            "stock": r.stock,
            "daily_demand": round(r.daily_demand, 4),
            "days_of_cover": round(r.days_of_cover, 2),
            "stockout_on": r.stockout_on.isoformat(),
        }
        for r in rows
    ]
    return {"within_days": within_days, "count_within": int(count or 0), "items": items}


async def weekly_inventory(
    conn: AsyncConnection, *, as_of: datetime, thresholds: Thresholds, alert_within_days: int
) -> dict[str, Any]:
    """The weekly report's body for the week ending `as_of` (forecasts must be fresh)."""
    return {
        "as_of": as_of.isoformat(),
        "week": {"from": (as_of - WEEK).isoformat(), "to": as_of.isoformat()},
        "categories": await _categories(conn),
        "stock_levels": {
            "out": await _level_list(conn, 0, 0),
            "critical": await _level_list(conn, 1, thresholds.critical_max),
            "low": await _level_list(conn, thresholds.critical_max + 1, thresholds.low_max),
        },
        "movers": await _movers(conn, since=as_of - WEEK, until=as_of),
        "forecast": await _forecast(conn, within_days=alert_within_days, today=as_of.date()),
    }
