"""A job worker: Procrastinate's worker, registered under a name, with the recovery sweep."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from procrastinate.worker import Worker

from catalog.work import recovery
from catalog.work.resources import Resources

log = logging.getLogger(__name__)

REGISTRATION_POLL_S = 0.05


def instance_name() -> str:
    """This process's name among all instances: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobWorker:
    """Runs jobs until `stop` is set, then drains: running jobs get the grace period to finish,
    after which they are cancelled and requeued."""

    def __init__(
        self,
        resources: Resources,
        *,
        concurrency: int | None = None,
        queues: list[str] | None = None,
    ) -> None:
        settings = resources.settings
        self.resources = resources
        self.name = instance_name()
        self.concurrency = concurrency or settings.worker_concurrency
        self.queues = queues if queues is not None else settings.worker_queues

    async def run(self, stop: asyncio.Event) -> None:
        settings = self.resources.settings
        worker = Worker(
            app=self.resources.work.app,
            queues=self.queues,
            name=self.name,
            concurrency=self.concurrency,
            shutdown_graceful_timeout=settings.shutdown_grace_s,
            install_signal_handlers=False,
            update_heartbeat_interval=settings.worker_heartbeat_s,
            stalled_worker_timeout=settings.worker_stalled_after_s,
            fetch_job_polling_interval=settings.worker_poll_s,
            abort_job_polling_interval=settings.worker_poll_s,
            # `stopping` lets jobs see the shutdown coming (JobContext.should_stop).
            additional_context={"resources": self.resources, "stopping": stop},
        )
        running = asyncio.create_task(
            worker.run(),  # type: ignore[no-untyped-call]
            name=f"worker {self.name}",
        )
        sweeper = asyncio.create_task(self._sweep_forever(), name="recovery sweep")
        try:
            await self._register(worker, running)
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
        finally:
            sweeper.cancel()
            worker.stop()  # type: ignore[no-untyped-call]
            await asyncio.gather(running, sweeper, return_exceptions=True)
        if running.exception() is not None:
            raise running.exception()  # type: ignore[misc]

    async def _register(self, worker: Worker, running: asyncio.Task[None]) -> None:
        # Procrastinate assigns the id inside run(); there is no event to wait on.
        while worker.worker_id is None and not running.done():  # noqa: ASYNC110
            await asyncio.sleep(REGISTRATION_POLL_S)
        if worker.worker_id is None:
            return
        host, _, pid = self.name.rpartition(":")
        async with self.resources.work.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO work_workers (id, name, host, pid, concurrency, queues)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (worker.worker_id, self.name, host, int(pid), self.concurrency, self.queues),
            )
        log.info(
            "worker %s started (concurrency %d, queues %s)",
            self.name,
            self.concurrency,
            ", ".join(self.queues) if self.queues else "all",
        )

    async def _sweep_forever(self) -> None:
        settings = self.resources.settings
        definitions = self.resources.work.definitions
        while True:
            await asyncio.sleep(settings.recovery_interval_s)
            try:
                async with self.resources.work.pool.connection() as conn:
                    await recovery.sweep(
                        conn, definitions, stalled_after_s=settings.worker_stalled_after_s
                    )
                async with self.resources.work.pool.connection() as conn:
                    await recovery.prune_dead_workers(
                        conn, stalled_after_s=settings.worker_stalled_after_s
                    )
            except Exception:
                # The database may be restarting; the next sweep tries again.
                log.exception("recovery sweep failed")
