"""`cache-cleanup`: remove cached copies of deleted products and older key versions."""

from __future__ import annotations

from catalog.cache import cleanup
from catalog.work.context import JobContext
from catalog.work.declarations import Misfire, Schedule, WorkRegistry
from catalog.work.policy import Overlap, Queue, RetryPolicy

registry = WorkRegistry()

EVERY_6_HOURS = Schedule("0 */6 * * *", tz="UTC", misfire=Misfire.RUN_ONCE)


@registry.job(
    "cache-cleanup",
    queue=Queue.CACHE,
    retry=RetryPolicy(attempts=3, backoff_s=60),  # 1 run + 2 retries
    lock="cache-cleanup",
    overlap=Overlap.SKIP,
    timeout_s=1800,
    schedule=EVERY_6_HOURS,
)
async def cache_cleanup(ctx: JobContext, *, scheduled_at: object = None) -> str:
    """Remove cache entries of deleted products and of older key versions (SCAN, not KEYS)."""
    report = await cleanup.clean(ctx.resources.cache, ctx.resources.db, check_stop=ctx.check_stop)
    await ctx.log(report.summary())
    return report.summary()
