"""Background services: details a service reports for operators (search-sync: last batch, repairs).

Revision ID: 0011
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE work_services ADD COLUMN details jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE work_services DROP COLUMN details")
