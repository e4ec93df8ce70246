"""Popularity: a score per product from recent sales, recency and availability, every 12 h."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from catalog import report_cache
from catalog.store import popularity
from catalog.work.context import JobContext
from catalog.work.declarations import Schedule, WorkRegistry
from catalog.work.policy import Overlap, Queue, RetryPolicy

registry = WorkRegistry()

TWICE_DAILY = Schedule("0 */12 * * *", tz="UTC")  # 00:00 and 12:00 UTC


@registry.job(
    "popularity-update",
    queue=Queue.REPORTS,
    retry=RetryPolicy(attempts=3, backoff_s=60),
    lock="popularity-update",
    overlap=Overlap.SKIP,
    timeout_s=1800,
    schedule=TWICE_DAILY,
)
async def popularity_update(ctx: JobContext, *, scheduled_at: datetime | None = None) -> str:
    """Score every product (catalog.store.popularity); cache the ranking for 12 h."""
    resources = ctx.resources
    as_of = scheduled_at or datetime.now(UTC)
    run = await popularity.update_popularity(resources.db, as_of=as_of, check_stop=ctx.check_stop)
    async with resources.db.connect() as conn:
        ranking = await popularity.ranking(conn)
    body = json.dumps({"as_of": as_of.isoformat(), "items": ranking}).encode()
    await report_cache.publish_popular(resources.cache, body)
    return f"scored {run.scored} products, {run.changed} changed"
