"""Popularity scores move from `products.popularity` to their own narrow table.

Revision ID: 0015
Revises: 0010

`popularity-update` rewrites up to every product's score each run. On `products` each changed
score rewrote the whole row (about 400 bytes) with all eleven of its indexes (`popularity` was
indexed, so the update was never HOT) and the change-log trigger diffed the row: about 0.3 ms a
score, 5 minutes for a million. A `product_popularity` row is 40 bytes with two indexes, and the
job writes the change-log rows itself (entity 'product', op 'update', fields '{popularity}',
stock before = after), as the trigger did; see catalog.store.popularity.

A product without a row scores 0. Rows go with their product (ON DELETE CASCADE).

At 1,000,000 products the upgrade takes about 25 s: copying the scores only reads `products`
(writes go on meanwhile); the exclusive lock of DROP COLUMN comes last and is brief.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE product_popularity (
    product_id  bigint NOT NULL,
    popularity  numeric NOT NULL
);
INSERT INTO product_popularity (product_id, popularity)
    SELECT id, popularity FROM products WHERE popularity <> 0 ORDER BY id;
-- Keys after the copy: one index build and one set-based check instead of a check per row.
ALTER TABLE product_popularity ADD PRIMARY KEY (product_id),
    ADD FOREIGN KEY (product_id) REFERENCES products(id) ON DELETE CASCADE;
-- The ranking (catalog.store.popularity.ranking): best first, ties by id.
CREATE INDEX product_popularity_rank_idx ON product_popularity (popularity DESC, product_id);
ALTER TABLE products DROP COLUMN popularity;  -- and with it products_popularity_idx
ANALYZE product_popularity;
"""

# The scores go back onto the products, unchanged as readers see them: no change-log rows.
DOWNGRADE = """
ALTER TABLE products ADD COLUMN popularity numeric NOT NULL DEFAULT 0;
ALTER TABLE products DISABLE TRIGGER products_log_update;
UPDATE products p SET popularity = pp.popularity
    FROM product_popularity pp WHERE pp.product_id = p.id;
ALTER TABLE products ENABLE TRIGGER products_log_update;
CREATE INDEX products_popularity_idx ON products (popularity DESC, id) WHERE deleted_at IS NULL;
DROP TABLE product_popularity;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
