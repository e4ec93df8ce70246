"""The original trigger endpoints and the reports API over HTTP, on a real `catalog serve`."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.test_serve import free_port, wait_healthy
from tests.support.processes import CatalogProcess, catalog_env

pytestmark = pytest.mark.slow

JOBS = "/api/backgroundjobs"


def wait_succeeded(base: str, job_id: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(f"{base}{JOBS}/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            assert job["state"] == "succeeded", job
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s")


def seed(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        category = conn.execute(
            "INSERT INTO categories (name, slug) VALUES ('Tools', 'tools') RETURNING id"
        ).fetchone()
        assert category is not None
        for sku, price, stock in (
            ("HAMMER", "12.50", 4),
            ("SAW", "20.00", 0),
            ("NAIL", "0.10", 500),
        ):
            conn.execute(
                "INSERT INTO products (sku, name, category_id, price, stock)"
                " VALUES (%s, %s, %s, %s, %s)",
                (sku, sku.title(), category[0], price, stock),
            )


def cleanup_jobs(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'monthly-data-cleanup'"
        ).fetchone()
        return int(row[0]) if row else 0


def test_the_original_endpoints_over_http(database_url: str, tmp_path: Path) -> None:
    seed(database_url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = catalog_env(
        database_url, port=port, demo_data=False, db_pool_size=2, scheduler_enabled=False
    )
    server = CatalogProcess(["serve"], env, tmp_path / "serve.log")
    try:
        wait_healthy(base, server)
        assert httpx.get(f"{base}/api/reports/analytics/latest").status_code == 404

        triggered = httpx.post(f"{base}{JOBS}/trigger-analytics")
        assert triggered.status_code == 202, triggered.text
        answer = triggered.json()
        assert answer["task"] == "daily-analytics" and not answer["already_running"]
        assert answer["job_url"] == f"{JOBS}/jobs/{answer['job_id']}"
        assert triggered.headers["location"] == answer["job_url"]
        wait_succeeded(base, answer["job_id"])
        analytics = httpx.get(f"{base}/api/reports/analytics/latest").json()
        assert analytics["kind"] == "daily-analytics"
        assert analytics["body"]["products"]["total"] == 3
        assert analytics["body"]["inventory_value"] == {"USD": "100.00"}
        by_id = httpx.get(f"{base}/api/reports/{analytics['id']}", params={"format": "csv"})
        assert by_id.headers["content-type"].startswith("text/csv")
        assert list(csv.reader(io.StringIO(by_id.text)))[1][:5] == ["1", "Tools", "3", "504", "USD"]

        inventory = httpx.post(f"{base}{JOBS}/trigger-inventory-report")
        assert inventory.status_code == 202
        wait_succeeded(base, inventory.json()["job_id"])
        report = httpx.get(f"{base}/api/reports/inventory/latest").json()
        assert report["body"]["stock_levels"]["out"]["items"][0]["sku"] == "SAW"
        listed = httpx.get(f"{base}/api/reports", params={"kind": "weekly-inventory"}).json()
        assert [r["id"] for r in listed["items"]] == [report["id"]]

        warmup = httpx.post(f"{base}{JOBS}/trigger-cache-warmup")
        assert warmup.status_code == 202 and warmup.json()["task"] == "cache-warmup"
        wait_succeeded(base, warmup.json()["job_id"])
        assert httpx.get(f"{base}/api/categories/tree").headers["x-cache"] == "hit"

        for bad in ("0", "10081", "-5", "abc", "1.5", ""):
            refused = httpx.post(f"{base}{JOBS}/schedule-cleanup", params={"delayMinutes": bad})
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["detail"]
        assert httpx.post(f"{base}{JOBS}/schedule-cleanup").status_code == 422
        assert cleanup_jobs(database_url) == 0
        first = httpx.post(f"{base}{JOBS}/schedule-cleanup", params={"delayMinutes": 10080})
        again = httpx.post(f"{base}{JOBS}/schedule-cleanup", params={"delayMinutes": 1})
        assert (first.status_code, again.status_code) == (202, 202)
        assert first.json()["state"] == "scheduled" and not first.json()["already_running"]
        assert again.json()["already_running"] and again.json()["job_id"] == first.json()["job_id"]
        assert cleanup_jobs(database_url) == 1

        recurring = {job["id"] for job in httpx.get(f"{base}{JOBS}/recurring-jobs").json()}
        assert {
            "daily-analytics",
            "popularity-update",
            "weekly-inventory-report",
            "monthly-data-cleanup",
        } <= recurring
        services = httpx.get(f"{base}{JOBS}/background-services").json()
        assert {"inventory-monitoring", "cache-warming"} <= {s["name"] for s in services}
        alerts = httpx.get(f"{base}/api/inventory/alerts", params={"level": "out"}).json()
        deadline = time.monotonic() + 30  # the monitor's first step sweeps the catalogue
        while not alerts["items"] and time.monotonic() < deadline:
            time.sleep(0.2)
            alerts = httpx.get(f"{base}/api/inventory/alerts", params={"level": "out"}).json()
        assert [a["stock"] for a in alerts["items"]] == [0]
    finally:
        server.kill()
        server.wait(timeout_s=10)
