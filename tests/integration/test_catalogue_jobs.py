"""The catalogue's recurring jobs: declared with the original ids and schedules, and run by a
worker end to end (report stored and cached, counts returned)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from catalog import report_cache
from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.store import reports
from tests.support.catalogue import add_category, add_product
from tests.support.jobstate import job_row, wait_for_status
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(worker_concurrency=2)


def test_the_original_schedules_and_retries_are_declared(runtime: Runtime) -> None:
    schedules = runtime.work.declared_schedules
    declared = {
        name: (schedules[name].cron, schedules[name].tz)
        for name in (
            "stock-forecast",
            "daily-analytics",
            "popularity-update",
            "weekly-inventory-report",
            "monthly-data-cleanup",
        )
    }
    assert declared == {
        "stock-forecast": ("30 1 * * *", "UTC"),
        "daily-analytics": ("0 2 * * *", "UTC"),
        "popularity-update": ("0 */12 * * *", "UTC"),
        "weekly-inventory-report": ("0 8 * * 1", "UTC"),
        "monthly-data-cleanup": ("0 3 1 * *", "UTC"),
    }
    assert runtime.work.definition("monthly-data-cleanup").policy.retry.attempts == 3  # 2 retries
    assert "inventory-monitoring" in runtime.work.services


async def run(rt: Runtime, name: str, **kwargs: object) -> str:
    job_id = (await rt.work.enqueue(name, kwargs=kwargs)).job_id
    await wait_for_status(rt, job_id, "succeeded", "failed", timeout_s=60)
    async with rt.work.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT outcome, result, error_message FROM work_job_runs WHERE job_id = %s", (job_id,)
        )
        outcome, result, error = (await cur.fetchall())[-1]
    assert outcome == "succeeded", error
    assert (await job_row(rt, job_id))["status"] == "succeeded"
    return str(result)


async def test_each_job_runs_on_a_worker_and_stores_and_caches_its_report(worker: Runtime) -> None:
    async with worker.engine.begin() as conn:
        category = await add_category(conn, "Tools")
        await add_product(conn, "P1", category_id=category, price=2, stock=3)
        await add_product(conn, "P2", category_id=category, price=1, stock=40)
    as_of = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)

    analytics = await run(worker, "daily-analytics", scheduled_at=as_of.isoformat())
    async with worker.engine.connect() as conn:
        stored = await reports.latest_report(conn, reports.ReportKind.DAILY_ANALYTICS)
    assert analytics == f"report {stored.id}"
    assert (stored.period, stored.period_start) == (reports.Period.MONTHLY, as_of.date())
    assert stored.body["products"]["total"] == 2
    assert stored.body["inventory_value"] == {"USD": "46.00"}
    cache = worker.cache
    cached = await cache.read(report_cache.latest_key(cache, reports.ReportKind.DAILY_ANALYTICS))
    assert cached is not None and json.loads(cached)["id"] == stored.id

    forecasts = await run(worker, "stock-forecast")
    assert forecasts == "0 products with demand; stock-out alerts: 0 raised, 0 resolved"
    weekly = await run(worker, "weekly-inventory-report")
    async with worker.engine.connect() as conn:
        latest = await reports.latest_report(conn, reports.ReportKind.WEEKLY_INVENTORY)
    assert weekly == f"report {latest.id}"
    assert latest.body["stock_levels"]["critical"]["count"] == 1
    assert await cache.read(report_cache.report_key(cache, latest.id)) is not None

    assert await run(worker, "popularity-update") == "scored 2 products, 0 changed"
    cleaned = json.loads(await run(worker, "monthly-data-cleanup"))
    assert cleaned == {
        "stock_movements": 0,
        "products": 0,
        "resolved_alerts": 0,
        "daily_reports": 0,
        "change_log": 0,
    }
