"""SQLAlchemy Core tables of the catalogue, mirroring the Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

categories = Table(
    "categories",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False, unique=True),
    Column("parent_id", BigInteger, ForeignKey("categories.id")),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("sku", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("category_id", BigInteger, ForeignKey("categories.id")),
    Column("brand", Text),
    Column("price", Numeric(12, 2), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("stock", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("tags", ARRAY(Text), nullable=False),
    Column("attributes", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
)

# A product's popularity score (catalog.store.popularity); no row means 0.
product_popularity = Table(
    "product_popularity",
    metadata,
    Column(
        "product_id", BigInteger, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("popularity", Numeric, nullable=False),
)

stock_movements = Table(
    "stock_movements",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("product_id", BigInteger, ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("stock_before", Integer, nullable=False),
    Column("stock_after", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

change_log = Table(
    "change_log",
    metadata,
    Column("id", BigInteger, primary_key=True),
    # xid8 of the writing transaction; typed as text here, compared in SQL.
    Column("txid", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("entity_id", BigInteger, nullable=False),
    Column("op", Text, nullable=False),
    Column("fields", ARRAY(Text)),
    Column("stock_before", Integer),
    Column("stock_after", Integer),
    Column("at", DateTime(timezone=True), nullable=False),
)

change_log_cursors = Table(
    "change_log_cursors",
    metadata,
    Column("consumer", Text, primary_key=True),
    Column("txid", Text, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

inventory_alerts = Table(
    "inventory_alerts",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("product_id", BigInteger, ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    Column("kind", Text, nullable=False),  # 'level' | 'forecast'
    Column("level", Text, nullable=False),
    Column("previous_level", Text),
    Column("stock", Integer, nullable=False),
    Column("stockout_on", Date),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)

reports = Table(
    "reports",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),  # 'daily-analytics' | 'weekly-inventory'
    Column("period", Text, nullable=False),  # 'daily' | 'weekly' | 'monthly'
    Column("period_start", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("body", JSONB, nullable=False),
)

stock_forecasts = Table(
    "stock_forecasts",
    metadata,
    Column(
        "product_id", BigInteger, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("daily_demand", Float, nullable=False),
    Column("days_of_cover", Float),
    Column("stockout_on", Date),
    Column("computed_at", DateTime(timezone=True), nullable=False),
)
