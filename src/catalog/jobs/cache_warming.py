"""`cache-warming`: preload the hot answers every 6 h, and at once after a cache flush.

The service's interval is the flush check, not the warm interval: each step reads one key, the
marker the last warm left (`CacheKeys.sentinel`), and decides (`catalog.cache.warming.due`):

    marker missing              warm, reason "flush" (flushed, new, or the last warm cut short)
    marker older than 6 h       warm, reason "schedule"
    otherwise                   nothing (one GET per check)

An operator's wake-up from the management API warms too (reason "trigger"). The marker holds
the last warm's report, so every step (on any instance, after a failover) shows it as details.

`cache-warmup` is the same warm as a job, for `POST /api/backgroundjobs/trigger-cache-warmup`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from catalog.api.answers import API_ANSWERS
from catalog.cache import warming
from catalog.cache.warming import Reason, WarmReport
from catalog.work.context import JobContext
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import Overlap, Queue, RetryPolicy
from catalog.work.resources import Resources
from catalog.work.services.context import ServiceContext, Trigger

registry = WorkRegistry()

WARM_EVERY_S = 21600.0  # 6 h, as the original
FLUSH_CHECK_S = 30.0  # a flushed cache is warm again within this (plus the warm itself)
STEP_TIMEOUT_S = 600.0
BACKOFF = RetryPolicy(backoff_s=5.0, max_backoff_s=300.0, jitter=0.25)  # while the cache is down


async def warm_now(
    resources: Resources, *, reason: Reason, check_stop: warming.StopCheck
) -> WarmReport:
    """One warm with the process's settings: `CATALOG_CACHE_WARM_PRODUCTS` products."""
    return await warming.warm(
        resources.cache,
        resources.db,
        API_ANSWERS,
        top_products=resources.settings.cache_warm_products,
        reason=reason,
        check_stop=check_stop,
    )


@registry.service(
    "cache-warming", interval_s=FLUSH_CHECK_S, backoff=BACKOFF, step_timeout_s=STEP_TIMEOUT_S
)
async def cache_warming(ctx: ServiceContext) -> None:
    """Preload popular products, the category tree and counts every 6 h and after a flush."""
    # Raises CacheUnavailable while the cache is down: the step fails and its status says why.
    marker = await warming.read_marker(ctx.resources.cache)
    if ctx.trigger is Trigger.WAKE:
        reason: Reason | None = Reason.TRIGGER
    else:
        reason = warming.due(marker, now=datetime.now(UTC), every_s=WARM_EVERY_S)
    if reason is not None:
        marker = await warm_now(ctx.resources, reason=reason, check_stop=ctx.check_stop)
        ctx.log.info("%s", marker.summary())
    if marker is not None:
        ctx.set_details(**marker.details())


@registry.job(
    "cache-warmup",
    queue=Queue.CACHE,
    retry=RetryPolicy(attempts=3, backoff_s=30),  # 1 run + 2 retries
    lock="cache-warmup",
    overlap=Overlap.SKIP,
    timeout_s=STEP_TIMEOUT_S,
)
async def cache_warmup(ctx: JobContext) -> str:
    """Warm the cache once now (what `cache-warming` does every 6 h), reason "trigger"."""
    report = await warm_now(ctx.resources, reason=Reason.TRIGGER, check_stop=ctx.check_stop)
    await ctx.log(report.summary())
    return report.summary()
