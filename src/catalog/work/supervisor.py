"""Run the background work of one process: job worker, scheduler, background services.

Each component runs until the stop event; one that crashes (the database restarting, say) is
restarted with exponential backoff instead of taking the process down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from catalog.work.resources import Resources
from catalog.work.schedules.scheduler import NO_FAULTS, Scheduler, fault_hooks_at
from catalog.work.services.runner import ServiceRunner
from catalog.work.worker import JobWorker

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_AFTER_S = 60.0  # a component that ran this long starts its backoff afresh


class Component(Protocol):
    name: str

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then return once drained."""


def components(
    resources: Resources,
    *,
    worker: bool = True,
    concurrency: int | None = None,
    queues: list[str] | None = None,
) -> list[Component]:
    """The components a worker process runs, as configured."""
    settings = resources.settings
    parts: list[Component] = []
    if worker:
        parts.append(JobWorker(resources, concurrency=concurrency, queues=queues))
    if settings.scheduler_enabled:
        faults = NO_FAULTS
        if settings.scheduler_fault_hooks is not None:
            faults = fault_hooks_at(settings.scheduler_fault_hooks)
        parts.append(Scheduler(resources, faults=faults))
    if settings.services_enabled:
        parts.append(ServiceRunner(resources))
    return parts


async def supervise(parts: Sequence[Component], stop: asyncio.Event) -> None:
    """Run every component until `stop`, restarting any that fails."""
    await asyncio.gather(*(_keep_running(part, stop) for part in parts))


async def _keep_running(part: Component, stop: asyncio.Event) -> None:
    failures = 0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        started = loop.time()
        try:
            await part.run(stop)
        except Exception:
            log.exception("%s crashed", part.name)
        else:
            if stop.is_set():
                return
            log.warning("%s returned before being asked to stop", part.name)
        if loop.time() - started > HEALTHY_AFTER_S:
            failures = 0
        delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
        failures += 1
        log.info("restarting %s in %.0f s", part.name, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


async def run_background_work(
    resources: Resources,
    stop: asyncio.Event,
    *,
    concurrency: int | None = None,
    queues: list[str] | None = None,
) -> None:
    """What `catalog worker` and `catalog serve` run beside (or instead of) the API."""
    await supervise(components(resources, concurrency=concurrency, queues=queues), stop)
