"""Reads the dashboard needs beyond the management API's: bounded counts, daily throughput.

A page view never counts the whole job table: each state is counted up to `COUNT_CAP` rows
through the (status, id) index and shown as "1,000+" beyond it (`/metrics` has exact counts).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from catalog.work.monitor import JobState

COUNT_CAP = 1_000
DAYS = 30
BULK_MAX = 1_000

# Procrastinate statuses behind each state; deleted ones are subtracted via their marks.
_STATUSES: dict[JobState, tuple[str, ...]] = {
    JobState.PROCESSING: ("doing",),
    JobState.SUCCEEDED: ("succeeded",),
    JobState.FAILED: ("failed",),
    JobState.CANCELLED: ("cancelled", "aborted", "aborting"),
}


@dataclasses.dataclass(frozen=True)
class Count:
    n: int
    capped: bool

    def __str__(self) -> str:
        return f"{COUNT_CAP:,}+" if self.capped else f"{self.n:,}"


async def state_counts(conn: psycopg.AsyncConnection[Any]) -> dict[JobState, Count]:
    """Jobs per state, each counted up to COUNT_CAP."""
    cap = COUNT_CAP + 1
    parts = [
        sql.SQL(
            "(SELECT count(*) FROM (SELECT 1 FROM procrastinate_jobs j"
            " WHERE j.status = ANY({statuses}::procrastinate_job_status[])"
            " AND NOT EXISTS (SELECT 1 FROM work_job_deletions d WHERE d.job_id = j.id)"
            " LIMIT {cap}) x) AS {name}"
        ).format(
            statuses=sql.Literal(list(statuses)), cap=sql.Literal(cap), name=sql.Identifier(state)
        )
        for state, statuses in _STATUSES.items()
    ]
    parts.append(
        sql.SQL(
            "(SELECT count(*) FROM (SELECT 1 FROM procrastinate_jobs j"
            " WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
            " AND NOT EXISTS (SELECT 1 FROM work_job_deletions d WHERE d.job_id = j.id)"
            " LIMIT {cap}) x) AS enqueued,"
            " (SELECT count(*) FROM (SELECT 1 FROM procrastinate_jobs j"
            " WHERE j.status = 'todo' AND j.scheduled_at > now()"
            " AND NOT EXISTS (SELECT 1 FROM work_job_deletions d WHERE d.job_id = j.id)"
            " LIMIT {cap}) x) AS scheduled,"
            " (SELECT count(*) FROM (SELECT 1 FROM work_job_deletions LIMIT {cap}) x) AS deleted"
        ).format(cap=sql.Literal(cap))
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(sql.SQL("SELECT ") + sql.SQL(", ").join(parts))
    row = await cur.fetchone()
    assert row is not None
    return {
        state: Count(n=min(row[state.value], COUNT_CAP), capped=row[state.value] > COUNT_CAP)
        for state in JobState
    }


@dataclasses.dataclass(frozen=True)
class DayThroughput:
    day: datetime
    succeeded: int
    failed: int


async def _days(
    conn: psycopg.AsyncConnection[Any], *, first: datetime, days: int
) -> list[DayThroughput]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT day,
               coalesce(sum(n) FILTER (WHERE type = 'succeeded'), 0)::int AS succeeded,
               coalesce(sum(n) FILTER (WHERE type = 'failed'), 0)::int AS failed
          FROM generate_series(%(first)s::timestamptz,
                               %(first)s::timestamptz + make_interval(days => %(days)s - 1),
                               interval '1 day') AS day
          LEFT JOIN (
              SELECT date_trunc('day', at) AS at_day, type::text AS type, count(*) AS n
                FROM procrastinate_events
               WHERE type IN ('succeeded', 'failed')
                 AND at >= %(first)s AND at < %(first)s + make_interval(days => %(days)s)
               GROUP BY 1, 2
          ) e ON e.at_day = day
         GROUP BY day ORDER BY day
        """,
        {"first": first, "days": days},
    )
    return [DayThroughput(**row) for row in await cur.fetchall()]


class DailyHistory:
    """Jobs finished per day for the last DAYS days (as far back as retention keeps jobs).

    Past days no longer change, so they are read once a day per process and kept; only today
    is read on every view (a month of events is millions of rows: too many per page view).
    """

    def __init__(self) -> None:
        self._today: datetime | None = None
        self._past: list[DayThroughput] = []

    async def read(self, conn: psycopg.AsyncConnection[Any]) -> list[DayThroughput]:
        cur = await conn.execute("SELECT date_trunc('day', now())")
        row = await cur.fetchone()
        assert row is not None
        today: datetime = row[0]
        if today != self._today:
            self._past = await _days(conn, first=today - timedelta(days=DAYS - 1), days=DAYS - 1)
            self._today = today
        return self._past + await _days(conn, first=today, days=1)


async def queue_depths(conn: psycopg.AsyncConnection[Any]) -> dict[str, int]:
    """Jobs due and waiting, per queue."""
    cur = await conn.execute(
        "SELECT queue_name, count(*)::int FROM procrastinate_jobs"
        " WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())"
        " GROUP BY 1 ORDER BY 1"
    )
    return {queue: n for queue, n in await cur.fetchall()}


@dataclasses.dataclass(frozen=True)
class MinuteThroughput:
    minute: datetime
    succeeded: int
    failed: int


async def minute_throughput(conn: psycopg.AsyncConnection[Any]) -> list[MinuteThroughput]:
    """Jobs finished per minute over the last hour, every minute present."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT minute,
               coalesce(sum(n) FILTER (WHERE type = 'succeeded'), 0)::int AS succeeded,
               coalesce(sum(n) FILTER (WHERE type = 'failed'), 0)::int AS failed
          FROM generate_series(date_trunc('minute', now()) - interval '59 minutes',
                               date_trunc('minute', now()), interval '1 minute') AS minute
          LEFT JOIN (
              SELECT date_trunc('minute', at) AS at_minute, type::text AS type, count(*) AS n
                FROM procrastinate_events
               WHERE type IN ('succeeded', 'failed')
                 AND at >= date_trunc('minute', now()) - interval '59 minutes'
               GROUP BY 1, 2
          ) e ON e.at_minute = minute
         GROUP BY minute ORDER BY minute
        """
    )
    return [MinuteThroughput(**row) for row in await cur.fetchall()]


async def running_jobs(conn: psycopg.AsyncConnection[Any]) -> dict[int, list[int]]:
    """The ids of the jobs each worker runs now, by worker id."""
    cur = await conn.execute(
        "SELECT worker_id, array_agg(id ORDER BY id) FROM procrastinate_jobs"
        " WHERE status = 'doing' AND worker_id IS NOT NULL GROUP BY 1"
    )
    return {worker_id: ids for worker_id, ids in await cur.fetchall()}
