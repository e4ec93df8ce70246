"""`Cache`: cache-aside reads and fills that never fail, and the health they observed.

Read path (routes): `read` a key; on a miss build the body from PostgreSQL and `fill` it.
Neither raises: a failing cache is a miss, and after a failure the cache is left alone for
`retry_after_s`, so that requests do not each wait for a dead server's timeout. The failure
stays visible in `health()` (and in `GET /api/cache/status`).

Jobs and services that must know whether the cache did its part (invalidation, warming,
cleanup) call `backend` directly, whose errors reach their retry policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from catalog.cache.backend import CacheBackend, CacheUnavailable
from catalog.cache.keys import CacheKeys

log = logging.getLogger(__name__)

# After an invalidation, fills of the key are refused this long: a reader that read the
# database before the change and fills after the eviction would otherwise put the old copy back.
HOLD_S = 2.0
DEFAULT_RETRY_AFTER_S = 5.0


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

    async def read(self, key: str) -> bytes | None:
        """The cached bytes, or None on a miss or while the cache is down."""
        if self._resting():
            return None
        try:
            value = await self.backend.get(key)
        except CacheUnavailable as exc:
            self._failed(exc)
            return None
        self._recovered()
        return value

    async def fill(self, key: str, value: bytes, *, ttl_s: float) -> None:
        """Store a copy built from the database, unless `key` was just invalidated."""
        if self._resting():
            return
        try:
            await self.backend.fill(key, value, ttl_s=ttl_s, unless=self.keys.hold(key))
        except CacheUnavailable as exc:
            self._failed(exc)

    async def evict(self, keys: Sequence[str]) -> None:
        """Invalidate `keys` at once, best effort (a write's own eviction after its commit).

        The change-log invalidation evicts them again in any case: this only makes a client's
        next read see its own write without waiting for it.
        """
        try:
            await self.backend.invalidate(
                keys, holds=[self.keys.hold(k) for k in keys], hold_s=HOLD_S
            )
        except CacheUnavailable as exc:
            self._failed(exc)

    async def invalidate(self, keys: Sequence[str]) -> int:
        """Invalidate `keys`; raises `CacheUnavailable` (for services, which must retry)."""
        return await self.backend.invalidate(
            keys, holds=[self.keys.hold(k) for k in keys], hold_s=HOLD_S
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
