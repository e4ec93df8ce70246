"""/metrics from the database at scrape time, route-template HTTP metrics, health checks."""

from __future__ import annotations

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import conninfo_to_dict

from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from catalog.store import db
from tests.support.access import REMOTE, bearer, client_from, create_key
from tests.support.settings import MakeSettings


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_show_jobs_queue_depth_and_http_by_route_template(runtime: Runtime) -> None:
    for _ in range(3):
        await runtime.work.enqueue("job-retention", kwargs={})
    async with client_from(runtime) as http:
        assert (await http.get("/api/products/12345")).status_code == 404
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("catalog_jobs", frozenset({("task", "job-retention"), ("status", "todo")}))] >= 1
    queue_depth = [v for (name, _), v in found.items() if name == "catalog_queue_depth"]
    assert sum(queue_depth) >= 1
    route = frozenset(
        {("method", "GET"), ("route", "/api/products/{product_id}"), ("status", "404")}
    )
    assert found[("catalog_http_requests_total", route)] == 1
    assert ("catalog_workers_online", frozenset()) in found


async def test_job_runs_and_durations_come_from_the_journal(worker: Runtime) -> None:
    from tests.support.jobstate import wait_for_status

    enqueued = await worker.work.enqueue("job-retention", kwargs={})
    await wait_for_status(worker, enqueued.job_id, "succeeded")
    async with client_from(worker) as http:
        await http.get("/api/backgroundjobs/recurring-jobs")  # stores the declared schedules
        found = samples((await http.get("/metrics")).text)
    task = ("task", "job-retention")
    assert found[("catalog_job_runs", frozenset({task, ("outcome", "succeeded")}))] == 1
    assert found[("catalog_job_duration_seconds_gcount", frozenset({task}))] == 1
    assert ("catalog_schedule_lag_seconds", frozenset({("schedule", "job-retention")})) in found


async def test_metrics_are_protected_like_the_management_api(runtime: Runtime) -> None:
    async with client_from(runtime, REMOTE) as http:
        assert (await http.get("/metrics")).status_code == 403
        viewer = await create_key(runtime, "viewer")
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers=bearer(viewer))).status_code == 200


async def test_a_scrape_token_opens_metrics_and_nothing_else(
    make_settings: MakeSettings, database_url: str
) -> None:
    settings = make_settings(metrics_token="scrape-me")
    async with open_runtime(settings, database_url) as rt, client_from(rt, REMOTE) as http:
        assert (await http.get("/metrics", headers=bearer("scrape-me"))).status_code == 200
        assert (await http.get("/metrics", headers=bearer("wrong"))).status_code in (401, 403)
        jobs = await http.get("/api/backgroundjobs/jobs", headers=bearer("scrape-me"))
        assert jobs.status_code == 401


async def test_health_reports_each_dependency_with_its_latency(runtime: Runtime) -> None:
    async with client_from(runtime, REMOTE) as http:
        live = await http.get("/health/live")
        ready = await http.get("/health/ready")
    assert live.json() == {"status": "ok"}
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] is True and checks["database"]["required"] is True
    assert checks["database"]["latency_ms"] >= 0
    assert checks["cache"]["required"] is False


async def test_ready_fails_when_the_database_is_gone_but_live_does_not(
    runtime: Runtime, database_url: str
) -> None:
    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(db.with_database(database_url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    async with client_from(runtime) as http:
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"]["ok"] is False
    assert ready.json()["checks"]["database"]["error"]
    assert live.status_code == 200


@pytest.mark.parametrize("path", ["/health/live", "/health/ready"])
async def test_health_answers_anyone(runtime: Runtime, path: str) -> None:
    await create_key(runtime, "admin")
    async with client_from(runtime, REMOTE) as http:
        assert (await http.get(path)).status_code == 200


async def test_ready_reports_rabbitmq_where_configured_without_failing_on_it(
    make_settings: MakeSettings, database_url: str
) -> None:
    import os

    url = os.environ.get("CATALOG_TEST_RABBITMQ_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CATALOG_TEST_RABBITMQ_URL is not set")
        pytest.skip("CATALOG_TEST_RABBITMQ_URL is not set")
    for configured, reachable in ((url, True), ("amqp://guest:guest@127.0.0.1:1/", False)):
        settings = make_settings(rabbitmq_url=configured)
        async with open_runtime(settings, database_url) as rt, client_from(rt) as http:
            ready = await http.get("/health/ready")
        assert ready.status_code == 200
        check = ready.json()["checks"]["rabbitmq"]
        assert (check["ok"], check["required"]) == (reachable, False)
