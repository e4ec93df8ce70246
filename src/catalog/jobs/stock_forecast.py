"""Stock-out forecasts, recomputed every night before the analytics; alerts when one is near."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.jobs.inventory_monitoring import announce, thresholds_of
from catalog.store import alerts, forecast
from catalog.work.context import JobContext
from catalog.work.declarations import Schedule, WorkRegistry
from catalog.work.policy import Overlap, Queue, RetryPolicy

registry = WorkRegistry()

NIGHTLY = Schedule("30 1 * * *", tz="UTC")  # 01:30 UTC, after the day's last movements


@registry.job(
    "stock-forecast",
    queue=Queue.REPORTS,
    retry=RetryPolicy(attempts=3, backoff_s=60),
    lock="stock-forecast",
    overlap=Overlap.SKIP,
    timeout_s=1800,
    schedule=NIGHTLY,
)
async def stock_forecast(ctx: JobContext, *, scheduled_at: datetime | None = None) -> str:
    """Daily demand, days of cover and stock-out day per product; alerts within the window."""
    resources = ctx.resources
    settings = resources.settings
    as_of = scheduled_at or datetime.now(UTC)

    async def on_raised(conn: AsyncConnection, raised: list[alerts.Alert]) -> None:
        await announce(conn, raised, settings=settings, work=resources.work)

    run = await forecast.update_forecasts(
        resources.db,
        today=as_of.date(),
        alert_within_days=settings.stockout_alert_days,
        thresholds=thresholds_of(settings),
        on_raised=on_raised,
    )
    return (
        f"{run.forecast} products with demand; stock-out alerts: {len(run.alerts_raised)}"
        f" raised, {run.alerts_resolved} resolved"
    )
