"""Dashboard pages: keyset paging, bulk actions with confirmation, schedule edits, counts."""

from __future__ import annotations

import re

import httpx
import pytest

from catalog.bootstrap import Runtime
from catalog.dashboard import queries
from catalog.dashboard.render import cron_in_words
from catalog.settings import Settings
from tests.support.dashboard import csrf_of
from tests.support.settings import MakeSettings

SCHEDULE = "job-retention"


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(job_modules=["tests.support.jobs:registry"])


def job_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<a href="/dashboard/jobs/(\d+)">', html)]


async def test_jobs_are_paged_newest_first_by_keyset(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    ids = [(await runtime.work.enqueue("job-retention", kwargs={})).job_id for _ in range(55)]
    first = await client.get("/dashboard/jobs?state=enqueued&task=job-retention")
    assert job_ids(first.text) == sorted(ids, reverse=True)[:50]
    older = re.search(r'id="older" href="([^"]+)"', first.text)
    assert older is not None
    second = await client.get(older.group(1).replace("&amp;", "&"))
    assert job_ids(second.text) == sorted(ids, reverse=True)[50:]
    assert 'id="older"' not in second.text


async def test_bulk_delete_asks_first_then_deletes_what_the_filter_selects(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    ids = [(await runtime.work.enqueue("job-retention", kwargs={})).job_id for _ in range(3)]
    token = await csrf_of(client, "/dashboard/jobs")
    form = {"csrf": token, "action": "delete", "state": "enqueued", "task": "job-retention"}
    asked = await client.post("/dashboard/bulk", data=form)
    assert asked.status_code == 200 and "Delete 3 jobs?" in asked.text
    async with runtime.work.pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM work_job_deletions")
        assert (await cur.fetchone()) == (0,)
    done = await client.post("/dashboard/bulk", data={**form, "confirm": "yes"})
    assert done.status_code == 303
    page = await client.get("/dashboard/jobs?state=deleted")
    assert sorted(job_ids(page.text)) == ids


async def test_a_bad_cron_is_refused_with_its_reason_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    token = await csrf_of(client, f"/dashboard/recurring/{SCHEDULE}")
    before = (await client.get("/api/backgroundjobs/recurring-jobs/job-retention")).json()
    refused = await client.post(
        f"/dashboard/recurring/{SCHEDULE}/edit",
        data={"csrf": token, "cron": "61 * * * *", "timezone": "UTC"},
    )
    assert refused.status_code == 422
    assert 'id="error"' in refused.text and "61" in refused.text
    zone = await client.post(
        f"/dashboard/recurring/{SCHEDULE}/edit",
        data={"csrf": token, "cron": "0 5 * * *", "timezone": "Mars/Olympus"},
    )
    assert zone.status_code == 422
    after = (await client.get("/api/backgroundjobs/recurring-jobs/job-retention")).json()
    assert after["cron"] == before["cron"] and after["updated_at"] == before["updated_at"]


async def test_a_good_cron_is_saved_and_previewed(client: httpx.AsyncClient) -> None:
    preview = await client.get(
        f"/dashboard/recurring/{SCHEDULE}/preview", params={"cron": "0 8 * * 1", "timezone": "UTC"}
    )
    assert preview.text.count("<li>") == 5 and "08:00:00 UTC" in preview.text
    token = await csrf_of(client, f"/dashboard/recurring/{SCHEDULE}")
    saved = await client.post(
        f"/dashboard/recurring/{SCHEDULE}/edit",
        data={"csrf": token, "cron": "0 8 * * 1", "timezone": "Europe/Berlin"},
    )
    assert saved.status_code == 303
    listed = await client.get("/dashboard/recurring")
    assert "At 08:00, only on Monday (Europe/Berlin)" in listed.text


async def test_state_counts_stop_at_the_cap(runtime: Runtime) -> None:
    async with runtime.work.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)"
            " SELECT 'default', 'bulk', '{}', 'succeeded' FROM generate_series(1, %s)",
            (queries.COUNT_CAP + 5,),
        )
        counts = await queries.state_counts(conn)
    assert str(counts[queries.JobState.SUCCEEDED]) == "1,000+"
    assert counts[queries.JobState.FAILED].n == 0


def test_cron_reads_in_words() -> None:
    assert cron_in_words("0 8 * * 1", "UTC") == "At 08:00, only on Monday (UTC)"


async def test_open_alerts_and_reports_with_charts_and_csv(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    from datetime import UTC, date, datetime

    from catalog.jobs.inventory_monitoring import thresholds_of
    from catalog.store import analytics, reports

    async with runtime.engine.begin() as conn:
        body = await analytics.daily_analytics(
            conn, as_of=datetime.now(UTC), thresholds=thresholds_of(runtime.settings)
        )
        body["categories"] = [
            {"id": 1, "name": "Tools", "products": 2, "stock_units": 5,
             "inventory_value": {"EUR": "120.50"}},
            {"id": 2, "name": "Toys", "products": 1, "stock_units": 1,
             "inventory_value": {"EUR": "10.00"}},
        ]  # fmt: skip
        body["inventory_value"] = {"EUR": "130.50"}
        saved = await reports.save_report(
            conn, reports.ReportKind.DAILY_ANALYTICS, period=reports.Period.DAILY,
            period_start=date.today(), body=body,
        )  # fmt: skip
    page = await client.get("/dashboard/reports")
    assert page.status_code == 200
    assert '<meter value="120.5" min="0" max="120.5">' in page.text
    assert '<meter value="10.0" min="0" max="120.5">' in page.text
    assert f'href="/api/reports/{saved.id}?format=csv"' in page.text
    csv = await client.get(f"/api/reports/{saved.id}?format=csv")
    assert csv.status_code == 200 and "Tools" in csv.text
    alerts_page = await client.get("/dashboard/alerts")
    assert alerts_page.status_code == 200 and "No open alert." in alerts_page.text


async def test_daily_history_reads_past_days_once_and_today_every_time(runtime: Runtime) -> None:
    insert = (
        "INSERT INTO procrastinate_events (job_id, type, at)"
        " VALUES (%s, %s, date_trunc('day', now()) - make_interval(days => %s) + interval '1 hour')"
    )
    job = await runtime.work.enqueue("job-retention", kwargs={})
    history = queries.DailyHistory()
    async with runtime.work.pool.connection() as conn:
        await conn.execute(insert, (job.job_id, "succeeded", 3))
        await conn.execute(insert, (job.job_id, "failed", 0))
        days = await history.read(conn)
        assert len(days) == queries.DAYS
        assert (days[-4].succeeded, days[-1].failed) == (1, 1)
        await conn.execute(insert, (job.job_id, "succeeded", 0))
        await conn.execute(insert, (job.job_id, "succeeded", 3))
        again = await history.read(conn)
    assert (again[-1].succeeded, again[-1].failed) == (1, 1)  # today: read afresh
    assert again[-4].succeeded == 1  # a past day: kept from the first read


async def test_workers_show_the_jobs_they_run(worker: Runtime, client: httpx.AsyncClient) -> None:
    from tests.support.jobstate import wait_for_status

    enqueued = await worker.work.enqueue("test-sleep", kwargs={"seconds": 5, "steps": 50})
    await wait_for_status(worker, enqueued.job_id, "doing")
    page = await client.get("/dashboard/workers")
    assert f'<a href="/dashboard/jobs/{enqueued.job_id}">' in page.text
    token = await csrf_of(client, f"/dashboard/jobs/{enqueued.job_id}")
    await client.post(f"/dashboard/jobs/{enqueued.job_id}/cancel", data={"csrf": token})
