"""Read models of the background work for the management API, the CLI and the dashboard.

Procrastinate's statuses map onto the vocabulary Hangfire users know:

    todo (due)        -> enqueued      succeeded           -> succeeded
    todo (future)     -> scheduled     failed              -> failed
    doing             -> processing    cancelled, aborted  -> cancelled
    any, marked deleted in work_job_deletions              -> deleted
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from catalog.domain.errors import NotFound

THROUGHPUT_WINDOW_MIN = 60
LOG_LINES_MAX = 1000


class JobState(StrEnum):
    ENQUEUED = "enqueued"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELETED = "deleted"


class JobNotFound(NotFound):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


# The WHERE clause selecting each state; `d` is the deletion mark joined to job `j`.
_STATE_FILTERS: dict[JobState, str] = {
    JobState.ENQUEUED: "j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
    " AND d.job_id IS NULL",
    JobState.SCHEDULED: "j.status = 'todo' AND j.scheduled_at > now() AND d.job_id IS NULL",
    JobState.PROCESSING: "j.status = 'doing' AND d.job_id IS NULL",
    JobState.SUCCEEDED: "j.status = 'succeeded' AND d.job_id IS NULL",
    JobState.FAILED: "j.status = 'failed' AND d.job_id IS NULL",
    JobState.CANCELLED: "j.status IN ('cancelled', 'aborted', 'aborting') AND d.job_id IS NULL",
    JobState.DELETED: "d.job_id IS NOT NULL",
}

_STATE_OF = """
    CASE
        WHEN d.job_id IS NOT NULL THEN 'deleted'
        WHEN j.status = 'todo' AND j.scheduled_at > now() THEN 'scheduled'
        WHEN j.status = 'todo' THEN 'enqueued'
        WHEN j.status = 'doing' THEN 'processing'
        WHEN j.status IN ('cancelled', 'aborted', 'aborting') THEN 'cancelled'
        ELSE j.status::text
    END
"""

_JOB_COLUMNS = f"""
    j.id, j.task_name, j.queue_name, j.status::text AS raw_status, j.args, j.attempts,
    j.priority, j.lock, j.scheduled_at, j.abort_requested, {_STATE_OF} AS state,
    d.deleted_at, s.schedule_id AS recurring_id, s.slot,
    w.name AS worker,
    r.started_at AS run_started_at, r.finished_at AS run_finished_at, r.outcome,
    r.error_type, r.error_message,
    (SELECT max(e.at) FROM procrastinate_events e
      WHERE e.job_id = j.id AND e.type = 'started') AS started_event_at,
    (SELECT min(e.at) FROM procrastinate_events e
      WHERE e.job_id = j.id AND e.type = 'deferred') AS created_at
"""  # noqa: S608 - built from constants only

_JOB_JOINS = """
    LEFT JOIN work_job_deletions d ON d.job_id = j.id
    LEFT JOIN work_schedule_slots s ON s.job_id = j.id
    LEFT JOIN work_workers w ON w.id = j.worker_id
    LEFT JOIN LATERAL (
        SELECT started_at, finished_at, outcome, error_type, error_message
          FROM work_job_runs WHERE job_id = j.id ORDER BY attempt DESC LIMIT 1
    ) r ON true
