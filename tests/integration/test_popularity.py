"""Popularity scores on known movements: the documented formula, exactly."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from catalog.bootstrap import Runtime
from catalog.search.documents import iter_documents, load_documents
from catalog.store import popularity
from tests.support.catalogue import add_category, add_movement, add_product

AS_OF = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


async def scores(rt: Runtime) -> dict[str, Decimal]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT p.sku, coalesce(pp.popularity, 0) AS popularity FROM products p"
                " LEFT JOIN product_popularity pp ON pp.product_id = p.id ORDER BY p.id"
            )
        )
        return {r.sku: r.popularity for r in rows}


async def score_changes(rt: Runtime) -> list[tuple[str, int, str, list[str], int, int]]:
    """The change-log rows of product updates, as the products trigger would write them."""
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT p.sku, c.entity, c.op, c.fields, c.stock_before, c.stock_after"
                " FROM change_log c JOIN products p ON p.id = c.entity_id"
                " WHERE c.entity = 'product' AND c.op <> 'insert' ORDER BY c.id"
            )
        )
        return [tuple(r) for r in rows]


async def test_scores_follow_the_formula_and_only_changes_are_written(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        hot = await add_product(conn, "HOT", category_id=category, stock=5)
        out = await add_product(conn, "OUT", category_id=category, stock=0)
        await add_product(conn, "QUIET", category_id=category, stock=9)
        gone = await add_product(conn, "GONE", category_id=category, stock=9, deleted_at=AS_OF)
        await add_movement(conn, hot, delta=-4, at=AS_OF)  # weight 1
        await add_movement(conn, hot, delta=-2, at=AS_OF - 7 * DAY)  # weight 1/2
        await add_movement(conn, hot, delta=+10, at=AS_OF - DAY)  # a restock: not a sale
        await add_movement(conn, hot, delta=-100, at=AS_OF - 30 * DAY)  # outside the window
        await add_movement(conn, hot, delta=-8, at=AS_OF - 29 * DAY - 11 * HOUR)  # its first day
        await add_movement(conn, hot, delta=-1, at=AS_OF + DAY)  # after as_of
        await add_movement(conn, out, delta=-3, at=AS_OF - 14 * DAY)  # weight 1/4
        await add_movement(conn, gone, delta=-50, at=AS_OF)

    first = await popularity.update_popularity(runtime.engine, as_of=AS_OF, batch_size=2)
    later = AS_OF + 11 * HOUR  # the same day: ages in whole days are the same
    second = await popularity.update_popularity(runtime.engine, as_of=later, batch_size=2)

    hot_score = Decimal(str(round(math.log(1 + 4 + 1 + 8 * 0.5 ** (29 / 7)), 6)))
    out_score = Decimal(str(round(math.log(1 + 0.75) * 0.5, 6)))
    assert await scores(runtime) == {
        "HOT": hot_score,
        "OUT": out_score,
        "QUIET": Decimal(0),
        "GONE": Decimal(0),
    }
    assert (first.scored, first.changed) == (3, 2)
    assert (second.scored, second.changed) == (3, 0)
    async with runtime.engine.connect() as conn:
        ranked = await popularity.ranking(conn)
    assert [(r["sku"], r["popularity"]) for r in ranked] == [
        ("HOT", str(hot_score)),
        ("OUT", str(out_score)),
    ]


async def test_each_changed_score_reaches_the_change_log_once(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        hot = await add_product(conn, "HOT", category_id=category, stock=5)
        out = await add_product(conn, "OUT", category_id=category, stock=0)
        await add_product(conn, "QUIET", category_id=category, stock=9)
        await add_movement(conn, hot, delta=-4, at=AS_OF)
        await add_movement(conn, out, delta=-3, at=AS_OF)

    await popularity.update_popularity(runtime.engine, as_of=AS_OF, batch_size=2)
    await popularity.update_popularity(runtime.engine, as_of=AS_OF, batch_size=2)  # no change
    assert await score_changes(runtime) == [
        ("HOT", "product", "update", ["popularity"], 5, 5),
        ("OUT", "product", "update", ["popularity"], 0, 0),
    ]

    # A week later the sales weigh half: both scores change again, and are logged again.
    run = await popularity.update_popularity(runtime.engine, as_of=AS_OF + 7 * DAY)
    assert (run.scored, run.changed) == (3, 2)
    assert len(await score_changes(runtime)) == 4
    # Past the window they fall back to 0, which is a change too.
    run = await popularity.update_popularity(runtime.engine, as_of=AS_OF + 40 * DAY)
    assert (run.scored, run.changed) == (3, 2)
    assert set((await scores(runtime)).values()) == {Decimal(0)}
    assert [c[0] for c in (await score_changes(runtime))[4:]] == ["HOT", "OUT"]


async def test_the_ranking_skips_deleted_products_and_a_purge_takes_the_score(
    runtime: Runtime,
) -> None:
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        first = await add_product(conn, "FIRST", category_id=category, stock=5)
        second = await add_product(conn, "SECOND", category_id=category, stock=5)
        await add_movement(conn, first, delta=-9, at=AS_OF)
        await add_movement(conn, second, delta=-2, at=AS_OF)
    await popularity.update_popularity(runtime.engine, as_of=AS_OF)
    async with runtime.engine.begin() as conn:
        assert [r["sku"] for r in await popularity.ranking(conn)] == ["FIRST", "SECOND"]
        await conn.execute(
            sa.text("UPDATE products SET deleted_at = now() WHERE id = :id"), {"id": first}
        )
        assert [r["sku"] for r in await popularity.ranking(conn)] == ["SECOND"]
        await conn.execute(sa.text("DELETE FROM products WHERE id = :id"), {"id": first})
        left = await conn.scalar(sa.text("SELECT array_agg(product_id) FROM product_popularity"))
    assert left == [second]


async def test_search_documents_carry_the_stored_score(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        hot = await add_product(conn, "HOT", category_id=category, stock=5)
        quiet = await add_product(conn, "QUIET", category_id=category, stock=5)
        await add_movement(conn, hot, delta=-4, at=AS_OF)
    await popularity.update_popularity(runtime.engine, as_of=AS_OF)
    hot_score = round(math.log(1 + 4), 6)
    async with runtime.engine.connect() as conn:
        loaded = await load_documents(conn, [hot, quiet])
        batches = [batch async for batch in iter_documents(conn, batch_size=1)]
    assert (loaded[hot].popularity, loaded[quiet].popularity) == (hot_score, 0.0)
    assert [d.popularity for batch in batches for d in batch] == [hot_score, 0.0]
