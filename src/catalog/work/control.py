"""Operator actions on jobs: retry, cancel, delete. Each runs in the caller's transaction."""

from __future__ import annotations

from typing import Any

import psycopg

from catalog.domain.errors import IllegalTransition
from catalog.work import monitor
from catalog.work.monitor import Job, JobState

RETRYABLE = {JobState.FAILED, JobState.CANCELLED, JobState.SUCCEEDED, JobState.DELETED}
CANCELLABLE = {JobState.ENQUEUED, JobState.SCHEDULED, JobState.PROCESSING}


async def _locked_job(conn: psycopg.AsyncConnection[Any], job_id: int) -> tuple[Job, str]:
    """The job and Procrastinate's status of it, its row locked so that neither changes."""
    cur = await conn.execute(
        "SELECT status::text FROM procrastinate_jobs WHERE id = %s FOR UPDATE", (job_id,)
    )
    row = await cur.fetchone()
    job = await monitor.get_job(conn, job_id)  # raises JobNotFound
    assert row is not None
    return job, row[0]


async def retry(conn: psycopg.AsyncConnection[Any], job_id: int) -> Job:
    """Run a finished (or deleted) job once more, now; its journal keeps the earlier runs."""
    job, status = await _locked_job(conn, job_id)
    if job.state not in RETRYABLE or status in ("todo", "doing"):
        # A deleted job may still be waiting or running (being stopped): not finished yet.
        shown = job.state if status not in ("todo", "doing") else f"{job.state} but still {status}"
        raise IllegalTransition(f"job {job_id} is {shown}; only finished jobs can be retried")
    await conn.execute("DELETE FROM work_job_deletions WHERE job_id = %s", (job_id,))
    await conn.execute(
        "UPDATE procrastinate_jobs SET status = 'todo', scheduled_at = NULL, worker_id = NULL,"
        " abort_requested = false WHERE id = %s",
        (job_id,),
    )
    return await monitor.get_job(conn, job_id)


async def cancel(conn: psycopg.AsyncConnection[Any], job_id: int) -> Job:
    """Cancel a waiting job, or ask a running one to stop (it ends as cancelled)."""
    job, _ = await _locked_job(conn, job_id)
    if job.state not in CANCELLABLE:
        raise IllegalTransition(f"job {job_id} is {job.state}; there is nothing to cancel")
    await _stop(conn, job)
    return await monitor.get_job(conn, job_id)


async def delete(conn: psycopg.AsyncConnection[Any], job_id: int) -> Job:
    """Mark a job deleted (cancelling or stopping it first); retention removes it later."""
    job, _ = await _locked_job(conn, job_id)
    if job.state in CANCELLABLE:
        await _stop(conn, job)
    await conn.execute(
        "INSERT INTO work_job_deletions (job_id) VALUES (%s) ON CONFLICT DO NOTHING", (job_id,)
    )
    return await monitor.get_job(conn, job_id)


async def _stop(conn: psycopg.AsyncConnection[Any], job: Job) -> None:
    if job.state is JobState.PROCESSING:
        # The worker hears of it by NOTIFY (or its next poll) and cancels the run.
        await conn.execute(
            "UPDATE procrastinate_jobs SET abort_requested = true WHERE id = %s", (job.id,)
        )
    else:
        await conn.execute(
            "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE id = %s AND status = 'todo'",
            (job.id,),
        )
