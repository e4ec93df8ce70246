"""Background work: background services and their status.

Revision ID: 0005
Revises: 0004

Who leads a service is decided by a session advisory lock, not by this table; the table is
what the leader reports (see catalog.work.services). 'stale' is never stored: readers derive
it from an old `heartbeat_at`.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE work_services (
    name                  text PRIMARY KEY,
    state                 text NOT NULL DEFAULT 'stopped'
                          CHECK (state IN ('running', 'idle', 'backing_off', 'stopped')),
    leader                text,  -- the instance leading it now (host:pid); NULL when stopped
    leader_since          timestamptz,
    last_leader           text,
    -- As declared by the code of the instance that wrote the row last.
    interval_s            double precision NOT NULL CHECK (interval_s > 0),
    listen                text,
    summary               text NOT NULL DEFAULT '',
    runs                  bigint NOT NULL DEFAULT 0,  -- steps finished, failed ones included
    failures              bigint NOT NULL DEFAULT 0,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    last_started_at       timestamptz,
    last_finished_at      timestamptz,
    last_duration_s       double precision,
    last_success          timestamptz,
    last_error_type       text,
    last_error_message    text,
    last_error_traceback  text,
    last_error_at         timestamptz,
    lag                   double precision,
    next_run_at           timestamptz,
    heartbeat_at          timestamptz,
    declared_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (state = 'stopped' OR leader IS NOT NULL)
);

-- The advisory lock key of a service, defined once here so that every version of the code
-- that shares this database competes for the same lock.
CREATE FUNCTION work_service_lock_key(service text) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended('catalog-service:' || service, 0)
$$;

-- Whether this session holds the service's lock. pg_locks splits a bigint key in two oids.
CREATE FUNCTION work_service_lock_held(service text) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT EXISTS (
        SELECT 1 FROM pg_locks
         WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = pg_backend_pid()
           AND ((classid::bigint << 32) | objid::bigint) = work_service_lock_key(service))
$$;

-- The keys of the service locks held by any session on this database (advisory locks are
-- per database; the same key on another database is another lock).
CREATE VIEW work_service_locks AS
    SELECT ((classid::bigint << 32) | objid::bigint) AS key, pid
      FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND objsubid = 1
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database());
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(
        """
        DROP VIEW IF EXISTS work_service_locks;
        DROP FUNCTION IF EXISTS work_service_lock_held, work_service_lock_key;
        DROP TABLE IF EXISTS work_services;
        """
    )
