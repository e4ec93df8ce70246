"""Removing cache entries nobody will read: deleted products', and older key versions'.

Both walk the key space with SCAN (`CacheBackend.scan`), never KEYS, which would block Redis
for the whole walk; deletes go in batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.cache.cache_aside import Cache

BATCH_SIZE = 500


@dataclass(frozen=True)
class CleanupReport:
    scanned: int  # keys looked at
    old_version_keys: int  # removed: written under another KEY_VERSION
    deleted_product_keys: int  # removed: products deleted (or purged) since they were cached

    def summary(self) -> str:
        return (
            f"removed {self.old_version_keys} old-version keys and "
            f"{self.deleted_product_keys} keys of deleted products ({self.scanned} keys scanned)"
        )


async def clean(
    cache: Cache, db: AsyncEngine, *, check_stop: Callable[[], None] = lambda: None
) -> CleanupReport:
    """One pass over the namespace; raises `CacheUnavailable` if the cache fails midway."""
    keys = cache.keys
    scanned = old = gone = 0
    doomed: list[str] = []
    async for key in cache.backend.scan(keys.namespace_pattern, batch=BATCH_SIZE):
        scanned += 1
        if keys.is_old_version(key):
            doomed.append(key)
            if len(doomed) >= BATCH_SIZE:
                old += await cache.backend.delete(doomed)
                doomed = []
                check_stop()
    old += await cache.backend.delete(doomed)

    products: dict[int, str] = {}
    async for key in cache.backend.scan(keys.product_pattern, batch=BATCH_SIZE):
        product_id = keys.product_id(key)
        if product_id is not None:
            products[product_id] = key
        if len(products) >= BATCH_SIZE:
            gone += await _remove_deleted(cache, db, products)
            products = {}
            check_stop()
    gone += await _remove_deleted(cache, db, products)
    return CleanupReport(scanned=scanned, old_version_keys=old, deleted_product_keys=gone)


async def _remove_deleted(cache: Cache, db: AsyncEngine, cached: dict[int, str]) -> int:
    if not cached:
        return 0
    async with db.connect() as conn:
        live = set(
            await conn.scalars(
                text("SELECT id FROM products WHERE id = ANY(:ids) AND deleted_at IS NULL"),
                {"ids": list(cached)},
            )
        )
    # Invalidate rather than delete, so that a read in flight cannot put a copy back.
    return await cache.invalidate([key for pid, key in cached.items() if pid not in live])
