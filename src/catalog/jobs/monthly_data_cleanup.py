"""Monthly cleanup of what is older than 90 days, in bounded batches."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from catalog.store import cleanup
from catalog.work.context import JobContext
from catalog.work.declarations import Schedule, WorkRegistry
from catalog.work.policy import TWO_RETRIES, Overlap, Queue

registry = WorkRegistry()

MONTHLY = Schedule("0 3 1 * *", tz="UTC")  # the 1st of every month, 03:00 UTC


@registry.job(
    "monthly-data-cleanup",
    queue=Queue.MAINTENANCE,
    retry=TWO_RETRIES,
    lock="monthly-data-cleanup",
    overlap=Overlap.SKIP,
    timeout_s=3600,
    schedule=MONTHLY,
)
async def monthly_data_cleanup(ctx: JobContext, *, scheduled_at: datetime | None = None) -> str:
    """Delete soft-deleted products, consumed change log, movements, resolved alerts, daily
    reports older than 90 days; counts per kind."""
    as_of = scheduled_at or datetime.now(UTC)
    counts = await cleanup.clean_up(ctx.resources.db, as_of=as_of, check_stop=ctx.check_stop)
    await ctx.log("deleted " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return json.dumps(counts)
