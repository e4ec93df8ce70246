"""Stock-out forecast: daily demand by simple exponential smoothing, days of cover, stock-out day.

Demand on a day is the units taken out of stock that day (the movements with delta < 0; restocks
are not demand). Over the WINDOW_DAYS complete days before `as_of` (x_0 oldest .. x_T yesterday,
days without movements being 0), simple exponential smoothing with factor ALPHA,

    level_0 = x_0,   level_t = ALPHA * x_t + (1 - ALPHA) * level_(t-1)

gives the forecast daily demand level_T. Unrolled, it is a weighted sum,

    level_T = (1 - ALPHA)**T * x_0 + sum_(t=1..T) ALPHA * (1 - ALPHA)**(T - t) * x_t

whose weights add up to 1, so the database computes it in one aggregate over the movements
(`_DEMAND`); `smooth` is the recurrence in Python, the reference the tests hold the SQL to.

    days_of_cover = stock / demand                (none when demand is 0: no stock-out predicted)
    stockout_on   = as_of's date + ceil(days_of_cover)

ALPHA = 0.3 weighs the last week about 92 %: it follows a change of pace within days, yet one
unusual day moves the forecast by under a third of its size.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog.domain.stock import Thresholds
from catalog.store.alerts import Alert, alert_of

ALPHA = 0.3
WINDOW_DAYS = 28
BATCH_SIZE = 2_000  # rows written per transaction: short, so no reader waits long on it


def smooth(series: Sequence[float], *, alpha: float = ALPHA) -> float:
    """The smoothed level after the last value of `series` (oldest first); 0 for no values."""
    if not series:
        return 0.0
    level = float(series[0])
    for value in series[1:]:
        level = alpha * value + (1 - alpha) * level
    return level


@dataclass(frozen=True)
class Forecast:
    daily_demand: float
    days_of_cover: float | None  # None: no demand, no stock-out in sight
    stockout_on: date | None


def forecast(stock: int, daily_demand: float, *, today: date) -> Forecast:
    """Days of cover and the stock-out day of `stock` at `daily_demand` units a day."""
    if daily_demand <= 0:
        return Forecast(daily_demand=0.0, days_of_cover=None, stockout_on=None)
    cover = stock / daily_demand
    return Forecast(
        daily_demand=daily_demand,
        days_of_cover=cover,
        stockout_on=today + timedelta(days=math.ceil(cover - 1e-9)),
    )


# Window days: d_T = the day before `today`, d_0 = d_T - (WINDOW_DAYS - 1); `t` is a day's index.
_DEMAND = """
    SELECT m.product_id,
           sum(-m.delta * CASE WHEN d.t = 0 THEN power(1 - :alpha, :last_t)
                               ELSE :alpha * power(1 - :alpha, :last_t - d.t) END) AS demand
    FROM stock_movements m
    CROSS JOIN LATERAL (
        SELECT (CAST(m.created_at AT TIME ZONE 'UTC' AS date) - CAST(:first_day AS date)) AS t
    ) AS d
    WHERE m.delta < 0 AND {scope}
      AND m.created_at >= CAST(:first_day AS timestamp) AT TIME ZONE 'UTC'
      AND m.created_at < CAST(:today AS timestamp) AT TIME ZONE 'UTC'
    GROUP BY m.product_id
"""


def _window(today: date) -> dict[str, object]:
    return {
        "alpha": ALPHA,
        "last_t": WINDOW_DAYS - 1,
        "first_day": today - timedelta(days=WINDOW_DAYS),
        "today": today,
    }


async def product_forecast(
    conn: AsyncConnection, product_id: int, *, stock: int, today: date
) -> Forecast:
    """One product's forecast at `stock`, computed now from its movements."""
    return (await product_forecasts(conn, {product_id: stock}, today=today))[product_id]


async def product_forecasts(
    conn: AsyncConnection, stocks: Mapping[int, int], *, today: date
) -> dict[int, Forecast]:
    """The forecast of each product in `stocks` (id -> stock), in one query over movements."""
    rows = await conn.execute(
        # Only constant SQL is spliced in; values are bound.
        text(_DEMAND.format(scope="m.product_id = ANY(:ids)")),
        {**_window(today), "ids": list(stocks)},
    )
    demand = {row.product_id: float(row.demand or 0.0) for row in rows}
    return {
        product_id: forecast(stock, demand.get(product_id, 0.0), today=today)
        for product_id, stock in stocks.items()
    }


