"""Procrastinate's job store (its schema.sql for the pinned 3.x release).

Revision ID: 0002
Revises: 0001

Upgrading Procrastinate means adding a revision that applies its shipped migrations
(`procrastinate.schema.SchemaManager.get_migrations_path()`) newer than the pinned release.
"""

from __future__ import annotations

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The driver would read '%' as a placeholder marker: double it, as Procrastinate does.
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
            procrastinate_jobs, procrastinate_workers CASCADE;
        DROP TYPE IF EXISTS procrastinate_job_event_type, procrastinate_job_status,
            procrastinate_job_to_defer_v1 CASCADE;
        """
    )
