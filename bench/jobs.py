"""Job engine benchmark: our layer against plain Procrastinate, in the same run. Prints JSON.

    uv run python bench/jobs.py [--jobs 10000] [--concurrency 5] [--paced-jobs 1000 --rate 100]

For each flavour ("plain": a bare Procrastinate task and worker; "ours": a job declared on a
JobRegistry, run by catalog's JobWorker with its journal and recovery sweep), a worker process
with the given concurrency is started, then:
- burst: --jobs no-op jobs are enqueued one by one as fast as possible while the worker drains
  them; jobs/s is jobs / (first enqueue -> last finish);
- paced: --paced-jobs are enqueued at --rate per second (below capacity), and the enqueue-to-
  start latency (Procrastinate's `deferred` -> `started` events) is reported as p50/p99.
The server is CATALOG_BENCH_DATABASE_URL's if set, else the embedded PostgreSQL (see seed.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import procrastinate
import psycopg

from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings
from catalog.work.context import JobContext
from catalog.work.engine import JobRegistry
from catalog.work.worker import JobWorker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed import bench_server, create_database, drop_database

registry = JobRegistry()
OURS_TASK = "bench-noop"
PLAIN_TASK = "bench-plain-noop"


@registry.job(OURS_TASK)
async def bench_noop(ctx: JobContext) -> None:
    """Does nothing."""


async def _plain_noop() -> None:
    return None


def plain_app(url: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, max_size=12))
    app.task(name=PLAIN_TASK)(_plain_noop)
    return app


# -- worker processes ------------------------------------------------------------------------


async def run_plain_worker(url: str, concurrency: int) -> None:
    app = plain_app(url)
    async with app.open_async():
        await app.run_worker_async(concurrency=concurrency, name="bench-plain")


async def run_our_worker(url: str, concurrency: int) -> None:
    settings = Settings(
        database_url=url,
        job_modules=["__main__:registry"],
        worker_concurrency=concurrency,
        db_pool_size=2,
        log_level="WARNING",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with open_runtime(settings, url) as rt:
        await JobWorker(rt, concurrency=concurrency).run(stop)


# -- the driver ------------------------------------------------------------------------------


def start_worker(flavour: str, url: str, concurrency: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            flavour,
            "--url",
            url,
            "--concurrency",
            str(concurrency),
        ],
        stdin=subprocess.DEVNULL,
    )


def wait_for_worker(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()
            if row and row[0] > 0:
                return
            time.sleep(0.1)
    raise SystemExit("the worker did not start")


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE procrastinate_jobs, work_job_runs, work_job_logs CASCADE")


async def enqueue_all(url: str, flavour: str, n: int, rate: float | None) -> float:
    """Enqueue n jobs one by one; return the monotonic time of the first enqueue."""
    app = plain_app(url) if flavour == "plain" else None
    settings = Settings(database_url=url, job_modules=["__main__:registry"], db_pool_size=1)
    async with open_runtime(settings, url) as rt:
        if app is not None:
            await app.open_async()
        started = time.monotonic()
        for i in range(n):
            if rate is not None:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if app is not None:
                await app.tasks[PLAIN_TASK].defer_async()
            else:
                await rt.work.enqueue(OURS_TASK)
        if app is not None:
            await app.close_async()
    return started


def wait_drained(url: str, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
            if row and row[0] >= n:
                return
            time.sleep(0.05)
    raise SystemExit(f"jobs not drained in {timeout_s} s")


def latencies_ms(url: str) -> list[float]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT extract(epoch FROM s.at - d.at) * 1000
              FROM procrastinate_events d
              JOIN procrastinate_events s ON s.job_id = d.job_id AND s.type = 'started'
             WHERE d.type = 'deferred'
            """
        ).fetchall()
    return [float(r[0]) for r in rows]


def last_finish_epoch(url: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(at)) FROM procrastinate_events WHERE type = 'succeeded'"
        ).fetchone()
    assert row is not None
    return float(row[0])


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else values[0]
    )


def measure(url: str, flavour: str, args: argparse.Namespace) -> dict[str, Any]:
    reset(url)
    worker = start_worker(flavour, url, args.concurrency)
    try:
        wait_for_worker(url)
        # Burst: enqueue everything while the worker drains.
        wall_start = time.time()
        asyncio.run(enqueue_all(url, flavour, args.jobs, rate=None))
        enqueued_s = time.time() - wall_start
        wait_drained(url, args.jobs, timeout_s=600)
        drain_s = last_finish_epoch(url) - wall_start
        burst_latency = latencies_ms(url)
        # Paced: below capacity, what does a single job wait?
        reset(url)
        asyncio.run(enqueue_all(url, flavour, args.paced_jobs, rate=args.rate))
        wait_drained(url, args.paced_jobs, timeout_s=120)
        paced = latencies_ms(url)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    return {
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "enqueue_s": round(enqueued_s, 2),
        "enqueue_per_s": round(args.jobs / enqueued_s, 1),
        "drain_s": round(drain_s, 2),
        "jobs_per_s": round(args.jobs / drain_s, 1),
        "burst_latency_ms": {
            "p50": round(percentile(burst_latency, 50), 1),
            "p99": round(percentile(burst_latency, 99), 1),
        },
        "paced": {
            "jobs": args.paced_jobs,
            "rate_per_s": args.rate,
            "latency_ms": {
                "p50": round(percentile(paced, 50), 1),
                "p99": round(percentile(paced, 99), 1),
            },
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--paced-jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--worker", choices=["plain", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        runner = run_plain_worker if args.worker == "plain" else run_our_worker
        asyncio.run(runner(args.url, args.concurrency))
        return

    name = f"bench_jobs_{uuid.uuid4().hex[:8]}"
    with bench_server() as server:
        url = create_database(server, name)
        try:
            results = {flavour: measure(url, flavour, args) for flavour in ("plain", "ours")}
        finally:
            drop_database(server, name)
    results["ours_vs_plain_throughput"] = round(
        results["ours"]["jobs_per_s"] / results["plain"]["jobs_per_s"], 3
    )
    results["server"] = server.kind
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