_UPDATE_BATCH = text(  # constant SQL spliced in, values bound
    """
    WITH batch AS (
        SELECT id, stock FROM products
        WHERE id > :after AND deleted_at IS NULL ORDER BY id LIMIT :batch_size
    ), demand AS ({demand}
    ), computed AS (
        SELECT b.id AS product_id, d.demand, b.stock::float8 / d.demand AS cover
        FROM batch b JOIN demand d ON d.product_id = b.id WHERE d.demand > 0
    ), upserted AS (
        INSERT INTO stock_forecasts (product_id, daily_demand, days_of_cover, stockout_on,
                                     computed_at)
        SELECT product_id, demand, cover,
               CAST(:today AS date) + CAST(ceil(cover - 1e-9) AS integer), now()
        FROM computed
        ON CONFLICT (product_id) DO UPDATE
        SET daily_demand = excluded.daily_demand, days_of_cover = excluded.days_of_cover,
            stockout_on = excluded.stockout_on, computed_at = excluded.computed_at
        RETURNING product_id
    ), dropped AS (
        DELETE FROM stock_forecasts f
        WHERE f.product_id > :after AND f.product_id <= (SELECT max(id) FROM batch)
          AND f.product_id NOT IN (SELECT product_id FROM computed)
        RETURNING f.product_id
    )
    SELECT (SELECT max(id) FROM batch) AS last_id, (SELECT count(*) FROM upserted) AS forecast,
           (SELECT count(*) FROM dropped) AS dropped
    """.format(demand=_DEMAND.format(scope="m.product_id IN (SELECT id FROM batch)"))  # noqa: S608
)


@dataclass(frozen=True)
class ForecastRun:
    forecast: int  # products with demand, forecast stored
    alerts_raised: list[Alert]
    alerts_resolved: int


async def update_forecasts(
    db: AsyncEngine,
    *,
    today: date,
    alert_within_days: int,
    thresholds: Thresholds,
    on_raised: Callable[[AsyncConnection, list[Alert]], Awaitable[None]] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ForecastRun:
    """Recompute every live product's forecast in batches, then raise or resolve the
    stock-out alerts: one per product per predicted stock-out day inside the window."""
    after, count = 0, 0
    async with db.connect() as conn:
        while True:
            async with conn.begin():
                row = (
                    await conn.execute(
                        _UPDATE_BATCH, {**_window(today), "after": after, "batch_size": batch_size}
                    )
                ).one()
            if row.last_id is None:
                break
            after, count = row.last_id, count + row.forecast
        async with conn.begin():
            raised, resolved = await _sync_alerts(
                conn, horizon=today + timedelta(days=alert_within_days), thresholds=thresholds
            )
            if raised and on_raised is not None:
                await on_raised(conn, raised)
    return ForecastRun(forecast=count, alerts_raised=raised, alerts_resolved=resolved)


async def _sync_alerts(
    conn: AsyncConnection, *, horizon: date, thresholds: Thresholds
) -> tuple[list[Alert], int]:
    """Open forecast alerts equal to the predictions due by `horizon`: resolve the others,
    raise the missing ones."""
    resolved = await conn.execute(
        text(
            """
            UPDATE inventory_alerts a SET resolved_at = now()
            WHERE a.kind = 'forecast' AND a.resolved_at IS NULL AND NOT EXISTS (
                SELECT 1 FROM stock_forecasts f JOIN products p ON p.id = f.product_id
                WHERE f.product_id = a.product_id AND f.stockout_on = a.stockout_on
                  AND f.stockout_on <= :horizon AND p.deleted_at IS NULL AND p.stock > 0)
            """
        ),
        {"horizon": horizon},
    )
    raised = await conn.execute(
        text(
            """
            INSERT INTO inventory_alerts (product_id, kind, level, stock, stockout_on)
            SELECT f.product_id, 'forecast',
                   CASE WHEN p.stock <= :critical_max THEN 'critical'
                        WHEN p.stock <= :low_max THEN 'low' ELSE 'in_stock' END,
                   p.stock, f.stockout_on
            FROM stock_forecasts f JOIN products p ON p.id = f.product_id
            WHERE f.stockout_on <= :horizon AND p.deleted_at IS NULL AND p.stock > 0
              AND NOT EXISTS (SELECT 1 FROM inventory_alerts a WHERE a.product_id = f.product_id
                              AND a.kind = 'forecast' AND a.resolved_at IS NULL)
            ORDER BY f.product_id
            ON CONFLICT DO NOTHING
            RETURNING id, product_id, kind, level, previous_level, stock, stockout_on,
                      raised_at, resolved_at
            """
        ),
        {
            "horizon": horizon,
            "critical_max": thresholds.critical_max,
            "low_max": thresholds.low_max,
        },
    )
    return sorted((alert_of(r) for r in raised), key=lambda a: a.product_id), resolved.rowcount
