"""Daily analytics on known data: every figure, value by value."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog.bootstrap import Runtime
from catalog.domain.stock import Thresholds
from catalog.store import analytics
from tests.support.catalogue import add_category, add_product

AS_OF = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


async def test_counts_values_and_categories_are_exact(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        tools = await add_category(conn, "Tools")
        garden = await add_category(conn, "Garden")
        await add_category(conn, "Empty")
        await add_product(conn, "P1", category_id=tools, price="10.00", stock=3)
        await add_product(conn, "P2", category_id=tools, price="2.50", stock=20, status="draft")
        await add_product(conn, "P3", category_id=tools, price=100, currency="EUR", stock=0)
        await add_product(conn, "P4", category_id=garden, price="7.25", stock=8, status="archived")
        await add_product(conn, "P5", category_id=garden, stock=50, deleted_at=AS_OF)
        await add_product(conn, "P6", category_id=garden, price="3.10", currency="EUR", stock=11)

    async with runtime.engine.connect() as conn:
        body = await analytics.daily_analytics(conn, as_of=AS_OF, thresholds=Thresholds(5, 10))

    assert body == {
        "as_of": "2026-03-02T02:00:00+00:00",
        "products": {
            "total": 5,
            "by_status": {"active": 3, "archived": 1, "draft": 1},
            "by_stock_level": {"out": 1, "critical": 1, "low": 1, "in_stock": 2},
        },
        "stock_units": 42,
        "inventory_value": {"EUR": "34.10", "USD": "138.00"},
        "categories": [
            {
                "id": tools,
                "name": "Tools",
                "products": 3,
                "stock_units": 23,
                "inventory_value": {"EUR": "0.00", "USD": "80.00"},
            },
            {
                "id": garden,
                "name": "Garden",
                "products": 2,
                "stock_units": 19,
                "inventory_value": {"EUR": "34.10", "USD": "58.00"},
            },
        ],
    }


async def test_an_empty_catalogue_reports_zeros(runtime: Runtime) -> None:
    async with runtime.engine.connect() as conn:
        body = await analytics.daily_analytics(conn, as_of=AS_OF, thresholds=Thresholds())
    assert body["products"] == {
        "total": 0,
        "by_status": {},
        "by_stock_level": {"out": 0, "critical": 0, "low": 0, "in_stock": 0},
    }
    assert (body["stock_units"], body["inventory_value"], body["categories"]) == (0, {}, [])
