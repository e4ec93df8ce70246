"""A lock means "never two runs at once": a job that is not due yet holds nothing.

Revision ID: 0010
Revises: 0011

Procrastinate's fetch (`procrastinate_fetch_job_v2`, Procrastinate 3.10) passes over a job while
any earlier `todo` job with the same lock waits, whatever that job's `scheduled_at` (upstream
issue #1599): a job delayed by an hour, or backing off before a retry, blocks its lock's other
runs for that long. This revision replaces the function with one where only a due `todo` job
(no `scheduled_at`, or one in the past) is ahead in line. Among due jobs nothing changes: a
running job still blocks its lock, and due jobs still run one at a time by priority, then id
(the unique index on `lock` for `doing` jobs keeps two runs from ever overlapping). Downgrading
restores Procrastinate's function as shipped.

An upgrade of Procrastinate that ships its own `procrastinate_fetch_job_v2` must be checked
against this one.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None

# Procrastinate 3.10's function as in its schema.sql (a test checks it), with the condition on
# an earlier waiting job left open.
_FETCH_JOB = """
CREATE OR REPLACE FUNCTION procrastinate_fetch_job_v2(
    target_queue_names character varying[],
    p_worker_id bigint
)
    RETURNS procrastinate_jobs
    LANGUAGE plpgsql
AS $$
DECLARE
	found_jobs procrastinate_jobs;
BEGIN
    WITH candidate AS (
        SELECT jobs.*
            FROM procrastinate_jobs AS jobs
            WHERE
                -- reject the job if its lock has earlier or higher priority jobs
                NOT EXISTS (
                    SELECT 1
                        FROM procrastinate_jobs AS other_jobs
                        WHERE
                            jobs.lock IS NOT NULL
                            AND other_jobs.lock = jobs.lock
                            AND (
                                -- job with same lock is already running
                                other_jobs.status = 'doing'
                                OR
                                -- job with same lock is waiting and has higher priority (or same priority but was queued first)
                                (
                                    {waiting}
                                    AND (
                                        other_jobs.priority > jobs.priority
                                        OR (
                                        other_jobs.priority = jobs.priority
                                        AND other_jobs.id < jobs.id
                                        )
                                    )
                                )
                            )
                )
                AND jobs.status = 'todo'
                AND (target_queue_names IS NULL OR jobs.queue_name = ANY( target_queue_names ))
                AND (jobs.scheduled_at IS NULL OR jobs.scheduled_at <= now())
            ORDER BY jobs.priority DESC, jobs.id ASC LIMIT 1
            FOR UPDATE OF jobs SKIP LOCKED
    )
    UPDATE procrastinate_jobs
        SET status = 'doing', worker_id = p_worker_id
        FROM candidate
        WHERE procrastinate_jobs.id = candidate.id
        RETURNING procrastinate_jobs.* INTO found_jobs;

 RETURN found_jobs;
END;
$$;
"""  # noqa: E501 - verbatim from Procrastinate, so that the downgrade restores it exactly

SHIPPED_WAITING = "other_jobs.status = 'todo'"
DUE_WAITING = (
    "other_jobs.status = 'todo'\n"
    "                                    -- and due: a job waiting for later holds no lock\n"
    "                                    AND (other_jobs.scheduled_at IS NULL"
    " OR other_jobs.scheduled_at <= now())"
)


def fetch_job_function(*, locks_when_due: bool) -> str:
    """The fetch function's definition: ours, or Procrastinate's as shipped."""
    return _FETCH_JOB.format(waiting=DUE_WAITING if locks_when_due else SHIPPED_WAITING)


def upgrade() -> None:
    op.execute(fetch_job_function(locks_when_due=True))


def downgrade() -> None:
    op.execute(fetch_job_function(locks_when_due=False))
