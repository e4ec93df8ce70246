"""The job journal: one row per run, log lines and progress written by the job.

A run's row is written by the same statement that records the job's new status in Procrastinate
(`JournalingJobManager`), so the journal and the job never disagree and journaling costs no
extra round trip.
"""

from __future__ import annotations

import dataclasses
import traceback as tb
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from procrastinate.jobs import Status
from procrastinate.manager import JobManager

RESULT_MAX_CHARS = 2000
MESSAGE_MAX_CHARS = 4000
TRACEBACK_MAX_CHARS = 20000


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # and no attempt is left
    RETRYING = "retrying"  # failed, another attempt is scheduled
    TIMEOUT = "timeout"  # ran past its timeout (retried if attempts remain)
    CANCELLED = "cancelled"  # an operator asked it to stop
    INTERRUPTED = "interrupted"  # its worker shut down; requeued
    CRASHED = "crashed"  # its worker died; found by the recovery sweep


@dataclasses.dataclass(frozen=True)
class RunRecord:
    job_id: int
    attempt: int
    worker: str | None
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    result: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None

    @classmethod
    def failure(
        cls,
        error: BaseException,
        *,
        job_id: int,
        attempt: int,
        worker: str | None,
        started_at: datetime,
        finished_at: datetime,
        outcome: Outcome,
    ) -> RunRecord:
        return cls(
            job_id=job_id,
            attempt=attempt,
            worker=worker,
            started_at=started_at,
            finished_at=finished_at,
            outcome=outcome,
            error_type=type(error).__qualname__,
            error_message=str(error)[:MESSAGE_MAX_CHARS],
            traceback="".join(tb.format_exception(error))[-TRACEBACK_MAX_CHARS:],
        )


def summarise(result: Any) -> str | None:
    """A short text for the journal of whatever a job returned."""
    if result is None:
        return None
    return str(result)[:RESULT_MAX_CHARS]


# ON CONFLICT: the recovery sweep may have journaled this attempt as crashed while a worker
# that was only slow, not dead, went on to finish it; the worker knows better.
_INSERT_RUN = """
    INSERT INTO work_job_runs (job_id, attempt, worker, started_at, finished_at, outcome,
                               result, error_type, error_message, traceback)
    VALUES (%(job_id)s, %(attempt)s, %(worker)s, %(started_at)s, %(finished_at)s,
            %(outcome)s, %(result)s, %(error_type)s, %(error_message)s, %(traceback)s)
    ON CONFLICT (job_id, attempt) DO UPDATE SET
        worker = EXCLUDED.worker, started_at = EXCLUDED.started_at,
        finished_at = EXCLUDED.finished_at, outcome = EXCLUDED.outcome,
        result = EXCLUDED.result, error_type = EXCLUDED.error_type,
        error_message = EXCLUDED.error_message, traceback = EXCLUDED.traceback
"""
_FINISH_WITH_RUN = f"""
    WITH run AS ({_INSERT_RUN})
    SELECT procrastinate_finish_job_v1(%(job_id)s, %(status)s, false)
"""
_RETRY_WITH_RUN = f"""
    WITH run AS ({_INSERT_RUN})
    SELECT procrastinate_retry_job_v2(%(job_id)s, %(retry_at)s, %(new_priority)s,
                                      %(new_queue_name)s, %(new_lock)s)
"""


def _run_params(run: RunRecord) -> dict[str, Any]:
    return dataclasses.asdict(run) | {"outcome": str(run.outcome)}


class JournalingJobManager(JobManager):
    """Procrastinate's job manager, writing each run's journal row with the job's new status.

    The runner leaves the finished run in `pending`; the worker then finishes or retries the
    job, and this manager does both in one statement.
    """

    def __init__(self, connector: Any) -> None:
        super().__init__(connector)
        self.pending: dict[int, RunRecord] = {}

    async def finish_job_by_id_async(self, job_id: int, status: Status, delete_job: bool) -> None:
        run = self.pending.pop(job_id, None)
        if run is None or delete_job:
            await super().finish_job_by_id_async(job_id, status, delete_job)
            return
        await self.connector.execute_query_async(
            _FINISH_WITH_RUN, **_run_params(run), status=status.value
        )

    async def retry_job_by_id_async(
        self,
        job_id: int,
        retry_at: datetime,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        run = self.pending.pop(job_id, None)
        if run is None:
            await super().retry_job_by_id_async(job_id, retry_at, priority, queue, lock)
            return
        await self.connector.execute_query_async(
            _RETRY_WITH_RUN,
            **_run_params(run),
            retry_at=retry_at,
            new_priority=priority,
            new_queue_name=queue,
            new_lock=lock,
        )


# Runs that ended through no fault of the job; they spend none of its retry policy's attempts.
LOST_OUTCOMES = (Outcome.CRASHED, Outcome.INTERRUPTED)


async def lost_runs(conn: psycopg.AsyncConnection[Any], job_id: int) -> int:
    """How many runs of the job so far its worker lost: crashed or interrupted by a shutdown."""
    cur = await conn.execute(
        "SELECT count(*) FROM work_job_runs WHERE job_id = %s AND outcome = ANY(%s)",
        (job_id, [str(o) for o in LOST_OUTCOMES]),
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def write_log(
    conn: psycopg.AsyncConnection[Any], *, job_id: int, attempt: int, level: str, message: str
) -> None:
    await conn.execute(
        "INSERT INTO work_job_logs (job_id, attempt, level, message) VALUES (%s, %s, %s, %s)",
        (job_id, attempt, level, message[:MESSAGE_MAX_CHARS]),
    )


async def write_progress(
    conn: psycopg.AsyncConnection[Any],
    *,
    job_id: int,
    attempt: int,
    done: int,
    total: int | None,
) -> None:
    await conn.execute(
        """
        INSERT INTO work_job_progress (job_id, attempt, done, total)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (job_id) DO UPDATE SET attempt = EXCLUDED.attempt, done = EXCLUDED.done,
            total = EXCLUDED.total, updated_at = clock_timestamp()
        """,
        (job_id, attempt, done, total),
    )
