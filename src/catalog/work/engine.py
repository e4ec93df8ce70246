"""Jobs on Procrastinate: declaring them with their policy, and enqueueing them.

    registry = JobRegistry()

    @registry.job("weekly-inventory-report", queue=Queue.REPORTS, retry=TWO_RETRIES,
                  lock="weekly-inventory-report", timeout_s=900)
    async def weekly_inventory_report(ctx: JobContext, *, scheduled_at: datetime) -> str: ...

Declaring touches nothing; `WorkEngine` turns registries into a Procrastinate app when a
process opens its runtime. Each run goes through `catalog.work.execution`, which applies the
timeout, journals the run and translates shutdown into a requeue.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import procrastinate
import psycopg
import psycopg_pool
from procrastinate.exceptions import AlreadyEnqueued

from catalog.domain.errors import InvalidInput, NotFound
from catalog.work.journal import JournalingJobManager
from catalog.work.policy import JobPolicy, Overlap, PolicyRetryStrategy, Queue, RetryPolicy

JobFunc = Callable[..., Awaitable[Any]]


class Misfire(StrEnum):
    """What a recurring job does about a slot missed while no scheduler ran."""

    RUN_ONCE = "run_once"  # one catch-up run if the latest missed slot is within the grace
    SKIP = "skip"  # wait for the next slot


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A recurring job's default timing, declared beside it: `Schedule("0 8 * * 1")`.

    `cron` has 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first.
    """

    cron: str
    tz: str = "UTC"
    misfire: Misfire = Misfire.RUN_ONCE
    enabled: bool = True


@dataclasses.dataclass(frozen=True)
class JobDefinition:
    name: str
    func: JobFunc
    policy: JobPolicy
    summary: str
    # The default schedule; the recurring job's id is the job's name.
    schedule: Schedule | None = None


ServiceStep = Callable[..., Awaitable[None]]


@dataclasses.dataclass(frozen=True)
class ServiceDefinition:
    """An always-on loop: `step(ctx)` runs every `interval_s`, or sooner on a NOTIFY."""

    name: str
    step: ServiceStep
    interval_s: float
    listen: str | None  # a PostgreSQL NOTIFY channel that wakes the loop early
    summary: str


class JobRegistry:
    """Job and service declarations of one module family; connection-free, safe at import."""

    def __init__(self) -> None:
        self.definitions: dict[str, JobDefinition] = {}
        self.services: dict[str, ServiceDefinition] = {}

    def service(
        self, name: str, *, interval_s: float, listen: str | None = None
    ) -> Callable[[ServiceStep], ServiceStep]:
        """Declare a background service; exactly one instance runs it at a time."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")

        def register(step: ServiceStep) -> ServiceStep:
            if name in self.services:
                raise ValueError(f"service {name!r} is declared twice")
            summary = (step.__doc__ or "").strip().splitlines()[0] if step.__doc__ else ""
            self.services[name] = ServiceDefinition(name, step, interval_s, listen, summary)
            return step

        return register

    def job(
        self,
        name: str,
        *,
        queue: str = Queue.DEFAULT,
        retry: RetryPolicy | None = None,
        lock: str | None = None,
        overlap: Overlap = Overlap.WAIT,
        timeout_s: float | None = None,
        priority: int = 0,
        schedule: Schedule | None = None,
    ) -> Callable[[JobFunc], JobFunc]:
        policy = JobPolicy(
            queue=queue,
            retry=retry or RetryPolicy(),
            lock=lock,
            overlap=overlap,
            timeout_s=timeout_s,
            priority=priority,
        )

        def register(func: JobFunc) -> JobFunc:
            if name in self.definitions:
                raise ValueError(f"job {name!r} is declared twice")
            summary = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
            self.definitions[name] = JobDefinition(name, func, policy, summary, schedule)
            return func

        return register


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
        registries: Iterable[JobRegistry],
        *,
        pool_max_size: int = 10,
    ) -> None:
        from catalog.work import execution

        self.definitions: dict[str, JobDefinition] = {}
        self.services: dict[str, ServiceDefinition] = {}
        for registry in registries:
            for service_name, service in registry.services.items():
                if service_name in self.services:
                    raise ValueError(f"service {service_name!r} is declared twice")
                self.services[service_name] = service
            for name, definition in registry.definitions.items():
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
        for definition in self.definitions.values():
            self.app.task(
                name=definition.name,
                queue=str(definition.policy.queue),
                priority=definition.policy.priority,
                lock=definition.policy.lock,
                retry=PolicyRetryStrategy(definition.policy.retry),
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
    def recurring(self) -> dict[str, JobDefinition]:
        """The jobs that declare a default schedule, by recurring id (= job name)."""
        return {name: d for name, d in self.definitions.items() if d.schedule is not None}

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
        waiting or running: the answer names that run instead.
        """
        definition = self.definition(name)
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
