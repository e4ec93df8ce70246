"""Inventory alerts: one per change of a product's stock level, never one per look.

A product's alert state is its open 'level' alert: none means in stock. Evaluating a set of
products compares each one's level now with its open alert's level; where they differ, the open
alert is resolved and, unless the product is back in stock (or deleted), a new one is raised.
Evaluating again without a stock change therefore changes nothing, which is what makes the hourly
sweep and the change-log follower safe to overlap. A partial unique index allows one open alert
per product and kind, so a second writer racing the first raises nothing twice.

Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.errors import NotFound
from catalog.domain.stock import StockLevel, Thresholds
from catalog.store.tables import inventory_alerts

_LEVEL_SQL = """
    CASE WHEN p.deleted_at IS NOT NULL THEN NULL
         WHEN p.stock <= 0 THEN 'out'
         WHEN p.stock <= :critical_max THEN 'critical'
         WHEN p.stock <= :low_max THEN 'low'
         ELSE 'in_stock' END
"""

# Resolve the open alert of every product in scope whose level moved, and return those products.
# The scope ({scope}) is an id range (the sweep) or an id list (the change-log follower).
_RESOLVE_CHANGED = """
    WITH now_level AS (
        SELECT p.id AS product_id, p.stock, {level} AS level
        FROM products p WHERE {scope}
    ), changed AS (
        SELECT n.product_id, n.stock, n.level, a.id AS open_id,
               coalesce(a.level, 'in_stock') AS previous_level
        FROM now_level n
        LEFT JOIN inventory_alerts a
          ON a.product_id = n.product_id AND a.kind = 'level' AND a.resolved_at IS NULL
        WHERE (n.level IS NULL AND a.id IS NOT NULL)
           OR (n.level IS NOT NULL AND n.level <> coalesce(a.level, 'in_stock'))
    ), resolved AS (
        UPDATE inventory_alerts a SET resolved_at = now()
        FROM changed c WHERE a.id = c.open_id
        RETURNING a.id
    )
    SELECT c.product_id, c.stock, c.level, c.previous_level,
           (SELECT count(*) FROM resolved) AS resolved
    FROM changed c ORDER BY c.product_id
"""

_RAISE = text(
    """
    INSERT INTO inventory_alerts (product_id, kind, level, previous_level, stock)
    SELECT * FROM unnest(
        CAST(:product_ids AS bigint[]), CAST(:kinds AS text[]), CAST(:levels AS text[]),
        CAST(:previous AS text[]), CAST(:stocks AS integer[]))
    ON CONFLICT DO NOTHING
    RETURNING id, product_id, kind, level, previous_level, stock, stockout_on, raised_at,
              resolved_at
    """
)


@dataclass(frozen=True)
class Alert:
    id: int
    product_id: int
    kind: str  # 'level' | 'forecast'
    level: StockLevel
    previous_level: StockLevel | None
    stock: int
    stockout_on: date | None
    raised_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation did: the alerts it raised and how many open ones it resolved."""

    raised: list[Alert]
    resolved: int
    examined: int = 0  # products looked at


class AlertNotFound(NotFound):
    def __init__(self, alert_id: int) -> None:
        super().__init__(f"alert {alert_id} not found")
        self.alert_id = alert_id


def alert_of(row: object) -> Alert:
    r = row._mapping  # type: ignore[attr-defined]
    return Alert(
        id=r["id"],
        product_id=r["product_id"],
        kind=r["kind"],
        level=StockLevel(r["level"]),
        previous_level=StockLevel(r["previous_level"]) if r["previous_level"] else None,
        stock=r["stock"],
        stockout_on=r["stockout_on"],
        raised_at=r["raised_at"],
        resolved_at=r["resolved_at"],
    )


