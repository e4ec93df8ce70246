from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.store import db, demo


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url, pool_size=2, max_overflow=2)
    yield engine
    await engine.dispose()


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_demo_loads_once_and_then_is_a_no_op(engine: AsyncEngine) -> None:
    assert await demo.load_demo_if_empty(engine, products=400) == 400
    assert await demo.load_demo_if_empty(engine, products=400) == 0

    assert await _count(engine, "products") == 400
    assert await _count(engine, "categories") == 30
    async with engine.connect() as conn:
        out, low = (
            await conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE stock = 0), count(*) FILTER (WHERE stock <= 10)"
                    " FROM products"
                )
            )
        ).one()
    assert 0 < out < low < 400


async def test_demo_is_the_same_every_time(engine: AsyncEngine) -> None:
    query = text(
        "SELECT p.sku, p.name, p.brand, p.price, p.stock, p.status, p.tags, p.attributes, c.slug"
        " FROM products p JOIN categories c ON c.id = p.category_id ORDER BY p.sku"
    )
    await demo.load_demo_if_empty(engine, products=300)
    async with engine.begin() as conn:
        first = (await conn.execute(query)).all()
        await conn.execute(text("TRUNCATE products, categories RESTART IDENTITY CASCADE"))
    await demo.load_demo_if_empty(engine, products=300)
    async with engine.connect() as conn:
        second = (await conn.execute(query)).all()

    assert first == second
    assert first[0].sku == "DEMO-0000001"
    assert len({row.name for row in first}) > 250  # realistic variety, not one name repeated


async def test_demo_leaves_an_existing_catalogue_alone(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO categories (name, slug) VALUES ('Mine', 'mine')"))
    assert await demo.load_demo_if_empty(engine, products=100) == 0
    assert await _count(engine, "products") == 0


async def test_two_processes_starting_at_once_load_one_demo(engine: AsyncEngine) -> None:
    loaded = await asyncio.gather(
        demo.load_demo_if_empty(engine, products=200),
        demo.load_demo_if_empty(engine, products=200),
    )
    assert sorted(loaded) == [0, 200]
    assert await _count(engine, "products") == 200
    assert await _count(engine, "categories") == 30


async def test_no_demo_products_means_nothing_loaded(engine: AsyncEngine) -> None:
    assert await demo.load_demo_if_empty(engine, products=0) == 0
    assert await _count(engine, "categories") == 0
