"""`event-relay`: publish product, stock and category events to RabbitMQ from the change log.

Declared only when `CATALOG_RABBITMQ_URL` is set; without a broker the change log is the
record.
"""

from __future__ import annotations

import contextlib

from catalog.events import relay
from catalog.settings import Settings
from catalog.store import changelog
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import RetryPolicy
from catalog.work.services.context import ServiceContext

registry = WorkRegistry()

SAFETY_INTERVAL_S = 5.0  # a NOTIFY wakes it at once; this bounds a missed one
BACKOFF = RetryPolicy(backoff_s=1.0, max_backoff_s=30.0, jitter=0.25)  # broker down: retry soon


def _broker_configured(settings: Settings) -> bool:
    return settings.rabbitmq_url is not None


@registry.service(
    "event-relay",
    interval_s=SAFETY_INTERVAL_S,
    listen=changelog.CHANNEL,
    backoff=BACKOFF,
    step_timeout_s=300,
    enabled_when=_broker_configured,
)
async def event_relay(ctx: ServiceContext) -> None:
    """Publish catalogue changes to RabbitMQ in change-log order, with publisher confirms."""
    publisher = ctx.resources.events
    assert publisher is not None, "declared only when CATALOG_RABBITMQ_URL is set"
    try:
        await relay.relay(ctx.resources.db, publisher, should_stop=ctx.should_stop)
    finally:
        # Also after a failed step: while the broker is down, the status shows the lag grow.
        async with ctx.resources.db.connect() as conn:
            with contextlib.suppress(changelog.ConsumerNotFound):
                ctx.set_lag(**(await changelog.lag(conn, relay.CONSUMER)).report())
