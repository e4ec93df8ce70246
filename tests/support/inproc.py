"""Running some of the declared services, or the cache follower, inside the test's process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from catalog.bootstrap import Runtime
from catalog.cache import invalidation
from catalog.work.services.runner import ServiceRunner


@contextlib.asynccontextmanager
async def services(runtime: Runtime, *names: str) -> AsyncIterator[None]:
    """A service runner for `names` only, stopped gracefully on exit."""
    runner = ServiceRunner(
        runtime.resources,
        services={n: runtime.work.services[n] for n in names},
        instance="test-host:1",
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


@contextlib.asynccontextmanager
async def cache_follower(runtime: Runtime) -> AsyncIterator[None]:
    """What an API process runs beside an in-process cache."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        invalidation.follow(runtime.engine, runtime.database_url, runtime.cache, stop, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), timeout=15)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