async def _evaluate(
    conn: AsyncConnection, scope: str, params: dict[str, object], thresholds: Thresholds
) -> Evaluation:
    sql = _RESOLVE_CHANGED.format(level=_LEVEL_SQL, scope=scope)
    rows = (
        await conn.execute(
            text(sql),
            {**params, "critical_max": thresholds.critical_max, "low_max": thresholds.low_max},
        )
    ).all()
    resolved = int(rows[0].resolved) if rows else 0
    entering = [row for row in rows if row.level is not None and row.level != StockLevel.IN_STOCK]
    if not entering:
        return Evaluation(raised=[], resolved=resolved)
    inserted = await conn.execute(
        _RAISE,
        {
            "product_ids": [row.product_id for row in entering],
            "kinds": ["level"] * len(entering),
            "levels": [row.level for row in entering],
            "previous": [row.previous_level for row in entering],
            "stocks": [row.stock for row in entering],
        },
    )
    raised = sorted((alert_of(row) for row in inserted), key=lambda a: a.product_id)
    return Evaluation(raised=raised, resolved=resolved)


async def evaluate_products(
    conn: AsyncConnection, product_ids: Sequence[int], *, thresholds: Thresholds
) -> Evaluation:
    """Bring the alerts of these products in line with their stock now."""
    if not product_ids:
        return Evaluation(raised=[], resolved=0)
    return await _evaluate(conn, "p.id = ANY(:ids)", {"ids": list(product_ids)}, thresholds)


async def evaluate_range(
    conn: AsyncConnection, *, after_id: int, batch_size: int, thresholds: Thresholds
) -> tuple[Evaluation, int | None]:
    """Evaluate the next `batch_size` products by id after `after_id`; and the last id seen.

    The last id is None when no product follows `after_id`: the sweep is over.
    """
    batch = (
        await conn.execute(
            text(
                "SELECT max(id) AS last_id, count(*) AS n FROM (SELECT id FROM products"
                " WHERE id > :after ORDER BY id LIMIT :n) AS batch"
            ),
            {"after": after_id, "n": batch_size},
        )
    ).one()
    if batch.last_id is None:
        return Evaluation(raised=[], resolved=0), None
    evaluation = await _evaluate(
        conn,
        "p.id > :after AND p.id <= :upto",
        {"after": after_id, "upto": batch.last_id},
        thresholds,
    )
    return dataclasses.replace(evaluation, examined=int(batch.n)), int(batch.last_id)


async def last_sweep_at(conn: AsyncConnection) -> datetime | None:
    found: datetime | None = await conn.scalar(
        text("SELECT last_sweep_at FROM inventory_monitor_state")
    )
    return found


async def record_sweep(conn: AsyncConnection, at: datetime) -> None:
    await conn.execute(
        text(
            "INSERT INTO inventory_monitor_state (last_sweep_at) VALUES (:at)"
            " ON CONFLICT (singleton) DO UPDATE SET last_sweep_at = excluded.last_sweep_at"
        ),
        {"at": at},
    )


@dataclass(frozen=True)
class AlertFilter:
    open: bool | None = None  # True: open only; False: resolved only; None: both
    level: StockLevel | None = None
    kind: str | None = None
    product_id: int | None = None


async def list_alerts(
    conn: AsyncConnection, where: AlertFilter, *, before_id: int | None, limit: int
) -> list[Alert]:
    """Alerts matching `where`, newest first, below `before_id` (keyset paging)."""
    t = inventory_alerts
    query = sa.select(t).order_by(t.c.id.desc()).limit(limit)
    if where.open is not None:
        resolved = t.c.resolved_at
        query = query.where(resolved.is_(None) if where.open else resolved.is_not(None))
    if where.level is not None:
        query = query.where(t.c.level == str(where.level))
    if where.kind is not None:
        query = query.where(t.c.kind == where.kind)
    if where.product_id is not None:
        query = query.where(t.c.product_id == where.product_id)
    if before_id is not None:
        query = query.where(t.c.id < before_id)
    return [alert_of(row) for row in await conn.execute(query)]


async def get_alert(conn: AsyncConnection, alert_id: int) -> Alert:
    query = sa.select(inventory_alerts).where(inventory_alerts.c.id == alert_id)
    row = (await conn.execute(query)).one_or_none()
    if row is None:
        raise AlertNotFound(alert_id)
    return alert_of(row)
