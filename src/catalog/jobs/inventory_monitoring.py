"""Inventory monitoring: alert on stock level changes within seconds; sweep everything hourly."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog import inventory_monitor, notifications
from catalog.domain.stock import URGENT_LEVELS, Thresholds
from catalog.settings import Settings
from catalog.store import alerts, changelog
from catalog.work.context import JobContext
from catalog.work.declarations import WorkRegistry
from catalog.work.engine import WorkEngine
from catalog.work.policy import Queue, RetryPolicy
from catalog.work.services.context import ServiceContext

registry = WorkRegistry()

SWEEP_EVERY_S = 3600.0  # the whole catalogue, hourly, whatever the change log says
# A NOTIFY wakes a step at once, but a change only becomes readable once every older
# transaction on the server has ended (catalog.store.changelog); a step this often picks up
# what a woken step could not read yet.
POLL_S = 5.0
FOLLOW_BATCH = 1000  # change-log rows per transaction
FOLLOW_MAX_BATCHES = 50  # per step; the rest waits for the next step (and shows as lag)
# A webhook receiver or mail server that is down gets this many tries over about an hour.
SEND_RETRIES = RetryPolicy(attempts=8, backoff_s=30, max_backoff_s=900)


def thresholds_of(settings: Settings) -> Thresholds:
    return Thresholds(
        critical_max=settings.inventory_critical_max, low_max=settings.inventory_low_max
    )


async def announce(
    conn: AsyncConnection,
    raised: list[alerts.Alert],
    *,
    settings: Settings,
    work: WorkEngine,
    send: bool = True,
) -> None:
    """Log every raised alert; enqueue the sending of urgent ones, in the caller's transaction.

    Level alerts are urgent at critical and out of stock; forecast alerts always are. With
    `send=False` they are only logged (the first sweep's baseline).
    """
    raw = (await conn.get_raw_connection()).driver_connection
    for alert in raised:
        notifications.log_alert(alert)
        if not send or (alert.kind == "level" and alert.level not in URGENT_LEVELS):
            continue
        channels = []
        if settings.alert_webhook_url:
            channels.append("webhook")
        if settings.smtp_host and settings.alert_email_to:
            channels.append("email")
        for channel in channels:
            await work.enqueue(
                "send-alert", kwargs={"alert_id": alert.id, "channel": channel}, connection=raw
            )


@registry.service(
    "inventory-monitoring",
    interval_s=POLL_S,  # the sweep runs when the last one is SWEEP_EVERY_S old
    listen=changelog.CHANNEL,  # a committed stock change wakes it within a second
    step_timeout_s=1800,
)
async def inventory_monitoring(ctx: ServiceContext) -> None:
    """Alert once per stock level change (low, critical, out); sweep the catalogue hourly."""
    resources = ctx.resources
    thresholds = thresholds_of(resources.settings)

    async def on_raised(conn: AsyncConnection, raised: list[alerts.Alert]) -> None:
        await announce(conn, raised, settings=resources.settings, work=resources.work)

    followed = await inventory_monitor.follow_changes(
        resources.db,
        thresholds=thresholds,
        on_raised=on_raised,
        batch_size=FOLLOW_BATCH,
        max_batches=FOLLOW_MAX_BATCHES,
    )
    if followed.raised:
        ctx.log.info("raised %d alerts from %d changes", followed.raised, followed.examined)
    last_sweep = await inventory_monitor.last_sweep(resources.db)
    if inventory_monitor.sweep_due(last_sweep, every_s=SWEEP_EVERY_S):
        # The very first sweep finds every product already low as a change: it records and
        # logs them as the baseline, without sending an alert storm.
        async def on_swept(conn: AsyncConnection, raised: list[alerts.Alert]) -> None:
            await announce(
                conn,
                raised,
                settings=resources.settings,
                work=resources.work,
                send=last_sweep is not None,
            )

        swept = await inventory_monitor.sweep(
            resources.db,
            thresholds=thresholds,
            on_raised=on_swept,
            batch_size=resources.settings.inventory_sweep_batch,
            check_stop=ctx.check_stop,
        )
        ctx.log.info(
            "swept %d products: %d alerts raised, %d resolved",
            swept.examined,
            swept.raised,
            swept.resolved,
        )
    async with resources.db.connect() as conn:
        ctx.set_lag(**(await changelog.lag(conn, inventory_monitor.CONSUMER)).report())


@registry.job("send-alert", queue=Queue.DEFAULT, retry=SEND_RETRIES, timeout_s=60)
async def send_alert(ctx: JobContext, *, alert_id: int, channel: str) -> str:
    """Send one inventory alert by webhook or e-mail; a failure is retried."""
    settings = ctx.resources.settings
    async with ctx.resources.db.connect() as conn:
        try:
            alert = await alerts.get_alert(conn, alert_id)
        except alerts.AlertNotFound:
            return f"alert {alert_id} is gone (its product was purged): nothing sent"
        product = (
            await conn.execute(
                text("SELECT sku, name FROM products WHERE id = :id"), {"id": alert.product_id}
            )
        ).one()
    message = notifications.AlertMessage(alert=alert, sku=product.sku, name=product.name)
    if channel == "webhook":
        if not settings.alert_webhook_url:
            return "webhook not configured: nothing sent"
        status = await notifications.post_webhook(settings.alert_webhook_url, message)
        return f"webhook answered {status}"
    if channel == "email":
        if not settings.smtp_host or not settings.alert_email_to:
            return "e-mail not configured: nothing sent"
        await notifications.send_email(
            message,
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            recipients=settings.alert_email_to,
        )
        return f"e-mailed {len(settings.alert_email_to)} recipients"
    raise ValueError(f"unknown channel {channel!r}: 'webhook' or 'email'")
