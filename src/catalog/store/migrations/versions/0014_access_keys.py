"""Access control: API keys (stored hashed) and the secret that signs dashboard sessions.

Revision ID: 0014
Revises: 0009

A key is shown once when created; only its SHA-256 is kept (keys are 256 random bits, so a
fast hash loses nothing to guessing). Revoking sets `revoked_at`: every process checks the
table on every request, so a revoked key stops working at once everywhere.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE access_keys (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
            prefix      text NOT NULL,
            key_hash    bytea NOT NULL UNIQUE,
            created_at  timestamptz NOT NULL DEFAULT now(),
            revoked_at  timestamptz
        );
        CREATE UNIQUE INDEX access_keys_active_name_key ON access_keys (name)
            WHERE revoked_at IS NULL;
        CREATE INDEX access_keys_active_idx ON access_keys (id) WHERE revoked_at IS NULL;

        -- One secret shared by every process, made here from PostgreSQL's strong random source.
        CREATE TABLE access_secrets (
            name   text PRIMARY KEY,
            value  text NOT NULL
        );
        INSERT INTO access_secrets (name, value) VALUES
            ('session', replace(gen_random_uuid()::text || gen_random_uuid()::text
                                || gen_random_uuid()::text, '-', ''));

        -- The dashboard's jobs list filtered by queue pages by id within the queue.
        CREATE INDEX work_jobs_queue_id_idx ON procrastinate_jobs (queue_name, id);
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX IF EXISTS work_jobs_queue_id_idx;
        DROP TABLE access_secrets;
        DROP TABLE access_keys;
        """
    )
