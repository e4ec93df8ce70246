"""Reports in the cache: each stored report's API body, and the latest one of each kind.

A report job publishes what it stored (replacing any copy of a re-run), the reports API reads
through the cache and fills it on a miss. The database stays the truth: a cache that is down or
flushed costs a query, never an answer.
"""

from __future__ import annotations

import logging

from catalog.cache.backend import CacheUnavailable
from catalog.cache.cache_aside import Cache
from catalog.store.reports import Report, ReportKind, body_bytes

log = logging.getLogger(__name__)

DAY_S = 86400.0
# How long a copy lives, per kind: the next run replaces it before it expires.
TTL_S = {
    ReportKind.DAILY_ANALYTICS: DAY_S,  # made daily
    ReportKind.WEEKLY_INVENTORY: 30 * DAY_S,  # made weekly, kept a month
}
POPULAR_TTL_S = 12 * 3600.0  # the popularity ranking, remade every 12 h
POPULAR_NAME = "popular-products"


def report_key(cache: Cache, report_id: int) -> str:
    return cache.keys.report(f"id:{report_id}")


def latest_key(cache: Cache, kind: ReportKind) -> str:
    return cache.keys.report(f"{kind}:latest")


async def publish(cache: Cache, report: Report) -> bool:
    """Put a freshly stored report in the cache, as itself and as its kind's latest.

    Overwrites (a re-run replaces the body a copy may hold). A cache that is down is logged and
    left: the report is stored, and the API fills the cache from the database on a miss.
    """
    body = body_bytes(report)
    try:
        for key in (report_key(cache, report.id), latest_key(cache, report.kind)):
            await cache.backend.set(key, body, ttl_s=TTL_S[report.kind])
    except CacheUnavailable as exc:
        log.warning("report %s stored but not cached: %s", report.id, exc)
        return False
    return True


async def publish_popular(cache: Cache, body: bytes) -> bool:
    """Cache the popularity ranking for POPULAR_TTL_S; False when the cache is down."""
    try:
        await cache.backend.set(cache.keys.report(POPULAR_NAME), body, ttl_s=POPULAR_TTL_S)
    except CacheUnavailable as exc:
        log.warning("popularity ranking not cached: %s", exc)
        return False
    return True
