"""Background services: lag in rows and in seconds, side by side, instead of one number.

Revision ID: 0009
Revises: 0006

`lag` held a number in the unit the service's code declared, which SQL cannot tell; it is only
the last report and every leader reports afresh at its next step, so it is dropped, not moved.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE work_services
            ADD COLUMN lag_rows bigint CHECK (lag_rows >= 0),
            ADD COLUMN lag_s double precision CHECK (lag_s >= 0),
            DROP COLUMN lag
        """
    )


def downgrade() -> None:
    # The older code read `lag` in its declared unit, rows by default.
    op.execute(
        """
        ALTER TABLE work_services ADD COLUMN lag double precision;
        UPDATE work_services SET lag = coalesce(lag_rows::float8, lag_s);
        ALTER TABLE work_services DROP COLUMN lag_rows, DROP COLUMN lag_s;
        """
    )
