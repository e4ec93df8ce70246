"""`cache-invalidation`: evict what committed changes made stale from the shared cache.

A change-log consumer with a durable cursor: it evicts first and advances its cursor after, so
a step that fails (Redis down) or is killed evicts again next time, never too little. Declared
only when Redis is configured; the in-process cache is kept fresh by each API process itself
(`catalog.cache.invalidation.follow`).
"""

from __future__ import annotations

from catalog.cache.invalidation import BATCH_SIZE, stale_keys
from catalog.settings import Settings
from catalog.store import changelog
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import RetryPolicy
from catalog.work.services.context import ServiceContext

registry = WorkRegistry()

CONSUMER = "cache-invalidation"
SAFETY_INTERVAL_S = 5.0  # a NOTIFY wakes it at once; this bounds a missed one
BACKOFF = RetryPolicy(backoff_s=0.5, max_backoff_s=10.0, jitter=0.25)  # back soon after Redis


def _shared_cache(settings: Settings) -> bool:
    return settings.redis_url is not None


@registry.service(
    "cache-invalidation",
    interval_s=SAFETY_INTERVAL_S,
    listen=changelog.CHANNEL,
    backoff=BACKOFF,
    step_timeout_s=60,
    enabled_when=_shared_cache,
)
async def cache_invalidation(ctx: ServiceContext) -> None:
    """Evict cached copies made stale by committed changes (products, categories, counts)."""
    cache = ctx.resources.cache
    # Fail the step while Redis is down even with nothing to evict, so that the service's
    # status shows what is wrong (and its backoff paces the retries).
    await cache.backend.ping()
    async with ctx.resources.db.connect() as conn:
        async with conn.begin():
            cursor = await changelog.load_cursor(conn, CONSUMER, start_at_end=True)
        while not ctx.should_stop():
            async with conn.begin():
                changes = await changelog.read_changes(conn, after=cursor, limit=BATCH_SIZE)
            if not changes:
                break
            await cache.invalidate(stale_keys(cache.keys, changes))
            cursor = changelog.advance(cursor, changes)
            async with conn.begin():
                await changelog.save_cursor(conn, CONSUMER, cursor)
        async with conn.begin():
            ctx.set_lag(**(await changelog.lag(conn, CONSUMER)).report())
