"""Prune finished jobs (with their journal, logs and events) once they are old enough."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool

# Final states, each with the event that records when it was reached.
SUCCEEDED = (("succeeded",), ("succeeded",))
FAILED = (("failed", "cancelled", "aborted"), ("failed", "cancelled", "aborted"))


@dataclasses.dataclass(frozen=True)
class Pruned:
    succeeded: int
    failed: int
    deleted: int

    def __str__(self) -> str:
        return f"succeeded={self.succeeded} failed={self.failed} deleted={self.deleted}"


async def prune(
    pool: psycopg_pool.AsyncConnectionPool[Any],
    *,
    succeeded_after: timedelta,
    failed_after: timedelta,
    batch_size: int,
    check_stop: Callable[[], None] = lambda: None,
) -> Pruned:
    """Delete finished jobs past retention, one short transaction per batch."""

    async def drain(step: Callable[[psycopg.AsyncConnection[Any]], Any]) -> int:
        total = 0
        while True:
            check_stop()
            async with pool.connection() as conn:
                n: int = await step(conn)
            total += n
            if n < batch_size:
                return total

    succeeded = await drain(
        lambda conn: prune_batch(
            conn,
            statuses=SUCCEEDED[0],
            events=SUCCEEDED[1],
            older_than=succeeded_after,
            batch_size=batch_size,
        )
    )
    failed = await drain(
        lambda conn: prune_batch(
            conn,
            statuses=FAILED[0],
            events=FAILED[1],
            older_than=failed_after,
            batch_size=batch_size,
        )
    )
    deleted = await drain(
        lambda conn: prune_deleted_batch(conn, older_than=succeeded_after, batch_size=batch_size)
    )
    return Pruned(succeeded=succeeded, failed=failed, deleted=deleted)


async def prune_batch(
    conn: psycopg.AsyncConnection[Any],
    *,
    statuses: tuple[str, ...],
    events: tuple[str, ...],
    older_than: timedelta,
    batch_size: int,
) -> int:
    """Delete up to `batch_size` jobs in `statuses` that reached them before `older_than` ago."""
    cur = await conn.execute(
        """
        DELETE FROM procrastinate_jobs WHERE id IN (
            SELECT e.job_id FROM procrastinate_events e
              JOIN procrastinate_jobs j ON j.id = e.job_id
             WHERE e.type = ANY(%(events)s::procrastinate_job_event_type[])
               AND e.at < now() - %(age)s
               AND j.status = ANY(%(statuses)s::procrastinate_job_status[])
             ORDER BY e.at
             LIMIT %(batch)s)
        """,
        {
            "events": list(events),
            "statuses": list(statuses),
            "age": older_than,
            "batch": batch_size,
        },
    )
    return cur.rowcount


async def prune_deleted_batch(
    conn: psycopg.AsyncConnection[Any], *, older_than: timedelta, batch_size: int
) -> int:
    """Delete up to `batch_size` jobs marked deleted before `older_than` ago (unless running)."""
    cur = await conn.execute(
        """
        DELETE FROM procrastinate_jobs WHERE id IN (
            SELECT d.job_id FROM work_job_deletions d
              JOIN procrastinate_jobs j ON j.id = d.job_id
             WHERE d.deleted_at < now() - %(age)s AND j.status <> 'doing'
             ORDER BY d.deleted_at
             LIMIT %(batch)s)
        """,
        {"age": older_than, "batch": batch_size},
    )
    return cur.rowcount
