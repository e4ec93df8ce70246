"""Popularity scores on known movements: the documented formula, exactly."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from catalog.bootstrap import Runtime
from catalog.store import popularity
from tests.support.catalogue import add_category, add_movement, add_product

AS_OF = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


async def scores(rt: Runtime) -> dict[str, Decimal]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(sa.text("SELECT sku, popularity FROM products ORDER BY id"))
        return {r.sku: r.popularity for r in rows}


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