"""


@dataclasses.dataclass(frozen=True)
class Job:
    id: int
    task: str
    queue: str
    state: JobState
    args: dict[str, Any]
    attempts: int
    priority: int
    lock: str | None
    created_at: datetime | None
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    error: str | None
    worker: str | None
    recurring_id: str | None
    slot: datetime | None
    cancel_requested: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        state = JobState(row["state"])
        running = state is JobState.PROCESSING
        started_at = row["started_event_at"] if running else row["run_started_at"]
        finished_at = None if running else row["run_finished_at"]
        if row["raw_status"] == "todo":
            # Waiting for a retry: the last run's times describe the past attempt only.
            started_at = finished_at = None
        duration = (
            (finished_at - started_at).total_seconds() if started_at and finished_at else None
        )
        error = None
        if row["error_type"] and row["outcome"] != "succeeded":
            error = f"{row['error_type']}: {row['error_message'] or ''}".rstrip(": ")
        return cls(
            id=row["id"],
            task=row["task_name"],
            queue=row["queue_name"],
            state=state,
            args=row["args"] or {},
            attempts=row["attempts"],
            priority=row["priority"],
            lock=row["lock"],
            created_at=row["created_at"],
            scheduled_at=row["scheduled_at"],
            started_at=started_at,
            finished_at=finished_at,
            duration_s=duration,
            error=error,
            worker=row["worker"],
            recurring_id=row["recurring_id"],
            slot=row["slot"],
            cancel_requested=row["abort_requested"],
        )


@dataclasses.dataclass(frozen=True)
class Run:
    attempt: int
    worker: str | None
    started_at: datetime
    finished_at: datetime
    duration_s: float
    outcome: str
    result: str | None
    error_type: str | None
    error_message: str | None
    traceback: str | None


@dataclasses.dataclass(frozen=True)
class LogLine:
    at: datetime
    attempt: int
    level: str
    message: str


@dataclasses.dataclass(frozen=True)
class Progress:
    attempt: int
    done: int
    total: int | None
    updated_at: datetime


@dataclasses.dataclass(frozen=True)
class JobDetail:
    job: Job
    runs: list[Run]
    logs: list[LogLine]
    progress: Progress | None


@dataclasses.dataclass(frozen=True)
class JobPage:
    items: list[Job]
    next_before_id: int | None


async def list_jobs(
    conn: psycopg.AsyncConnection[Any],
    *,
    state: JobState | None = None,
    task: str | None = None,
    queue: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> JobPage:
    """Jobs newest first, filtered, one keyset page at a time."""
    conditions = [sql.SQL(_STATE_FILTERS[state]) if state else sql.SQL("true")]
    params: dict[str, Any] = {"limit": limit + 1}
    if task is not None:
        conditions.append(sql.SQL("j.task_name = %(task)s"))
        params["task"] = task
    if queue is not None:
        conditions.append(sql.SQL("j.queue_name = %(queue)s"))
        params["queue"] = queue
    if before_id is not None:
        conditions.append(sql.SQL("j.id < %(before)s"))
        params["before"] = before_id
    query = sql.SQL(
        "SELECT {columns} FROM procrastinate_jobs j {joins} WHERE {where}"
        " ORDER BY j.id DESC LIMIT %(limit)s"
    ).format(
        columns=sql.SQL(_JOB_COLUMNS),
        joins=sql.SQL(_JOB_JOINS),
        where=sql.SQL(" AND ").join(conditions),
    )
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(query, params)
    rows = await cur.fetchall()
    items = [Job.from_row(row) for row in rows[:limit]]
    next_before = items[-1].id if len(rows) > limit and items else None
    return JobPage(items=items, next_before_id=next_before)


async def get_job(conn: psycopg.AsyncConnection[Any], job_id: int) -> Job:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        sql.SQL("SELECT {columns} FROM procrastinate_jobs j {joins} WHERE j.id = %s").format(
            columns=sql.SQL(_JOB_COLUMNS), joins=sql.SQL(_JOB_JOINS)
        ),
        (job_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return Job.from_row(row)


async def get_job_detail(conn: psycopg.AsyncConnection[Any], job_id: int) -> JobDetail:
    """The job with its journal: every run, its log lines and its latest progress."""
    job = await get_job(conn, job_id)
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT attempt, worker, started_at, finished_at, outcome, result, error_type,"
        " error_message, traceback FROM work_job_runs WHERE job_id = %s ORDER BY attempt",
        (job_id,),
    )
    runs = [
        Run(duration_s=(r["finished_at"] - r["started_at"]).total_seconds(), **r)
        for r in await cur.fetchall()
    ]
    await cur.execute(
        "SELECT at, attempt, level, message FROM ("
        "  SELECT * FROM work_job_logs WHERE job_id = %s ORDER BY id DESC LIMIT %s"
        ") latest ORDER BY id",
        (job_id, LOG_LINES_MAX),
    )
    logs = [LogLine(**r) for r in await cur.fetchall()]
    await cur.execute(
        "SELECT attempt, done, total, updated_at FROM work_job_progress WHERE job_id = %s",
        (job_id,),
    )
    progress_row = await cur.fetchone()
    progress = Progress(**progress_row) if progress_row else None
    return JobDetail(job=job, runs=runs, logs=logs, progress=progress)


@dataclasses.dataclass(frozen=True)
class Worker:
    id: int
    name: str
    host: str
    pid: int
    concurrency: int
    queues: list[str] | None
    started_at: datetime
    last_heartbeat: datetime
    heartbeat_age_s: float
    running_jobs: int


async def list_workers(conn: psycopg.AsyncConnection[Any]) -> list[Worker]:
    """Registered workers with their last heartbeat, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT w.id, w.name, w.host, w.pid, w.concurrency, w.queues, w.started_at,
               p.last_heartbeat,
               extract(epoch FROM now() - p.last_heartbeat)::float AS heartbeat_age_s,
               (SELECT count(*) FROM procrastinate_jobs j
                 WHERE j.worker_id = w.id AND j.status = 'doing')::int AS running_jobs
          FROM work_workers w JOIN procrastinate_workers p ON p.id = w.id
         ORDER BY w.started_at DESC, w.id DESC
        """
    )
    return [Worker(**row) for row in await cur.fetchall()]


@dataclasses.dataclass(frozen=True)
class MinuteThroughput:
    minute: datetime
    succeeded: int
    failed: int


@dataclasses.dataclass(frozen=True)
class Stats:
    counts: dict[JobState, int]
    throughput: list[MinuteThroughput]  # the last hour, oldest first, every minute present
    workers: int


async def stats(conn: psycopg.AsyncConnection[Any]) -> Stats:
    """Job counts per state and finished jobs per minute over the last hour."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"""
        SELECT {_STATE_OF} AS state, count(*)::int AS n
          FROM procrastinate_jobs j LEFT JOIN work_job_deletions d ON d.job_id = j.id
         GROUP BY 1
        """  # noqa: S608 - constant SQL
    )
    counts = {state: 0 for state in JobState}
    for row in await cur.fetchall():
        counts[JobState(row["state"])] += row["n"]
    await cur.execute(
        """
        SELECT minute,
               count(e.job_id) FILTER (WHERE e.type = 'succeeded')::int AS succeeded,
               count(e.job_id) FILTER (WHERE e.type = 'failed')::int AS failed
          FROM generate_series(
                   date_trunc('minute', now()) - make_interval(mins => %(window)s - 1),
                   date_trunc('minute', now()), interval '1 minute') AS minute
          LEFT JOIN procrastinate_events e
                 ON e.type IN ('succeeded', 'failed')
                AND e.at >= minute AND e.at < minute + interval '1 minute'
         GROUP BY minute ORDER BY minute
        """,
        {"window": THROUGHPUT_WINDOW_MIN},
    )
    throughput = [MinuteThroughput(**row) for row in await cur.fetchall()]
    await cur.execute("SELECT count(*)::int AS n FROM work_workers")
    workers = await cur.fetchone()
    return Stats(counts=counts, throughput=throughput, workers=workers["n"] if workers else 0)
