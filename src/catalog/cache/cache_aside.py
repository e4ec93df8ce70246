"""`Cache`: cache-aside reads and fills that never fail, and the health they observed.

Read path (routes): `lookup` a key; on a miss build the body from PostgreSQL and `fill` it
with the lookup's generation, so that a copy read before a change is never stored after the
change's invalidation (`CacheBackend.fill`). Neither raises: a failing cache is a miss, and
after a failure the cache is left alone for `retry_after_s`, so that requests do not each wait
for a dead server's timeout. The failure stays visible in `health()` (`GET /api/cache/status`).

Jobs and services that must know whether the cache did its part (invalidation, warming,
cleanup) call `backend` directly, whose errors reach their retry policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from catalog.cache.backend import CacheBackend, CacheUnavailable, Lookup
from catalog.cache.keys import CacheKeys

log = logging.getLogger(__name__)

# How long a key's generation counter outlives its last invalidation: longer than any read
# between a lookup and its fill can take.
GENERATION_TTL_S = 300.0
DEFAULT_RETRY_AFTER_S = 5.0
_DOWN = Lookup(value=None, generation=None)  # a lookup that could not ask the cache


@dataclass(frozen=True)
class CacheTtls:
    """How long each kind of cached copy lives (settings `CATALOG_CACHE_*_TTL_S`)."""

    product_s: float = 3600.0
    category_s: float = 3600.0
    report_s: float = 3600.0


@dataclass(frozen=True)
class CacheHealth:
    backend: str
    ok: bool
    error: str | None  # the last failure, while the cache is considered down
    failed_at: datetime | None


class Cache:
    """The process's cache: a backend, its key names and TTLs, and a quiet read path."""

    def __init__(
        self,
        backend: CacheBackend,
        *,
        keys: CacheKeys | None = None,
        ttls: CacheTtls | None = None,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.keys = keys or CacheKeys()
        self.ttls = ttls or CacheTtls()
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._down_until = 0.0
        self._error: str | None = None
        self._failed_at: datetime | None = None

    @property
    def shared(self) -> bool:
        """True when other processes see the same entries (Redis)."""
        return self.backend.name != "memory"

    async def lookup(self, key: str) -> Lookup:
        """The cached bytes (None: a miss, or the cache is down) and the generation to fill with."""
        if self._resting():
            return _DOWN
        try:
            found = await self.backend.lookup(key, generation_key=self.keys.generation(key))
        except CacheUnavailable as exc:
            self._failed(exc)
            return _DOWN
        self._recovered()
        return found

    async def read(self, key: str) -> bytes | None:
        """The cached bytes, or None on a miss or while the cache is down."""
        return (await self.lookup(key)).value

    async def fill(self, key: str, value: bytes, *, ttl_s: float, seen: Lookup) -> bool:
        """Store a copy built from the database after `seen`, unless `key` was invalidated since."""
        if seen is _DOWN or self._resting():
            return False
        try:
            return await self.backend.fill(
                key,
                value,
                ttl_s=ttl_s,
                generation_key=self.keys.generation(key),
                seen=seen.generation,
            )
        except CacheUnavailable as exc:
            self._failed(exc)
            return False

    async def evict(self, keys: Sequence[str]) -> None:
        """Invalidate `keys` at once, best effort (a write's own eviction after its commit).

        The change-log invalidation evicts them again in any case: this only makes a client's
        next read see its own write without waiting for it.
        """
        try:
            await self.invalidate(keys)
        except CacheUnavailable as exc:
            self._failed(exc)

    async def invalidate(self, keys: Sequence[str]) -> int:
        """Invalidate `keys`; raises `CacheUnavailable` (for services, which must retry)."""
        return await self.backend.invalidate(
            keys,
            generation_keys=[self.keys.generation(k) for k in keys],
            generation_ttl_s=GENERATION_TTL_S,
        )

    async def check(self) -> CacheHealth:
        """Ping the backend now and return the health that follows."""
        try:
            await self.backend.ping()
        except CacheUnavailable as exc:
            self._failed(exc)
        else:
            self._recovered()
        return self.health()

    def health(self) -> CacheHealth:
        return CacheHealth(
            backend=self.backend.name,
            ok=self._error is None,
            error=self._error,
            failed_at=self._failed_at,
        )

    async def clear(self) -> int:
        """Delete every key of this namespace (all versions, holds included); how many."""
        doomed = [key async for key in self.backend.scan(f"{self.keys.prefix}:*")]
        return await self.backend.delete(doomed)

    async def close(self) -> None:
        await self.backend.close()

    def _resting(self) -> bool:
        return self._error is not None and self._clock() < self._down_until

    def _failed(self, exc: CacheUnavailable) -> None:
        if self._error is None:
            log.warning("cache unavailable, reading from the database: %s", exc)
            self._failed_at = datetime.now(UTC)
        self._error = str(exc)
        self._down_until = self._clock() + self._retry_after_s

    def _recovered(self) -> None:
        if self._error is not None:
            log.info("cache available again")
        self._error = None
        self._failed_at = None
