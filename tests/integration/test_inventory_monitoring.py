"""Inventory monitoring: one alert per level change, the sweep, thresholds, sending, the API."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog import inventory_monitor
from catalog.bootstrap import Runtime
from catalog.domain.stock import Thresholds
from catalog.jobs import inventory_monitoring
from catalog.store import alerts, changelog
from tests.support.catalogue import add_category, add_product, set_stock
from tests.support.polling import eventually

DEFAULT = Thresholds(critical_max=5, low_max=10)


class Raised:
    """An `on_raised` that remembers what it was handed."""

    def __init__(self) -> None:
        self.alerts: list[alerts.Alert] = []

    async def __call__(self, conn: AsyncConnection, raised: list[alerts.Alert]) -> None:
        self.alerts.extend(raised)


async def follow_all(rt: Runtime, seen: Raised) -> None:
    """Follow the change log until the monitor has read all of it.

    A change becomes readable once every older transaction on the server has ended (see
    catalog.store.changelog), so with other databases busy it may take a few tries.
    """

    async def caught_up() -> bool:
        await inventory_monitor.follow_changes(rt.engine, thresholds=DEFAULT, on_raised=seen)
        async with rt.engine.connect() as conn:
            return (await changelog.lag(conn, inventory_monitor.CONSUMER)).rows == 0

    await eventually(caught_up, timeout_s=60, what="the monitor reading the whole change log")


async def all_alerts(rt: Runtime) -> list[tuple[int, str, str | None, int, bool]]:
    """(product, level, previous level, stock, open) of every alert, oldest first."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT product_id, level, previous_level, stock, resolved_at IS NULL AS open"
                " FROM inventory_alerts ORDER BY id"
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_one_alert_per_level_change_down_and_back_never_per_look(runtime: Runtime) -> None:
    db, seen = runtime.engine, Raised()
    async with db.begin() as conn:
        category = await add_category(conn, "Tools")
        product = await add_product(conn, "P-1", category_id=category, stock=20)
    await follow_all(runtime, seen)  # registers its cursor at the end

    for stock in (8, 7, 3, 0, 0, 4, 15):
        await set_stock(db, product, stock)
        await follow_all(runtime, seen)
    for _ in range(2):  # sweeps change nothing more
        await inventory_monitor.sweep(db, thresholds=DEFAULT, on_raised=seen, batch_size=10)

    assert await all_alerts(runtime) == [
        (product, "low", "in_stock", 8, False),
        (product, "critical", "low", 3, False),
        (product, "out", "critical", 0, False),
        (product, "critical", "out", 4, False),
    ]
    assert [(a.level, a.stock) for a in seen.alerts] == [
        ("low", 8),
        ("critical", 3),
        ("out", 0),
        ("critical", 4),
    ]


async def test_the_sweep_raises_for_every_product_once_in_batches(runtime: Runtime) -> None:
    db, seen = runtime.engine, Raised()
    stocks = [0, 3, 5, 6, 10, 11, 50]
    async with db.begin() as conn:
        category = await add_category(conn, "Tools")
        ids = [
            await add_product(conn, f"P-{n}", category_id=category, stock=stock)
            for n, stock in enumerate(stocks)
        ]
        gone = await add_product(conn, "GONE", category_id=category, stock=0)

    first = await inventory_monitor.sweep(db, thresholds=DEFAULT, on_raised=seen, batch_size=3)
    async with db.begin() as conn:  # soft-deleting resolves its alert
        await conn.execute(
            sa.text("UPDATE products SET deleted_at = now() WHERE id = :id"), {"id": gone}
        )
    second = await inventory_monitor.sweep(db, thresholds=DEFAULT, on_raised=seen, batch_size=3)

    assert (first.examined, first.raised, first.resolved) == (8, 6, 0)
    assert (second.examined, second.raised, second.resolved) == (8, 0, 1)
    assert await all_alerts(runtime) == [
        (ids[0], "out", "in_stock", 0, True),
        (ids[1], "critical", "in_stock", 3, True),
        (ids[2], "critical", "in_stock", 5, True),
        (ids[3], "low", "in_stock", 6, True),
        (ids[4], "low", "in_stock", 10, True),
        (gone, "out", "in_stock", 0, False),
    ]
    assert not inventory_monitor.sweep_due(await inventory_monitor.last_sweep(db), every_s=3600)


async def test_thresholds_come_from_the_settings(runtime: Runtime) -> None:
    db, seen = runtime.engine, Raised()
    async with db.begin() as conn:
        category = await add_category(conn, "Tools")
        for n, stock in enumerate([2, 3, 4, 5]):
            await add_product(conn, f"P-{n}", category_id=category, stock=stock)
    tight = Thresholds(critical_max=2, low_max=4)
    await inventory_monitor.sweep(db, thresholds=tight, on_raised=seen, batch_size=100)
    assert [a.level for a in seen.alerts] == ["critical", "low", "low"]


async def test_the_alerts_api_filters_and_pages(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    db, seen = runtime.engine, Raised()
    async with db.begin() as conn:
        category = await add_category(conn, "Tools")
        ids = [
            await add_product(conn, f"P-{n}", category_id=category, stock=stock)
            for n, stock in enumerate([0, 3, 7, 0, 9])
        ]
    await inventory_monitor.sweep(db, thresholds=DEFAULT, on_raised=seen, batch_size=100)
    await set_stock(db, ids[3], 50)
    await inventory_monitor.sweep(db, thresholds=DEFAULT, on_raised=seen, batch_size=100)

    first = (await client.get("/api/inventory/alerts", params={"limit": 2})).json()
    second = (
        await client.get(
            "/api/inventory/alerts", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    third = (
        await client.get(
            "/api/inventory/alerts", params={"limit": 2, "cursor": second["next_cursor"]}
        )
    ).json()
    paged = [a["product_id"] for page in (first, second, third) for a in page["items"]]
    assert paged == list(reversed(ids))
    assert third["next_cursor"] is None

    async def products(**params: Any) -> list[int]:
        answer = await client.get("/api/inventory/alerts", params=params)
        assert answer.status_code == 200, answer.text
        return [a["product_id"] for a in answer.json()["items"]]

    assert await products(state="open") == [ids[4], ids[2], ids[1], ids[0]]
    assert await products(state="resolved") == [ids[3]]
    assert await products(level="out") == [ids[3], ids[0]]
    assert await products(level="out", state="open") == [ids[0]]
    bad = await client.get("/api/inventory/alerts", params={"cursor": "nonsense!"})
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert (await client.get("/api/inventory/alerts", params={"level": "meh"})).status_code == 422


async def test_every_raised_alert_is_one_structured_log_line(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        product = await add_product(conn, "P-1", category_id=category, stock=2)

    async def announce(conn: AsyncConnection, raised: list[alerts.Alert]) -> None:
        await inventory_monitoring.announce(
            conn, raised, settings=runtime.settings, work=runtime.work
        )

    with caplog.at_level(logging.WARNING, logger="catalog.inventory.alerts"):
        await inventory_monitor.sweep(
            runtime.engine, thresholds=DEFAULT, on_raised=announce, batch_size=10
        )
    lines = [r.alert for r in caplog.records if r.name.endswith("alerts")]  # type: ignore[attr-defined]
    assert [{k: v for k, v in line.items() if k != "id"} for line in lines] == [
        {
            "kind": "level",
            "product_id": product,
            "level": "critical",
            "previous_level": "in_stock",
            "stock": 2,
            "stockout_on": None,
        }
    ]
