"""Dashboard page times with a big job table: p50/p99 per page. Prints JSON.

    uv run python bench/dashboard.py [--jobs 1000000] [--requests 200] [--keep] [--reuse]

Fills a fresh database's job table with --jobs rows (mostly succeeded, some failed, cancelled,
waiting and running, over 8 tasks and 3 queues, with Procrastinate's events and a journal row
for every finished job), then requests each page --requests times in process (the ASGI app
over httpx, template rendering included, no network) and reports p50/p99 in milliseconds.
Target: p99 < 100 ms for the jobs list and the overview. The server is
CATALOG_BENCH_DATABASE_URL's if set, else the embedded PostgreSQL (see seed.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from catalog.api.app import create_app
from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed import bench_server, create_database, drop_database

DATABASE = "catalog_bench_dashboard"
TARGET_P99_MS = 100.0

FILL = """
INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts, scheduled_at)
SELECT (ARRAY['default', 'reports', 'maintenance'])[1 + i %% 3],
       'bench-task-' || (i %% 8),
       jsonb_build_object('n', i),
       (CASE WHEN i %% 100 < 90 THEN 'succeeded' WHEN i %% 100 < 96 THEN 'failed'
             WHEN i %% 100 < 98 THEN 'cancelled' WHEN i %% 100 < 99 THEN 'todo'
             ELSE 'doing' END)::procrastinate_job_status,
       1,
       CASE WHEN i %% 200 = 0 THEN now() + interval '1 hour' END
  FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS i
"""

EVENTS = """
INSERT INTO procrastinate_events (job_id, type, at)
SELECT j.id, e.type::procrastinate_job_event_type,
       now() - make_interval(secs => (%(jobs)s::bigint - j.id) * 2.5)
             + make_interval(secs => e.offset_s)
  FROM procrastinate_jobs j
 CROSS JOIN LATERAL (VALUES ('started', 1), (j.status::text, 2)) AS e(type, offset_s)
 WHERE j.id BETWEEN %(start)s::bigint AND %(stop)s::bigint AND j.status IN ('succeeded', 'failed')
"""

RUNS = """
INSERT INTO work_job_runs (job_id, attempt, worker, started_at, finished_at, outcome, result,
                           error_type, error_message)
SELECT j.id, 1, 'bench:1', now() - make_interval(secs => (%(jobs)s::bigint - j.id) * 2.5),
       now() - make_interval(secs => (%(jobs)s::bigint - j.id) * 2.5) + interval '1 second',
       j.status::text, CASE WHEN j.status = 'succeeded' THEN 'ok' END,
       CASE WHEN j.status = 'failed' THEN 'ValueError' END,
       CASE WHEN j.status = 'failed' THEN 'bad input' END
  FROM procrastinate_jobs j
 WHERE j.id BETWEEN %(start)s::bigint AND %(stop)s::bigint AND j.status IN ('succeeded', 'failed')
"""

BATCH = 100_000


def fill(url: str, jobs: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for start in range(1, jobs + 1, BATCH):
            stop = min(start + BATCH - 1, jobs)
            params = {"start": start, "stop": stop, "jobs": jobs}
            conn.execute(FILL, params)
            conn.execute(EVENTS, params)
            conn.execute(RUNS, params)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


async def measure(url: str, pages: dict[str, str], requests: int) -> dict[str, Any]:
    settings = Settings(database_url=url, demo_data=False, db_pool_size=4)
    results: dict[str, Any] = {}
    async with open_runtime(settings, url) as rt:
        transport = httpx.ASGITransport(app=create_app(rt), client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for name, path in pages.items():
                for _ in range(5):  # warm the pool and the caches
                    assert (await http.get(path)).status_code == 200, path
                times = []
                for _ in range(requests):
                    started = time.perf_counter()
                    response = await http.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, (path, response.status_code)
                times.sort()
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                results[name] = {
                    "path": path,
                    "p50_ms": round(statistics.median(times), 2),
                    "p99_ms": round(p99, 2),
                    "meets_target": p99 < TARGET_P99_MS,
                }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="measure a database a --keep run left, unrefilled"
    )
    args = parser.parse_args()
    with bench_server() as server:
        url = server.url_of(DATABASE) if args.reuse else create_database(server, DATABASE)
        try:
            fill_s = 0.0 if args.reuse else fill(url, args.jobs)
            deep = max(1, args.jobs // 2)
            pages = {
                "overview": "/dashboard",
                "overview_live": "/dashboard/fragments/overview",
                "jobs_all": "/dashboard/jobs",
                "jobs_failed": "/dashboard/jobs?state=failed",
                "jobs_enqueued": "/dashboard/jobs?state=enqueued",
                "jobs_by_task": "/dashboard/jobs?task=bench-task-3",
                "jobs_by_queue": "/dashboard/jobs?queue=reports",
                "jobs_failed_deep_page": f"/dashboard/jobs?state=failed&before={deep}",
                "job_detail": f"/dashboard/jobs/{deep}",
            }
            results = asyncio.run(measure(url, pages, args.requests))
        finally:
            if not args.keep:
                drop_database(server, DATABASE)
    print(json.dumps({"jobs": args.jobs, "server": server.kind, "fill_s": round(fill_s, 1),
                      "requests_per_page": args.requests, "target_p99_ms": TARGET_P99_MS,
                      "pages": results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
