"""The reports API reads through the cache, fills it on a miss, and refuses bad input."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
import sqlalchemy as sa

from catalog import report_cache
from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.store import reports
from tests.support.settings import MakeSettings


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> Settings:
    """Each test on the in-process cache and on Redis (a key prefix of its own)."""
    if request.param == "redis":
        return make_settings(
            redis_url=request.getfixturevalue("redis_url"),
            cache_prefix=request.getfixturevalue("cache_prefix"),
        )
    return make_settings()


async def save(rt: Runtime, day: date, total: int) -> reports.Report:
    body = {
        "products": {"total": total},
        "stock_units": 0,
        "inventory_value": {},
        "categories": [],
    }
    async with rt.engine.begin() as conn:
        return await reports.save_report(
            conn,
            reports.ReportKind.DAILY_ANALYTICS,
            period=reports.Period.DAILY,
            period_start=day,
            body=body,
        )


async def test_reports_are_served_from_the_cache_once_filled(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    report = await save(runtime, date(2026, 3, 2), 7)
    cache = runtime.cache
    assert await cache.read(report_cache.report_key(cache, report.id)) is None

    first = await client.get(f"/api/reports/{report.id}")
    assert first.status_code == 200 and first.json()["body"]["products"]["total"] == 7
    assert first.json()["created_at"].endswith("+00:00")
    assert await cache.read(report_cache.report_key(cache, report.id)) == first.content
    latest = await client.get("/api/reports/analytics/latest")
    assert latest.json()["id"] == report.id

    async with runtime.engine.begin() as conn:  # the database row goes: the copies still answer
        await conn.execute(sa.text("DELETE FROM reports"))
    assert (await client.get(f"/api/reports/{report.id}")).json() == first.json()
    assert (await client.get("/api/reports/analytics/latest")).json()["id"] == report.id
    assert (await client.get(f"/api/reports/{report.id + 1}")).status_code == 404
    assert (await client.get("/api/reports/inventory/latest")).status_code == 404


async def test_a_new_run_replaces_the_cached_latest(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    old = await save(runtime, date(2026, 3, 1), 1)
    await report_cache.publish(runtime.cache, old)
    assert (await client.get("/api/reports/analytics/latest")).json()["id"] == old.id
    new = await save(runtime, date(2026, 3, 2), 2)
    await report_cache.publish(runtime.cache, new)
    assert (await client.get("/api/reports/analytics/latest")).json()["id"] == new.id


async def test_listing_pages_and_bad_input_gets_4xx(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    saved = [await save(runtime, date(2026, 3, day), day) for day in (1, 2, 3)]
    first = (await client.get("/api/reports", params={"limit": 2})).json()
    second = (
        await client.get("/api/reports", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [r["id"] for r in first["items"] + second["items"]] == [r.id for r in reversed(saved)]
    assert second["next_cursor"] is None
    assert (await client.get("/api/reports", params={"kind": "nope"})).status_code == 422
    assert (await client.get("/api/reports", params={"cursor": "%%%"})).status_code == 422
    assert (await client.get("/api/reports/0")).status_code == 422
    bad_format = await client.get(f"/api/reports/{saved[0].id}", params={"format": "xml"})
    assert bad_format.status_code == 422 and bad_format.json()["detail"]
    csv_answer = await client.get(f"/api/reports/{saved[0].id}", params={"format": "csv"})
    assert csv_answer.text.splitlines() == [
        "category_id,category,products,stock_units,currency,value"
    ]
