"""Catalogue: categories, products, stock movements, change log with its triggers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = """
CREATE TABLE categories (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        text NOT NULL UNIQUE,
    parent_id   bigint REFERENCES categories(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE UNIQUE INDEX categories_sibling_name_key
    ON categories (coalesce(parent_id, 0), lower(name));
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TABLE products (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku          text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    description  text NOT NULL DEFAULT '',
    -- NULL only once soft-deleted products lose a deleted category.
    category_id  bigint REFERENCES categories(id) ON DELETE SET NULL,
    brand        text,
    price        numeric(12, 2) NOT NULL CHECK (price >= 0),
    currency     char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    stock        integer NOT NULL DEFAULT 0 CHECK (stock >= 0),
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('draft', 'active', 'archived')),
    tags         text[] NOT NULL DEFAULT '{}',
    attributes   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    popularity   numeric NOT NULL DEFAULT 0,
    version      bigint NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    CHECK (category_id IS NOT NULL OR deleted_at IS NOT NULL)
);
-- A SKU is unique among live products; a soft-deleted one frees its SKU.
CREATE UNIQUE INDEX products_sku_live_key ON products (sku) WHERE deleted_at IS NULL;
CREATE INDEX products_category_idx ON products (category_id, id) WHERE deleted_at IS NULL;
CREATE INDEX products_brand_idx ON products (brand, id) WHERE deleted_at IS NULL;
CREATE INDEX products_price_idx ON products (price, id) WHERE deleted_at IS NULL;
CREATE INDEX products_stock_idx ON products (stock, id) WHERE deleted_at IS NULL;
CREATE INDEX products_name_prefix_idx ON products (lower(name) text_pattern_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX products_sku_prefix_idx ON products (lower(sku) text_pattern_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX products_deleted_idx ON products (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX products_updated_idx ON products (updated_at, id);
-- Serves the created_at list orders (keyset pagination) without sorting the table.
CREATE INDEX products_created_idx ON products (created_at, id) WHERE deleted_at IS NULL;
-- The planner takes no statistics from partial expression indexes; without these it guesses
-- how many names or SKUs start with a prefix, and may walk a whole sort index for a rare one.
CREATE STATISTICS products_name_lower_stats ON (lower(name)) FROM products;
CREATE STATISTICS products_sku_lower_stats ON (lower(sku)) FROM products;

CREATE TABLE stock_movements (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id    bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    delta         integer NOT NULL,
    stock_before  integer NOT NULL CHECK (stock_before >= 0),
    stock_after   integer NOT NULL CHECK (stock_after >= 0),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    actor         text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_product_idx ON stock_movements (product_id, id);
CREATE INDEX stock_movements_created_idx ON stock_movements (created_at);

-- Every write to the catalogue lands here in the writer's transaction (statement triggers
-- below). Readers order by (txid, id) and stop below the snapshot's xmin; see
-- catalog.store.changelog.
CREATE TABLE change_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    entity        text NOT NULL CHECK (entity IN ('product', 'category')),
    entity_id     bigint NOT NULL,
    op            text NOT NULL CHECK (op IN ('insert', 'update', 'delete', 'purge')),
    fields        text[],
    stock_before  integer,
    stock_after   integer,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_log_txid_idx ON change_log (txid, id);
CREATE INDEX change_log_at_idx ON change_log (at);

CREATE TABLE change_log_cursors (
    consumer    text PRIMARY KEY,
    txid        xid8 NOT NULL DEFAULT '0',
    last_id     bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION catalog_changed_fields(new_row jsonb, old_row jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(key ORDER BY key), '{}')
    FROM jsonb_each(new_row) AS n(key, value)
    WHERE key NOT IN ('updated_at', 'version') AND value IS DISTINCT FROM old_row -> key
$$;

CREATE FUNCTION catalog_log_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (entity, entity_id, op, stock_after)
        SELECT 'product', n.id, 'insert', n.stock FROM new_rows n ORDER BY n.id;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO change_log (entity, entity_id, op, fields, stock_before, stock_after)
        SELECT 'product', n.id,
               CASE WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'delete'
                    ELSE 'update' END,
               catalog_changed_fields(to_jsonb(n), to_jsonb(o)),
               o.stock, n.stock
        FROM new_rows n JOIN old_rows o USING (id)
        WHERE catalog_changed_fields(to_jsonb(n), to_jsonb(o)) <> '{}'
        ORDER BY n.id;
    ELSE
        INSERT INTO change_log (entity, entity_id, op, stock_before)
        SELECT 'product', o.id, 'purge', o.stock FROM old_rows o ORDER BY o.id;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION catalog_log_categories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO change_log (entity, entity_id, op)
        SELECT 'category', n.id, 'insert' FROM new_rows n ORDER BY n.id;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO change_log (entity, entity_id, op, fields)
        SELECT 'category', n.id, 'update', catalog_changed_fields(to_jsonb(n), to_jsonb(o))
        FROM new_rows n JOIN old_rows o USING (id)
        WHERE catalog_changed_fields(to_jsonb(n), to_jsonb(o)) <> '{}'
        ORDER BY n.id;
    ELSE
        INSERT INTO change_log (entity, entity_id, op)
        SELECT 'category', o.id, 'delete' FROM old_rows o ORDER BY o.id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER products_log_insert AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_log_products();
CREATE TRIGGER products_log_update AFTER UPDATE ON products
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_log_products();
CREATE TRIGGER products_log_delete AFTER DELETE ON products
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_log_products();
CREATE TRIGGER categories_log_insert AFTER INSERT ON categories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_log_categories();
CREATE TRIGGER categories_log_update AFTER UPDATE ON categories
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_log_categories();
CREATE TRIGGER categories_log_delete AFTER DELETE ON categories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_log_categories();

-- Wake change-log consumers once per writing transaction, not once per row.
CREATE FUNCTION catalog_notify_change_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('catalog_change_log', '');
    RETURN NULL;
END $$;
CREATE TRIGGER change_log_notify AFTER INSERT ON change_log
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_notify_change_log();
"""

DROP = """
DROP TABLE IF EXISTS change_log_cursors, change_log, stock_movements, products, categories;
DROP FUNCTION IF EXISTS catalog_notify_change_log, catalog_log_categories, catalog_log_products,
    catalog_changed_fields;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(DROP)
