"""Management API: the cache's health (`GET /api/cache/status`)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from catalog.api.deps import CacheDep
from catalog.api.timestamps import Timestamp

router = APIRouter(prefix="/api/cache", tags=["cache"])


class CacheStatus(BaseModel):
    backend: str  # "redis" or "memory"
    ok: bool
    error: str | None
    failed_at: Timestamp | None
    key_prefix: str


@router.get("/status", summary="Is the cache reachable, and if not, why")
async def cache_status(cache: CacheDep) -> CacheStatus:
    """Pings the cache now. While it is down reads answer from PostgreSQL (slower, never wrong)."""
    health = await cache.check()
    return CacheStatus(
        backend=health.backend,
        ok=health.ok,
        error=health.error,
        failed_at=health.failed_at,
        key_prefix=cache.keys.base,
    )
