"""Products: an index on (category_id, price, id) for browsing a category by price.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Blocks writes to products while it builds (seconds per million rows); on a large live
    # catalogue, build it beforehand with CREATE INDEX CONCURRENTLY under the same name.
    op.execute(
        "CREATE INDEX IF NOT EXISTS products_category_price_idx"
        " ON products (category_id, price, id) WHERE deleted_at IS NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS products_category_price_idx")
