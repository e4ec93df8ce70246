"""Daily analytics: counts, inventory value and per-category figures, stored as a report."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog import report_cache
from catalog.jobs.inventory_monitoring import thresholds_of
from catalog.store import analytics, reports
from catalog.work.context import JobContext
from catalog.work.declarations import Schedule, WorkRegistry
from catalog.work.policy import Overlap, Queue, RetryPolicy

registry = WorkRegistry()

DAILY = Schedule("0 2 * * *", tz="UTC")  # every day at 02:00 UTC


@registry.job(
    "daily-analytics",
    queue=Queue.REPORTS,
    retry=RetryPolicy(attempts=3, backoff_s=60),
    lock="daily-analytics",
    overlap=Overlap.SKIP,  # a trigger while it runs answers with the running one
    timeout_s=900,
    schedule=DAILY,
)
async def daily_analytics(ctx: JobContext, *, scheduled_at: datetime | None = None) -> str:
    """Product counts, inventory value and a breakdown per category, stored as a report."""
    resources = ctx.resources
    as_of = scheduled_at or datetime.now(UTC)
    thresholds = thresholds_of(resources.settings)
    async with resources.db.begin() as conn:
        body = await analytics.daily_analytics(conn, as_of=as_of, thresholds=thresholds)
        report = await reports.save_report(
            conn,
            reports.ReportKind.DAILY_ANALYTICS,
            period=reports.Period.MONTHLY if as_of.day == 1 else reports.Period.DAILY,
            period_start=as_of.date(),
            body=body,
        )
    await report_cache.publish(resources.cache, report)
    await ctx.log(f"report {report.id}: {body['products']['total']} products")
    return f"report {report.id}"
