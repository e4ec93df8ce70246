"""The catalogue's own work: inventory alerts, stored reports, stock-out forecasts.

Revision ID: 0013
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0014"
branch_labels = None
depends_on = None

SCHEMA = """
-- One row per change of a product's stock level into low, critical or out ('level' alerts), and
-- per change of its predicted stock-out date inside the warning window ('forecast' alerts).
-- A product has at most one open alert of each kind: the next change resolves it.
CREATE TABLE inventory_alerts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id      bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    kind            text NOT NULL DEFAULT 'level' CHECK (kind IN ('level', 'forecast')),
    level           text NOT NULL CHECK (level IN ('out', 'critical', 'low', 'in_stock')),
    previous_level  text CHECK (previous_level IN ('out', 'critical', 'low', 'in_stock')),
    stock           integer NOT NULL,
    stockout_on     date,
    raised_at       timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    CHECK (kind = 'level' OR stockout_on IS NOT NULL)
);
CREATE UNIQUE INDEX inventory_alerts_open_key ON inventory_alerts (product_id, kind)
    WHERE resolved_at IS NULL;
CREATE INDEX inventory_alerts_product_idx ON inventory_alerts (product_id, id);
CREATE INDEX inventory_alerts_level_idx ON inventory_alerts (level, id);
CREATE INDEX inventory_alerts_resolved_idx ON inventory_alerts (resolved_at, id)
    WHERE resolved_at IS NOT NULL;

-- When the inventory monitor last swept the whole catalogue (one row).
CREATE TABLE inventory_monitor_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_sweep_at  timestamptz NOT NULL
);

-- Reports made by the recurring jobs; `period` 'monthly' marks the daily report of the first
-- day of a month, which cleanup keeps.
CREATE TABLE reports (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('daily-analytics', 'weekly-inventory')),
    period        text NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    period_start  date NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    body          jsonb NOT NULL
);
CREATE UNIQUE INDEX reports_kind_start_key ON reports (kind, period_start);
CREATE INDEX reports_kind_created_idx ON reports (kind, created_at DESC, id DESC);
CREATE INDEX reports_created_idx ON reports (created_at, id);

-- The latest stock-out forecast per product (catalog.store.forecast).
CREATE TABLE stock_forecasts (
    product_id     bigint PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    daily_demand   double precision NOT NULL CHECK (daily_demand >= 0),
    days_of_cover  double precision CHECK (days_of_cover >= 0),
    stockout_on    date,
    computed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_forecasts_stockout_idx ON stock_forecasts (stockout_on, product_id)
    WHERE stockout_on IS NOT NULL;

CREATE INDEX products_popularity_idx ON products (popularity DESC, id) WHERE deleted_at IS NULL;
CREATE INDEX stock_movements_created_product_idx ON stock_movements (created_at, product_id);
"""

DROP = """
DROP INDEX IF EXISTS stock_movements_created_product_idx, products_popularity_idx;
DROP TABLE IF EXISTS stock_forecasts, reports, inventory_monitor_state, inventory_alerts;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(DROP)
