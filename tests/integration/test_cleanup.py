"""Monthly cleanup deletes exactly what is older than 90 days, kind by kind, in batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from catalog.bootstrap import Runtime
from catalog.store import changelog, cleanup, reports
from tests.support.catalogue import add_category, add_movement, add_product
from tests.support.polling import eventually

NOW = datetime.now(UTC)
DAY = timedelta(days=1)


async def ids(rt: Runtime, table: str) -> set[int]:
    async with rt.engine.connect() as conn:
        return set((await conn.scalars(sa.text(f"SELECT id FROM {table}"))).all())


async def test_only_what_is_older_than_90_days_goes(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        live = await add_product(conn, "LIVE", category_id=category, stock=3)
        old_gone = await add_product(conn, "OLD", category_id=category, deleted_at=NOW - 120 * DAY)
        recent_gone = await add_product(
            conn, "RECENT", category_id=category, deleted_at=NOW - 30 * DAY
        )
        await add_movement(conn, old_gone, delta=-1, at=NOW - 5 * DAY)  # goes with its product
        for age in (100, 91, 95):
            await add_movement(conn, live, delta=-1, at=NOW - age * DAY)
        for age in (89, 10):
            await add_movement(conn, live, delta=-1, at=NOW - age * DAY)
        for raised, resolved in ((200, 100), (150, 91), (20, 10), (200, None)):
            await conn.execute(
                sa.text(
                    "INSERT INTO inventory_alerts (product_id, level, stock, raised_at,"
                    " resolved_at) VALUES (:p, 'low', 7, :raised, :resolved)"
                    " ON CONFLICT DO NOTHING"
                ),
                {
                    "p": live if resolved else recent_gone,
                    "raised": NOW - raised * DAY,
                    "resolved": NOW - resolved * DAY if resolved else None,
                },
            )
        kept_reports = []
        for kind, period, age in (
            (reports.ReportKind.DAILY_ANALYTICS, reports.Period.DAILY, 100),
            (reports.ReportKind.DAILY_ANALYTICS, reports.Period.DAILY, 92),
            (reports.ReportKind.DAILY_ANALYTICS, reports.Period.MONTHLY, 120),
            (reports.ReportKind.DAILY_ANALYTICS, reports.Period.DAILY, 10),
            (reports.ReportKind.WEEKLY_INVENTORY, reports.Period.WEEKLY, 200),
        ):
            saved = await reports.save_report(
                conn, kind, period=period, period_start=(NOW - age * DAY).date(), body={}
            )
            if age < 90 or period is not reports.Period.DAILY:
                kept_reports.append(saved.id)
    # The change log so far is old; one consumer has read half of it, another all of it.
    async with runtime.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE change_log SET at = now() - interval '100 days'"))

    async def readable() -> list[changelog.Change]:  # once older transactions have ended
        async with runtime.engine.connect() as conn:
            found = await changelog.read_changes(conn, after=changelog.START, limit=1000)
        return found if len(found) == 4 else []  # the category and three products

    log = await eventually(readable, timeout_s=60, what="the change log readable")
    async with runtime.engine.begin() as conn:
        await changelog.save_cursor(conn, "slow", log[1].position)
        await changelog.save_cursor(conn, "fast", log[-1].position)
    movements_before = await ids(runtime, "stock_movements")

    counts = await cleanup.clean_up(runtime.engine, as_of=NOW, batch_size=2)

    assert counts == {
        "stock_movements": 3,
        "products": 1,
        "resolved_alerts": 2,
        "daily_reports": 2,
        "change_log": 2,
    }
    assert await ids(runtime, "products") == {live, recent_gone}
    assert len(movements_before - await ids(runtime, "stock_movements")) == 4  # 3 + cascade
    async with runtime.engine.connect() as conn:
        left = (await conn.execute(sa.text("SELECT id, op FROM change_log ORDER BY id"))).all()
        alerts = (
            await conn.execute(
                sa.text("SELECT resolved_at IS NULL FROM inventory_alerts ORDER BY id")
            )
        ).all()
    # What "slow" has not read is kept, and so is the cleanup's own (new) purge row.
    assert [row.id for row in left][:2] == [log[2].id, log[3].id]
    assert [row.op for row in left][2:] == ["purge"]
    assert [row[0] for row in alerts] == [False, True]
    assert await ids(runtime, "reports") == set(kept_reports)
    again = await cleanup.clean_up(runtime.engine, as_of=NOW, batch_size=2)
    assert again == dict.fromkeys(counts, 0)
