"""Popularity: a score per product from recent sales (stock taken out), recency and availability.

    sold(p)      = sum over p's stock movements with delta < 0 made up to `as_of`, on its day
                   (UTC) or the WINDOW_DAYS - 1 days before, of
                   -delta * 0.5 ** (age_in_days / HALF_LIFE_DAYS)
    age_in_days  = whole days between the movement's day and `as_of`'s day (UTC)
    popularity   = round(ln(1 + sold(p)) * availability(p), 6)
    availability = 1 when the product is in stock, OUT_OF_STOCK_FACTOR when it is not

Stock movements are the sales proxy; a unit sold today counts 1, one sold a week ago 0.5. The
logarithm keeps a few bulk movements from burying everything else. Products are scored in
batches by id, and a row is written only when its score changed. Ages count in whole days, so
the day's second run (the job runs every 12 h) changes only the products sold since the first:
each changed score is a write to `products`, a change-log row and a search reindex.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

WINDOW_DAYS = 30
HALF_LIFE_DAYS = 7.0
OUT_OF_STOCK_FACTOR = 0.5
BATCH_SIZE = 2_000  # rows written per transaction: short, so no reader waits long on it
RANKING_SIZE = 100  # the "popular products" list kept with the run

_SCORE_BATCH = text(
    """
    WITH batch AS (
        SELECT id, stock FROM products
        WHERE id > :after AND deleted_at IS NULL ORDER BY id LIMIT :batch_size
    ), sold AS (
        SELECT m.product_id,
               sum(-m.delta * power(0.5, (CAST(:as_of AT TIME ZONE 'UTC' AS date)
                   - CAST(m.created_at AT TIME ZONE 'UTC' AS date)) / :half_life)) AS units
        FROM stock_movements m
        WHERE m.product_id IN (SELECT id FROM batch) AND m.delta < 0
          AND m.created_at >= CAST(CAST(:as_of AT TIME ZONE 'UTC' AS date)
                                   - (:window_days - 1) AS timestamp) AT TIME ZONE 'UTC'
          AND m.created_at <= :as_of
        GROUP BY m.product_id
    ), scored AS (
        SELECT b.id,
               round((ln(1 + coalesce(s.units, 0))
                      * CASE WHEN b.stock > 0 THEN 1 ELSE :out_factor END)::numeric, 6) AS score
        FROM batch b LEFT JOIN sold s ON s.product_id = b.id
    ), changed AS (
        UPDATE products p SET popularity = sc.score
        FROM scored sc WHERE p.id = sc.id AND p.popularity <> sc.score
        RETURNING p.id
    )
    SELECT (SELECT max(id) FROM batch) AS last_id, (SELECT count(*) FROM batch) AS scored,
           (SELECT count(*) FROM changed) AS changed
    """
)


@dataclass(frozen=True)
class PopularityRun:
    scored: int  # live products scored
    changed: int  # whose score changed (rows written)


async def update_popularity(
    db: AsyncEngine,
    *,
    as_of: datetime,
    batch_size: int = BATCH_SIZE,
    check_stop: Callable[[], None] = lambda: None,
) -> PopularityRun:
    """Score every live product as of `as_of`, one committed batch at a time."""
    after, scored, changed = 0, 0, 0
    async with db.connect() as conn:
        while True:
            check_stop()
            async with conn.begin():
                row = (
                    await conn.execute(
                        _SCORE_BATCH,
                        {
                            "after": after,
                            "batch_size": batch_size,
                            "as_of": as_of,
                            "half_life": HALF_LIFE_DAYS,
                            "window_days": WINDOW_DAYS,
                            "out_factor": OUT_OF_STOCK_FACTOR,
                        },
                    )
                ).one()
            if row.last_id is None:
                return PopularityRun(scored=scored, changed=changed)
            after, scored, changed = row.last_id, scored + row.scored, changed + row.changed


async def ranking(conn: AsyncConnection, *, limit: int = RANKING_SIZE) -> list[dict[str, Any]]:
    """The most popular live products, best first (ties by id)."""
    rows = await conn.execute(
        text(
            "SELECT id, sku, name, popularity FROM products"
            " WHERE deleted_at IS NULL AND popularity > 0"
            " ORDER BY popularity DESC, id LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [
        {"id": r.id, "sku": r.sku, "name": r.name, "popularity": str(r.popularity)} for r in rows
    ]


async def most_popular_ids(conn: AsyncConnection, *, limit: int) -> list[int]:
    """The ids of the `limit` most popular live products, best first (ties by id).

    Products never sold (popularity 0) are not popular and are left out, as in `ranking`.
    """
    rows = await conn.scalars(
        text(
            "SELECT id FROM products WHERE deleted_at IS NULL AND popularity > 0"
            " ORDER BY popularity DESC, id LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [int(product_id) for product_id in rows]
