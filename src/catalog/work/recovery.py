"""Give jobs of dead workers back to the living.

A Procrastinate worker that is SIGKILLed leaves its job in `doing` forever. Every worker process
sweeps, without any lock (Procrastinate #1408: a locked recovery task can itself get stuck),
for `doing` jobs whose worker stopped heart-beating or no longer exists at all (#1518: once a
dead worker's row is pruned, its jobs lose their worker id). A crash is not the job's failure:
it is journaled as `crashed` and the job is requeued at once, whatever its retry policy, without
spending an attempt. Crashes have a budget of their own (`crash_budget`, per declaration): the
crash that uses it up ends the job failed, so a job that kills its worker every time does not
loop. The sweep locks each job row (SKIP LOCKED) and re-checks its state, so concurrent
sweepers never requeue a job twice.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from catalog.work.declarations import JobDefinition
from catalog.work.journal import Outcome, RunRecord
from catalog.work.policy import DEFAULT_CRASH_BUDGET

log = logging.getLogger(__name__)

SWEEP_BATCH = 100


@dataclasses.dataclass(frozen=True)
class Recovered:
    job_id: int
    task: str
    requeued: bool  # False: failed for good (its crash budget used up), or cancelled
    crash: int  # this crash's number, counting the job's earlier ones
    crash_budget: int


DEAD_WORKER_MEMORY = "1 day"  # how long a dead worker's name is kept for the journal


async def prune_dead_workers(conn: psycopg.AsyncConnection[Any], *, stalled_after_s: float) -> int:
    """Forget workers silent for `stalled_after_s`; their names stay a while for the journal."""
    cur = await conn.execute(
        "DELETE FROM procrastinate_workers"
        " WHERE last_heartbeat < now() - make_interval(secs => %s)",
        (stalled_after_s,),
    )
    await conn.execute(
        "DELETE FROM work_workers w WHERE started_at < now() - %s::interval"
        " AND NOT EXISTS (SELECT 1 FROM procrastinate_workers p WHERE p.id = w.id)",
        (DEAD_WORKER_MEMORY,),
    )
    return cur.rowcount


async def sweep(
    conn: psycopg.AsyncConnection[Any],
    definitions: Mapping[str, JobDefinition],
    *,
    stalled_after_s: float,
) -> list[Recovered]:
    """Requeue or fail the jobs of dead workers, in the caller's transaction."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT j.id, j.task_name, j.attempts, j.abort_requested, w.name AS worker,
               (SELECT max(e.at) FROM procrastinate_events e
                 WHERE e.job_id = j.id AND e.type = 'started') AS started_at,
               (SELECT count(*) FROM work_job_runs r
                 WHERE r.job_id = j.id AND r.outcome = %s) AS crashes
          FROM procrastinate_jobs j
          LEFT JOIN procrastinate_workers pw ON pw.id = j.worker_id
          LEFT JOIN work_workers w ON w.id = j.worker_id
         WHERE j.status = 'doing'
           AND (pw.id IS NULL OR pw.last_heartbeat < now() - make_interval(secs => %s))
         ORDER BY j.id
         LIMIT %s
           FOR UPDATE OF j SKIP LOCKED
        """,
        (str(Outcome.CRASHED), stalled_after_s, SWEEP_BATCH),
    )
    recovered: list[Recovered] = []
    now = datetime.now(UTC)
    for row in await cur.fetchall():
        attempt = row["attempts"] + 1
        definition = definitions.get(row["task_name"])
        budget = definition.policy.crash_budget if definition else DEFAULT_CRASH_BUDGET
        crash = row["crashes"] + 1
        # An operator's cancel outlives the worker: the job ends cancelled, not rerun.
        cancelled = bool(row["abort_requested"])
        requeue = crash < budget and not cancelled
        # Whatever happens the run counts in `attempts` (it is the journal's key); the retry
        # policy leaves crashed runs out (journal.lost_runs).
        if requeue:
            await conn.execute(
                "UPDATE procrastinate_jobs SET status = 'todo', attempts = attempts + 1,"
                " worker_id = NULL, abort_requested = false, scheduled_at = %s WHERE id = %s",
                (now, row["id"]),
            )
        else:
            await conn.execute(
                "UPDATE procrastinate_jobs SET status = %s, attempts = attempts + 1,"
                " abort_requested = false WHERE id = %s",
                ("aborted" if cancelled else "failed", row["id"]),
            )
        if cancelled:
            verdict = "it was being cancelled: cancelled"
        else:
            verdict = "requeued" if requeue else "crash budget used up: failed"
        lost = WorkerLost(
            f"worker {row['worker'] or 'unknown'} stopped during attempt {attempt}"
            f" (crash {crash} of {budget}); {verdict}"
        )
        await _journal_lost_run(conn, row, attempt, lost, now)
        recovered.append(
            Recovered(
                job_id=row["id"],
                task=row["task_name"],
                requeued=requeue,
                crash=crash,
                crash_budget=budget,
            )
        )
    for item in recovered:
        log.warning(
            "recovered job %s (%s) from a dead worker, crash %d of %d: %s",
            item.job_id,
            item.task,
            item.crash,
            item.crash_budget,
            "requeued" if item.requeued else "not requeued (see its journal)",
        )
    return recovered


async def _journal_lost_run(
    conn: psycopg.AsyncConnection[Any],
    row: dict[str, Any],
    attempt: int,
    lost: WorkerLost,
    now: datetime,
) -> None:
    run = RunRecord(
        job_id=row["id"],
        attempt=attempt,
        worker=row["worker"],
        started_at=row["started_at"] or now,
        finished_at=now,
        outcome=Outcome.CRASHED,
        error_type=type(lost).__qualname__,
        error_message=str(lost),
    )
    # A run the worker journaled itself before dying is the better record: keep it.
    await conn.execute(
        """
        INSERT INTO work_job_runs (job_id, attempt, worker, started_at, finished_at, outcome,
                                   error_type, error_message)
        VALUES (%(job_id)s, %(attempt)s, %(worker)s, %(started_at)s, %(finished_at)s,
                %(outcome)s, %(error_type)s, %(error_message)s)
        ON CONFLICT (job_id, attempt) DO NOTHING
        """,
        {
            "job_id": run.job_id,
            "attempt": run.attempt,
            "worker": run.worker,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "outcome": str(run.outcome),
            "error_type": run.error_type,
            "error_message": run.error_message,
        },
    )


class WorkerLost(Exception):
    """The worker running a job stopped heart-beating: killed, frozen or cut off."""
