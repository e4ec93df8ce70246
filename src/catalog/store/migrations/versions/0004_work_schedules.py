"""Background work: recurring schedules and their slots.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = """
-- One row per recurring job (id = job name): its timing now, and the defaults from code and
-- settings it follows in every field an operator has not customised.
CREATE TABLE work_schedules (
    id                text PRIMARY KEY,
    task              text NOT NULL,
    cron              text NOT NULL,
    timezone          text NOT NULL,
    enabled           boolean NOT NULL,
    misfire           text NOT NULL CHECK (misfire IN ('run_once', 'skip')),
    default_cron      text NOT NULL,
    default_timezone  text NOT NULL,
    default_enabled   boolean NOT NULL,
    default_misfire   text NOT NULL CHECK (default_misfire IN ('run_once', 'skip')),
    -- Fields an operator set away from the default; start-up sync leaves them alone.
    customised        text[] NOT NULL DEFAULT '{}'
                      CHECK (customised <@ ARRAY['cron', 'timezone', 'enabled', 'misfire']),
    -- Its job is no longer declared: kept for its history, never fired.
    orphaned          boolean NOT NULL DEFAULT false,
    -- No slot at or before this fires: set on creation, enabling and re-timing.
    active_since      timestamptz NOT NULL DEFAULT now(),
    -- The latest cron slot dealt with (fired, caught up or recorded as missed).
    last_slot         timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    updated_by        text NOT NULL DEFAULT 'code'
);

-- One row per slot: claimed, enqueued and linked to its job in one transaction.
CREATE TABLE work_schedule_slots (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id   text NOT NULL REFERENCES work_schedules(id) ON DELETE CASCADE,
    slot          timestamptz NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('cron', 'catch_up', 'manual')),
    state         text NOT NULL CHECK (state IN (
                      'enqueued', 'running', 'succeeded', 'failed', 'cancelled', 'aborted',
                      'skipped', 'missed', 'deleted')),
    job_id        bigint REFERENCES procrastinate_jobs(id) ON DELETE SET NULL,
    -- A missed or catch-up row stands for the missed slots from this one up to `slot`.
    missed_since  timestamptz,
    detail        text,
    actor         text,
    claimed_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at    timestamptz,
    finished_at   timestamptz
);
-- Each scheduled slot exists once across all schedulers; manual runs are not slots of the cron.
CREATE UNIQUE INDEX work_schedule_slots_slot_key
    ON work_schedule_slots (schedule_id, slot) WHERE kind <> 'manual';
CREATE INDEX work_schedule_slots_recent_idx ON work_schedule_slots (schedule_id, claimed_at);
CREATE INDEX work_schedule_slots_job_idx ON work_schedule_slots (job_id);

-- A slot follows its job's state, and keeps the final one after retention prunes the job.
CREATE FUNCTION work_schedule_slot_follow_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE work_schedule_slots
       SET state = CASE NEW.status
                       WHEN 'todo' THEN 'enqueued'
                       WHEN 'doing' THEN 'running'
                       WHEN 'aborting' THEN 'running'
                       ELSE NEW.status::text END,
           started_at = CASE WHEN NEW.status = 'doing' THEN clock_timestamp()
                             ELSE started_at END,
           finished_at = CASE WHEN NEW.status IN ('todo', 'doing', 'aborting') THEN NULL
                              ELSE clock_timestamp() END
     WHERE job_id = NEW.id;
    RETURN NULL;
END $$;
-- Slot jobs always carry scheduled_at; other jobs skip the lookup.
CREATE TRIGGER work_schedule_slots_follow_job
    AFTER UPDATE OF status ON procrastinate_jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.args ? 'scheduled_at')
    EXECUTE FUNCTION work_schedule_slot_follow_job();

-- A job deleted before it finished leaves its slot saying so, not 'enqueued' forever.
CREATE FUNCTION work_schedule_slot_job_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE work_schedule_slots
       SET state = 'deleted', finished_at = coalesce(finished_at, clock_timestamp())
     WHERE job_id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER work_schedule_slots_job_deleted
    BEFORE DELETE ON procrastinate_jobs
    FOR EACH ROW WHEN (OLD.status IN ('todo', 'doing') AND OLD.args ? 'scheduled_at')
    EXECUTE FUNCTION work_schedule_slot_job_deleted();

-- Wake the schedulers when a schedule's timing changes (not on their own bookkeeping).
CREATE FUNCTION work_schedules_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalog_schedules', NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER work_schedules_inserted AFTER INSERT ON work_schedules
    FOR EACH ROW EXECUTE FUNCTION work_schedules_notify();
CREATE TRIGGER work_schedules_retimed AFTER UPDATE ON work_schedules
    FOR EACH ROW WHEN ((OLD.cron, OLD.timezone, OLD.enabled, OLD.misfire, OLD.orphaned,
                        OLD.active_since)
                       IS DISTINCT FROM
                       (NEW.cron, NEW.timezone, NEW.enabled, NEW.misfire, NEW.orphaned,
                        NEW.active_since))
    EXECUTE FUNCTION work_schedules_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS work_schedule_slots_follow_job ON procrastinate_jobs;
DROP TRIGGER IF EXISTS work_schedule_slots_job_deleted ON procrastinate_jobs;
DROP TABLE IF EXISTS work_schedule_slots, work_schedules;
DROP FUNCTION IF EXISTS work_schedule_slot_follow_job, work_schedule_slot_job_deleted,
    work_schedules_notify;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(DROP)
