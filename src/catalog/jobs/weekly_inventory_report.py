"""The weekly inventory report, every Monday morning: stored, cached 30 days, CSV or JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog import report_cache
from catalog.jobs.inventory_monitoring import thresholds_of
from catalog.store import inventory_report, reports
from catalog.work.context import JobContext
from catalog.work.declarations import Schedule, WorkRegistry
from catalog.work.policy import Overlap, Queue, RetryPolicy

registry = WorkRegistry()

WEEKLY = Schedule("0 8 * * 1", tz="UTC")  # Monday 08:00 UTC


@registry.job(
    "weekly-inventory-report",
    queue=Queue.REPORTS,
    retry=RetryPolicy(attempts=3, backoff_s=60),
    lock="weekly-inventory-report",
    overlap=Overlap.SKIP,
    timeout_s=900,
    schedule=WEEKLY,
)
async def weekly_inventory_report(ctx: JobContext, *, scheduled_at: datetime | None = None) -> str:
    """Stock and value per category, low/critical/out lists, movers, stock-out forecast
    (as the nightly `stock-forecast` left it)."""
    resources = ctx.resources
    settings = resources.settings
    as_of = scheduled_at or datetime.now(UTC)
    thresholds = thresholds_of(settings)

    async with resources.db.begin() as conn:
        body = await inventory_report.weekly_inventory(
            conn,
            as_of=as_of,
            thresholds=thresholds,
            alert_within_days=settings.stockout_alert_days,
        )
        report = await reports.save_report(
            conn,
            reports.ReportKind.WEEKLY_INVENTORY,
            period=reports.Period.WEEKLY,
            period_start=(as_of - inventory_report.WEEK).date(),
            body=body,
        )
    await report_cache.publish(resources.cache, report)
    return f"report {report.id}"
