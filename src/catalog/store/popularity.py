"""Popularity: a score per product from recent sales (stock taken out), recency and availability.

    sold(p)      = sum over p's stock movements with delta < 0 made up to `as_of`, on its day
                   (UTC) or the WINDOW_DAYS - 1 days before, of
                   -delta * 0.5 ** (age_in_days / HALF_LIFE_DAYS)
    age_in_days  = whole days between the movement's day and `as_of`'s day (UTC)
    popularity   = round(ln(1 + sold(p)) * availability(p), 6)
    availability = 1 when the product is in stock, OUT_OF_STOCK_FACTOR when it is not

Stock movements are the sales proxy; a unit sold today counts 1, one sold a week ago 0.5. The
logarithm keeps a few bulk movements from burying everything else. Products are scored in
batches by id, and a score is written only when it changed. Ages count in whole days, so the
day's second run (the job runs every 12 h) changes only the products sold since the first.

Scores live in `product_popularity` (a product without a row scores 0), not on `products`:
rewriting a 400-byte product row with its eleven indexes for every changed score made a run over
a million products take minutes, a 40-byte row with two indexes takes a tenth of that. The
change-log trigger of `products` does not see these writes, so each batch appends the change-log
rows itself, in the same statement, shaped as the trigger's (entity 'product', op 'update',
fields '{popularity}', stock before = after): the search index and caches learn of every changed
score as before.
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
        -- The batch's id range, one index range scan (products outside the batch, deleted
        -- ones, find no row in `batch` below).
        WHERE m.product_id > :after AND m.product_id <= (SELECT max(id) FROM batch)
          AND m.delta < 0
          AND m.created_at >= CAST(CAST(:as_of AT TIME ZONE 'UTC' AS date)
                                   - (:window_days - 1) AS timestamp) AT TIME ZONE 'UTC'
          AND m.created_at <= :as_of
        GROUP BY m.product_id
    ), scored AS (
        SELECT b.id, b.stock,
               round((ln(1 + coalesce(s.units, 0))
                      * CASE WHEN b.stock > 0 THEN 1 ELSE :out_factor END)::numeric, 6) AS score
        FROM batch b LEFT JOIN sold s ON s.product_id = b.id
    ), changed AS MATERIALIZED (
        SELECT sc.id, sc.stock, sc.score
        FROM scored sc
        LEFT JOIN product_popularity pp ON pp.product_id = sc.id AND pp.product_id > :after
        WHERE sc.score <> coalesce(pp.popularity, 0)
    ), written AS (
        INSERT INTO product_popularity AS pp (product_id, popularity)
        SELECT id, score FROM changed ORDER BY id
        ON CONFLICT (product_id) DO UPDATE SET popularity = excluded.popularity
    ), logged AS (
        INSERT INTO change_log (entity, entity_id, op, fields, stock_before, stock_after)
        SELECT 'product', id, 'update', '{popularity}', stock, stock FROM changed ORDER BY id
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
            "SELECT p.id, p.sku, p.name, pp.popularity"
            " FROM product_popularity pp JOIN products p ON p.id = pp.product_id"
            " WHERE p.deleted_at IS NULL AND pp.popularity > 0"
            " ORDER BY pp.popularity DESC, pp.product_id LIMIT :limit"
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
            "SELECT pp.product_id FROM product_popularity pp"
            " JOIN products p ON p.id = pp.product_id"
            " WHERE p.deleted_at IS NULL AND pp.popularity > 0"
            " ORDER BY pp.popularity DESC, pp.product_id LIMIT :limit"
        ),
        {"limit": limit},
    )
    return [int(product_id) for product_id in rows]
