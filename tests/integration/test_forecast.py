"""Stock-out forecasts in the database: the SQL agrees with the recurrence; alerts once per
change of prediction."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.bootstrap import Runtime
from catalog.domain.stock import Thresholds
from catalog.store import forecast
from catalog.store.alerts import Alert
from tests.support.catalogue import add_category, add_movement, add_product, set_stock

TODAY = date(2026, 3, 2)


def day(k: int) -> datetime:
    """Noon, `k` days before TODAY."""
    return datetime.combine(TODAY - timedelta(days=k), time(12), tzinfo=UTC)


async def add_series(conn: AsyncConnection, product_id: int, series: list[int]) -> None:
    """Daily outflow `series`, oldest first, ending yesterday."""
    for k, units in zip(range(len(series), 0, -1), series, strict=True):
        if units:
            await add_movement(conn, product_id, delta=-units, at=day(k))


async def stored(rt: Runtime) -> dict[int, tuple[float, float | None, date | None]]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT product_id, daily_demand, days_of_cover, stockout_on FROM stock_forecasts"
            )
        )
        return {r.product_id: (r.daily_demand, r.days_of_cover, r.stockout_on) for r in rows}


async def forecast_alerts(rt: Runtime) -> list[tuple[int, date, bool]]:
    async with rt.engine.connect() as conn:
        rows = await conn.execute(
            sa.text(
                "SELECT product_id, stockout_on, resolved_at IS NULL FROM inventory_alerts"
                " WHERE kind = 'forecast' ORDER BY id"
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def run(rt: Runtime) -> forecast.ForecastRun:
    seen: list[Alert] = []

    async def on_raised(conn: AsyncConnection, raised: list[Alert]) -> None:
        seen.extend(raised)

    result = await forecast.update_forecasts(
        rt.engine,
        today=TODAY,
        alert_within_days=7,
        thresholds=Thresholds(),
        on_raised=on_raised,
        batch_size=2,
    )
    assert seen == result.alerts_raised
    return result


async def test_forecasts_match_the_recurrence_and_alert_once_per_prediction(
    runtime: Runtime,
) -> None:
    rng = random.Random(8)
    noisy = [rng.randrange(0, 9) for _ in range(28)]
    async with runtime.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        steady = await add_product(conn, "STEADY", category_id=category, stock=30)
        jump = await add_product(conn, "JUMP", category_id=category, stock=12)
        restocked = await add_product(conn, "RESTOCKED", category_id=category, stock=40)
        noise = await add_product(conn, "NOISE", category_id=category, stock=1000)
        await add_series(conn, steady, [3] * 28)
        await add_series(conn, jump, [0] * 27 + [10])
        await add_movement(conn, restocked, delta=+40, at=day(3))
        await add_series(conn, noise, noisy)
        await add_movement(conn, noise, delta=-500, at=day(29))  # before the window
        await add_movement(conn, noise, delta=-500, at=day(0))  # today: not complete yet

    first = await run(runtime)

    found = await stored(runtime)
    assert set(found) == {steady, jump, noise}
    assert found[steady][0] == pytest.approx(3.0)
    assert found[steady][1:] == (pytest.approx(10.0), date(2026, 3, 12))
    assert found[jump][0] == pytest.approx(3.0)
    assert found[jump][1:] == (pytest.approx(4.0), date(2026, 3, 6))
    assert found[noise][0] == pytest.approx(forecast.smooth([float(x) for x in noisy]))
    async with runtime.engine.connect() as conn:
        one = await forecast.product_forecast(conn, jump, stock=12, today=TODAY)
        none = await forecast.product_forecast(conn, restocked, stock=40, today=TODAY)
    assert (one.days_of_cover, one.stockout_on) == (pytest.approx(4.0), date(2026, 3, 6))
    assert (none.daily_demand, none.stockout_on) == (0.0, None)

    # JUMP runs out within 7 days: one alert, and none more while the prediction holds.
    assert [(a.product_id, a.stockout_on) for a in first.alerts_raised] == [
        (jump, date(2026, 3, 6))
    ]
    assert (await run(runtime)).alerts_raised == []
    await set_stock(runtime.engine, jump, 30)  # 10 days of cover: no longer within 7
    later = await run(runtime)
    assert (later.alerts_raised, later.alerts_resolved) == ([], 1)
    await set_stock(runtime.engine, jump, 9)  # 3 days: a new prediction, a new alert
    again = await run(runtime)
    assert [(a.product_id, a.stockout_on, a.stock) for a in again.alerts_raised] == [
        (jump, date(2026, 3, 5), 9)
    ]
    assert await forecast_alerts(runtime) == [
        (jump, date(2026, 3, 6), False),
        (jump, date(2026, 3, 5), True),
    ]
