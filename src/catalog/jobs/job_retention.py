"""Journal retention: the engine's own recurring job, declared like any other."""

from __future__ import annotations

from datetime import timedelta

from catalog.work import retention
from catalog.work.context import JobContext
from catalog.work.declarations import Misfire, Schedule, WorkRegistry
from catalog.work.policy import Queue, RetryPolicy

registry = WorkRegistry()

HOURLY = Schedule("17 * * * *", misfire=Misfire.RUN_ONCE)  # past the hour, off the busy :00


@registry.job(
    "job-retention",
    queue=Queue.MAINTENANCE,
    retry=RetryPolicy(attempts=3, backoff_s=30),
    lock="job-retention",
    timeout_s=1800,
    schedule=HOURLY,
)
async def job_retention(ctx: JobContext, *, scheduled_at: object = None) -> str:
    """Delete finished jobs past retention (succeeded 24 h, failed 14 days), in batches."""
    settings = ctx.resources.settings
    pruned = await retention.prune(
        ctx.resources.work.pool,
        succeeded_after=timedelta(hours=settings.retention_succeeded_h),
        failed_after=timedelta(days=settings.retention_failed_d),
        batch_size=settings.retention_batch_size,
        check_stop=ctx.check_stop,
    )
    await ctx.log(f"pruned {pruned}")
    return str(pruned)
