"""The weekly inventory report on known data, section by section, and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from catalog.bootstrap import Runtime
from catalog.domain.stock import Thresholds
from catalog.store import forecast, inventory_report, reports
from tests.support.catalogue import add_category, add_movement, add_product

AS_OF = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


async def test_sections_are_exact_and_the_csv_holds_them(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        tools = await add_category(conn, "Tools")
        empty = await add_category(conn, "Empty")
        out = await add_product(conn, "OUT", category_id=tools, price="4.00", stock=0)
        crit = await add_product(conn, "CRIT", category_id=tools, price="2.00", stock=5)
        low = await add_product(conn, "LOW", category_id=tools, price="1.50", stock=6)
        big = await add_product(conn, "BIG", category_id=tools, price=10, currency="EUR", stock=40)
        await add_product(conn, "GONE", category_id=tools, stock=1, deleted_at=AS_OF)
        await add_movement(conn, big, delta=-30, at=AS_OF - 2 * DAY)
        await add_movement(conn, big, delta=+5, at=AS_OF - 3 * DAY)
        await add_movement(conn, crit, delta=-12, at=AS_OF - DAY)
        await add_movement(conn, low, delta=-99, at=AS_OF - 8 * DAY)  # last week: not a mover
        await add_movement(conn, out, delta=+3, at=AS_OF - DAY)
        await add_movement(conn, out, delta=-3, at=AS_OF - DAY)  # nets to 0: not a mover
    await forecast.update_forecasts(
        runtime.engine, today=AS_OF.date(), alert_within_days=7, thresholds=Thresholds()
    )

    async with runtime.engine.begin() as conn:
        body = await inventory_report.weekly_inventory(
            conn, as_of=AS_OF, thresholds=Thresholds(), alert_within_days=7
        )
        report = await reports.save_report(
            conn,
            reports.ReportKind.WEEKLY_INVENTORY,
            period=reports.Period.WEEKLY,
            period_start=(AS_OF - 7 * DAY).date(),
            body=body,
        )

    assert body["categories"] == [
        {
            "id": tools,
            "name": "Tools",
            "products": 4,
            "stock_units": 51,
            "inventory_value": {"EUR": "400.00", "USD": "19.00"},
        },
        {"id": empty, "name": "Empty", "products": 0, "stock_units": 0, "inventory_value": {}},
    ]
    levels = body["stock_levels"]
    assert {k: (v["count"], [i["product_id"] for i in v["items"]]) for k, v in levels.items()} == {
        "out": (1, [out]),
        "critical": (1, [crit]),
        "low": (1, [low]),
    }
    assert [(m["product_id"], m["net_change"], m["movements"]) for m in body["movers"]] == [
        (big, -25, 2),
        (crit, -12, 1),
    ]
    # Smoothed demand of one day's outflow x, d days before the last complete day:
    # 0.3 * 0.7**d * x (the restock of OUT is not demand).
    demand = {
        out: 0.3 * 3,
        crit: 0.3 * 12,
        low: 0.3 * 0.7**7 * 99,
        big: 0.3 * 0.7 * 30,
    }
    stock = {out: 0, crit: 5, low: 6, big: 40}
    forecasts = body["forecast"]
    assert (forecasts["within_days"], forecasts["count_within"]) == (7, 4)
    assert [
        (f["product_id"], f["daily_demand"], f["days_of_cover"], f["stockout_on"])
        for f in forecasts["items"]
    ] == [
        (p, round(demand[p], 4), round(stock[p] / demand[p], 2), on)
        for p, on in [
            (out, "2026-03-02"),
            (crit, "2026-03-04"),
            (low, "2026-03-05"),
            (big, "2026-03-09"),
        ]
    ]

    rows = list(csv.DictReader(io.StringIO(reports.to_csv(report))))
    assert [(r["section"], r["sku"] or r["category"], r["currency"]) for r in rows] == [
        ("category", "Tools", "EUR"),
        ("category", "Tools", "USD"),
        ("category", "Empty", ""),
        ("out", "OUT", ""),
        ("critical", "CRIT", ""),
        ("low", "LOW", ""),
        ("mover", "BIG", ""),
        ("mover", "CRIT", ""),
        ("forecast", "OUT", ""),
        ("forecast", "CRIT", ""),
        ("forecast", "LOW", ""),
        ("forecast", "BIG", ""),
    ]
    assert rows[1]["value"] == "19.00" and rows[6]["net_change"] == "-25"
