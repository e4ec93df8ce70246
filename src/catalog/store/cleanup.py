"""Monthly cleanup: delete what is older than the retention, in small batches, kind by kind.

Each batch is its own short transaction deleting at most `batch_size` rows picked by an index,
so no API write waits long on a lock the cleanup holds, and a stop between batches loses
nothing. Counts come back per kind.

    soft-deleted products  deleted (soft) before the cutoff; their movements, alerts and forecast
                           go with them (ON DELETE CASCADE); the change log records a purge for
                           every consumer (search dropped them at the soft delete already)
    change log             rows written before the cutoff that every consumer's cursor has passed
    stock movements        written before the cutoff
    resolved alerts        resolved before the cutoff
    daily reports          daily analytics of a day before the cutoff; a month's first-day
                           report (period 'monthly') and weekly reports are kept
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog.store import changelog

RETENTION = timedelta(days=90)
BATCH_SIZE = 1000

# One bounded batch per statement: `:cutoff` and `:batch_size` bound, the rest constant.
_BATCHES: dict[str, str] = {
    "stock_movements": """
        DELETE FROM stock_movements WHERE id IN (
            SELECT id FROM stock_movements WHERE created_at < :cutoff
            ORDER BY created_at LIMIT :batch_size)
    """,
    "products": """
        DELETE FROM products WHERE id IN (
            SELECT id FROM products WHERE deleted_at < :cutoff
            ORDER BY deleted_at LIMIT :batch_size FOR UPDATE SKIP LOCKED)
    """,
    "resolved_alerts": """
        DELETE FROM inventory_alerts WHERE id IN (
            SELECT id FROM inventory_alerts WHERE resolved_at < :cutoff
            ORDER BY resolved_at LIMIT :batch_size)
    """,
    "daily_reports": """
        DELETE FROM reports WHERE id IN (
            SELECT id FROM reports WHERE kind = 'daily-analytics' AND period = 'daily'
              AND period_start < CAST(:cutoff AS date)
            ORDER BY id LIMIT :batch_size)
    """,
}


async def _drain(
    conn: AsyncConnection, delete: Callable[[], Awaitable[int]], check_stop: Callable[[], None]
) -> int:
    """Run `delete` (one batch) in its own transaction until it deletes nothing; the total."""
    total = 0
    while True:
        check_stop()
        async with conn.begin():
            deleted = await delete()
        total += deleted
        if deleted == 0:
            return total


async def clean_up(
    db: AsyncEngine,
    *,
    as_of: datetime,
    retention: timedelta = RETENTION,
    batch_size: int = BATCH_SIZE,
    check_stop: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Delete everything past `retention` at `as_of`, `batch_size` rows at a time; the counts."""
    params = {"cutoff": as_of - retention, "batch_size": batch_size}
    counts: dict[str, int] = {}
    async with db.connect() as conn:

        def batch_of(sql: str) -> Callable[[], Awaitable[int]]:
            async def delete() -> int:
                return int((await conn.execute(text(sql), params)).rowcount)

            return delete

        async def prune() -> int:
            return await changelog.prune_change_log(
                conn, older_than=as_of - retention, batch_size=batch_size
            )

        for kind, sql in _BATCHES.items():
            counts[kind] = await _drain(conn, batch_of(sql), check_stop)
        counts["change_log"] = await _drain(conn, prune, check_stop)
    return counts
