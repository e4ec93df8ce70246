"""Background services used by the services' tests, loaded with CATALOG_JOB_MODULES.

Steps write what they did to `test_service_steps` (created by `create_tables`), so that tests
in this process and in worker processes see the same record.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from catalog.store import changelog
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import RetryPolicy
from catalog.work.services.context import ServiceContext, Trigger

registry = WorkRegistry()  # every test service, for tests that run services in process
failover_registry = WorkRegistry()  # only the recorder, for worker processes

RECORDER_INTERVAL_S = 0.5
RECORDER_STEP_S = 0.2
WAKE_CHANNEL = "test_service_wake"
FLAKY_LAG_ROWS = 42
FLAKY_LAG_S = 1.5
SLOW_STEP_S = 3.0
HANG_TIMEOUT_S = 0.5
HANG_BACKOFF_S = 2.0  # far from the default first backoff (1 s +/- 25 %)

# What in-process steps saw, for the events a database row cannot record (a cancellation).
EVENTS: list[tuple[str, str]] = []

TABLES = """
CREATE TABLE IF NOT EXISTS test_service_steps (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service      text NOT NULL,
    instance     text NOT NULL,
    trigger      text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    outcome      text
);
CREATE TABLE IF NOT EXISTS test_service_faults (
    service        text PRIMARY KEY,
    failures_left  integer NOT NULL
);
"""


class Flaky(Exception):
    pass


@dataclass(frozen=True)
class Step:
    service: str
    instance: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None


def create_tables(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(TABLES)


def steps(database_url: str, service: str) -> list[Step]:
    """The recorded steps of `service`, in order of start."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT service, instance, trigger, started_at, finished_at, outcome"
            " FROM test_service_steps WHERE service = %s ORDER BY started_at, id",
            (service,),
        ).fetchall()
    return [Step(*row) for row in rows]


def fail_next(database_url: str, service: str, *, failures: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO test_service_faults (service, failures_left) VALUES (%s, %s)"
            " ON CONFLICT (service) DO UPDATE SET failures_left = EXCLUDED.failures_left",
            (service, failures),
        )


async def _start(ctx: ServiceContext) -> int:
    async with ctx.resources.work.pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO test_service_steps (service, instance, trigger) VALUES (%s, %s, %s)"
            " RETURNING id",
            (ctx.name, ctx.instance, str(ctx.trigger)),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def _finish(ctx: ServiceContext, step_id: int, outcome: str) -> None:
    async with ctx.resources.work.pool.connection() as conn:
        await conn.execute(
            "UPDATE test_service_steps SET finished_at = clock_timestamp(), outcome = %s"
            " WHERE id = %s",
            (outcome, step_id),
        )


async def record(ctx: ServiceContext) -> None:
    """Records its start and end, RECORDER_STEP_S apart."""
    step_id = await _start(ctx)
    await asyncio.sleep(RECORDER_STEP_S)
    await _finish(ctx, step_id, "ok")


registry.service("test-recorder", interval_s=RECORDER_INTERVAL_S)(record)
failover_registry.service("test-recorder", interval_s=RECORDER_INTERVAL_S)(record)


@registry.service("test-wakeable", interval_s=3600, listen=WAKE_CHANNEL)
async def wakeable(ctx: ServiceContext) -> None:
    """Runs hourly, or when woken."""
    step_id = await _start(ctx)
    await _finish(ctx, step_id, "ok")


@registry.service("test-flaky", interval_s=0.3)
async def flaky(ctx: ServiceContext) -> None:
    """Fails while test_service_faults says so, then reports a lag."""
    step_id = await _start(ctx)
    async with ctx.resources.work.pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE test_service_faults SET failures_left = failures_left - 1"
            " WHERE service = %s AND failures_left > 0 RETURNING failures_left",
            (ctx.name,),
        )
        failing: Any = await cur.fetchone()
    if failing is not None:
        await _finish(ctx, step_id, "failed")
        raise Flaky(f"{failing[0]} more failures to go")
    ctx.set_lag(rows=FLAKY_LAG_ROWS, seconds=FLAKY_LAG_S)
    await _finish(ctx, step_id, "ok")


@registry.service("test-consumer", interval_s=0.3)
async def consumer(ctx: ServiceContext) -> None:
    """A change-log consumer that reads nothing and reports how far behind it is."""
    async with ctx.resources.db.connect() as conn:
        async with conn.begin():
            await changelog.load_cursor(conn, ctx.name)
        ctx.set_lag(**(await changelog.lag(conn, ctx.name)).report())


@registry.service("test-slow", interval_s=0.2)
async def slow(ctx: ServiceContext) -> None:
    """Takes SLOW_STEP_S, giving up early when asked to stop."""
    step_id = await _start(ctx)
    for _ in range(int(SLOW_STEP_S / 0.05)):
        if ctx.should_stop():
            await _finish(ctx, step_id, "stopped early")
            return
        await asyncio.sleep(0.05)
    await _finish(ctx, step_id, "ok")


@registry.service("test-stubborn", interval_s=3600)
async def stubborn(ctx: ServiceContext) -> None:
    """Sleeps for an hour and never looks at should_stop."""
    EVENTS.append((ctx.name, "started"))
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        EVENTS.append((ctx.name, "cancelled"))
        raise


@registry.service(
    "test-hanging",
    interval_s=0.3,
    step_timeout_s=HANG_TIMEOUT_S,
    backoff=RetryPolicy(backoff_s=HANG_BACKOFF_S, max_backoff_s=HANG_BACKOFF_S, jitter=0),
)
async def hanging(ctx: ServiceContext) -> None:
    """Hangs on its first step (until its timeout cancels it), then steps quickly."""
    step_id = await _start(ctx)
    if ctx.trigger is Trigger.TAKEOVER:
        EVENTS.append((ctx.name, "hanging"))
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            EVENTS.append((ctx.name, "cancelled"))
            raise
    await _finish(ctx, step_id, "ok")
