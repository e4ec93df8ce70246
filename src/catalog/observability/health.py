"""Liveness and readiness: each dependency's status and latency.

Ready fails only on what this process needs to answer: the database. The cache is reported
but never fails readiness, because reads fall back to the database while it is down; RabbitMQ
(where configured) is reported too, and only the event relay needs it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable

from catalog.work.resources import Resources

CHECK_TIMEOUT_S = 2.0


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    required: bool
    latency_ms: float
    error: str | None = None


async def _timed(name: str, *, required: bool, probe: Callable[[], Awaitable[object]]) -> Check:
    started = time.perf_counter()
    error: str | None = None
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure of a dependency is its status, reported as such
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return Check(name=name, ok=error is None, required=required, latency_ms=latency_ms, error=error)


async def _database(resources: Resources) -> None:
    async with resources.work.pool.connection() as conn:
        await conn.execute("SELECT 1")


async def _cache(resources: Resources) -> None:
    health = await resources.cache.check()
    if not health.ok:
        raise ConnectionError(health.error or "cache unavailable")


async def _rabbitmq(url: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url, timeout=CHECK_TIMEOUT_S)
    await connection.close()


async def readiness(resources: Resources) -> list[Check]:
    """Every dependency, checked at once (RabbitMQ where configured)."""
    checks = [
        _timed("database", required=True, probe=lambda: _database(resources)),
        _timed("cache", required=False, probe=lambda: _cache(resources)),
    ]
    rabbitmq_url = resources.settings.rabbitmq_url
    if rabbitmq_url:
        # Only the event relay (a worker's service) publishes; answering HTTP never needs it.
        checks.append(_timed("rabbitmq", required=False, probe=lambda: _rabbitmq(rabbitmq_url)))
    return list(await asyncio.gather(*checks))
