"""Background work: worker registry, job journal (runs, logs, progress), deletion marks.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SCHEMA = """
-- Procrastinate knows a worker by a number; we add who and where it is. No foreign key: the
-- name must outlive Procrastinate's row (pruned once the worker dies) so that the journal can
-- say whose death lost a run. Rows of long-dead workers are pruned by the recovery sweep.
CREATE TABLE work_workers (
    id           bigint PRIMARY KEY,
    name         text NOT NULL,
    host         text NOT NULL,
    pid          integer NOT NULL,
    concurrency  integer NOT NULL,
    queues       text[],
    started_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per finished (or lost) run of a job: the journal.
CREATE TABLE work_job_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id         bigint NOT NULL REFERENCES procrastinate_jobs(id) ON DELETE CASCADE,
    attempt        integer NOT NULL,
    worker         text,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    outcome        text NOT NULL CHECK (outcome IN (
                       'succeeded', 'failed', 'retrying', 'timeout', 'cancelled',
                       'interrupted', 'crashed')),
    result         text,
    error_type     text,
    error_message  text,
    traceback      text,
    UNIQUE (job_id, attempt)
);
CREATE INDEX work_job_runs_finished_idx ON work_job_runs (finished_at);

CREATE TABLE work_job_logs (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id   bigint NOT NULL REFERENCES procrastinate_jobs(id) ON DELETE CASCADE,
    attempt  integer NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    level    text NOT NULL,
    message  text NOT NULL
);
CREATE INDEX work_job_logs_job_idx ON work_job_logs (job_id, id);

CREATE TABLE work_job_progress (
    job_id      bigint PRIMARY KEY REFERENCES procrastinate_jobs(id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    done        bigint NOT NULL,
    total       bigint,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Hangfire's "Deleted" state: the job stays visible, marked, until retention removes it.
CREATE TABLE work_job_deletions (
    job_id      bigint PRIMARY KEY REFERENCES procrastinate_jobs(id) ON DELETE CASCADE,
    deleted_at  timestamptz NOT NULL DEFAULT now()
);

-- Listing jobs by state/task with keyset paging, and finding finished jobs by age.
CREATE INDEX work_jobs_status_id_idx ON procrastinate_jobs (status, id);
CREATE INDEX work_jobs_task_id_idx ON procrastinate_jobs (task_name, id);
CREATE INDEX work_events_type_at_idx ON procrastinate_events (type, at);
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS work_jobs_status_id_idx, work_jobs_task_id_idx,
            work_events_type_at_idx;
        DROP TABLE IF EXISTS work_job_deletions, work_job_progress, work_job_logs,
            work_job_runs, work_workers;
        """
    )
