"""Jobs on Procrastinate: the engine that runs declared jobs, and enqueueing them.

Declarations live in `catalog.work.declarations`; `WorkEngine` turns registries into a
Procrastinate app when a process opens its resources. Each run goes through
`catalog.work.execution`, which applies the timeout, journals the run and translates shutdown
into a requeue.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
from procrastinate.exceptions import AlreadyEnqueued

from catalog.domain.errors import InvalidInput, NotFound
from catalog.settings import Settings
from catalog.work import arguments, execution
from catalog.work.declarations import JobDefinition, Schedule, ServiceDefinition, WorkRegistry
from catalog.work.journal import JournalingJobManager
from catalog.work.policy import Overlap, PolicyRetryStrategy


class UnknownJob(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no job named {name!r}")


@dataclasses.dataclass(frozen=True)
class Enqueued:
    """The outcome of an enqueue: the new job, or the one a SKIP-overlap job deferred to."""

    job_id: int
    skipped: bool = False


class WorkEngine:
    """The Procrastinate app of this process, with our declarations registered on it."""

    def __init__(
        self,
        database_url: str,
        registries: Iterable[WorkRegistry],
        *,
        pool_max_size: int = 10,
        settings: Settings | None = None,
    ) -> None:
        self.database_url = database_url
        self.definitions: dict[str, JobDefinition] = {}
        self.services: dict[str, ServiceDefinition] = {}
        for registry in registries:
            for service_name, service in registry.services.items():
                if service_name in self.services:
                    raise ValueError(f"service {service_name!r} is declared twice")
                if settings is None or service.enabled(settings):
                    self.services[service_name] = service
            for name, definition in registry.jobs.items():
                if name in self.definitions:
                    raise ValueError(f"job {name!r} is declared twice")
                self.definitions[name] = definition
        self.connector = procrastinate.PsycopgConnector(
            conninfo=database_url,
            min_size=1,
            max_size=pool_max_size,
            # Timestamps come back in UTC, as the API promises them.
            kwargs={"application_name": "catalog-jobs", "options": "-c TimeZone=UTC"},
        )
        self.app = procrastinate.App(connector=self.connector)
        self.journal = JournalingJobManager(self.connector)
        self.app.job_manager = self.journal
        # Left by the runner of a failed run for its task's retry strategy (see policy.py).
        self.lost_runs: dict[int, int] = {}
        for definition in self.definitions.values():
            self.app.task(
                name=definition.name,
                queue=str(definition.policy.queue),
                priority=definition.policy.priority,
                lock=definition.policy.lock,
                retry=PolicyRetryStrategy(definition.policy.retry, self.lost_runs),
                pass_context=True,
            )(execution.runner_for(definition))

    @property
    def pool(self) -> psycopg_pool.AsyncConnectionPool[Any]:
        """Procrastinate's connection pool, also used for the journal and job control."""
        return self.connector.pool

    async def open(self) -> None:
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    @property
    def declared_schedules(self) -> dict[str, Schedule]:
        """The default schedule each recurring job declares, by recurring id (= job name)."""
        return {name: d.schedule for name, d in self.definitions.items() if d.schedule is not None}

    def definition(self, name: str) -> JobDefinition:
        try:
            return self.definitions[name]
        except KeyError:
            raise UnknownJob(name) from None

    async def enqueue(
        self,
        name: str,
        *,
        kwargs: Mapping[str, Any] | None = None,
        schedule_at: datetime | None = None,
        priority: int | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> Enqueued:
        """Defer job `name`; with `connection`, inside that connection's open transaction.

        A job declared with `overlap=SKIP` is not enqueued while another run with its lock is
        waiting or running: the answer names that run instead. Arguments that do not fit the
        job's parameters raise `InvalidArguments` and enqueue nothing.
        """
        definition = self.definition(name)
        arguments.check(name, definition.func, kwargs or {})
        if schedule_at is not None and schedule_at.utcoffset() is None:
            raise InvalidInput("schedule_at must carry a time zone")
        task = self.app.tasks[name]
        options: dict[str, Any] = {"schedule_at": schedule_at}
        if priority is not None:
            options["priority"] = priority
        policy = definition.policy
        if policy.overlap is Overlap.SKIP:
            assert policy.lock is not None
            return await self._enqueue_unless_running(
                task, policy.lock, dict(kwargs or {}), options, connection
            )
        if connection is not None:
            options["connection"] = connection
        job_id = await task.configure(**options).defer_async(**dict(kwargs or {}))
        return Enqueued(job_id=job_id)

    async def _enqueue_unless_running(
        self,
        task: procrastinate.tasks.Task[Any, Any, Any],
        lock: str,
        kwargs: dict[str, Any],
        options: dict[str, Any],
        connection: psycopg.AsyncConnection[Any] | None,
    ) -> Enqueued:
        async def attempt(conn: psycopg.AsyncConnection[Any]) -> Enqueued:
            # Serialise the check-then-insert of all enqueuers of this lock.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
            cur = await conn.execute(
                "SELECT id FROM procrastinate_jobs WHERE lock = %s AND status IN ('todo', 'doing')"
                " ORDER BY id LIMIT 1",
                (lock,),
            )
            row = await cur.fetchone()
            if row is not None:
                return Enqueued(job_id=int(row[0]), skipped=True)
            try:
                job_id = await task.configure(connection=conn, **options).defer_async(**kwargs)
            except AlreadyEnqueued as exc:  # pragma: no cover - guarded by the lock above
                raise InvalidInput(str(exc)) from exc
            return Enqueued(job_id=job_id)

        if connection is not None:
            return await attempt(connection)
        async with self.pool.connection() as conn, conn.transaction():
            return await attempt(conn)
