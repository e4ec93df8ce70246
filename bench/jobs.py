"""Job engine benchmark: our layer against plain Procrastinate, in the same run. Prints JSON.

    uv run python bench/jobs.py [--jobs 10000] [--concurrency 5] [--paced-jobs 1000 --rate 100]

Two flavours: "plain", a bare Procrastinate task and worker; "ours", a job declared on a
WorkRegistry and run by catalog's JobWorker (journal, recovery sweep). Each measurement starts a
fresh worker process with --concurrency:
- burst (--rounds per flavour, in ABBA order so drift hits both): --jobs no-op jobs are enqueued
  one by one as fast as possible while the worker drains them; jobs/s is jobs / (first enqueue
  -> last finish), and the median over the rounds is compared;
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
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import procrastinate
import psycopg

from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings
from catalog.work.context import JobContext
from catalog.work.declarations import WorkRegistry
from catalog.work.worker import JobWorker

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed import bench_server, create_database, drop_database

T = TypeVar("T")

registry = WorkRegistry()
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
        job_modules=[f"{__name__}:registry"],
        worker_concurrency=concurrency,
        db_pool_size=2,
        log_level="WARNING",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with open_runtime(settings, url) as rt:
        await JobWorker(rt.resources, concurrency=concurrency).run(stop)


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


async def enqueue_all(url: str, flavour: str, n: int, rate: float | None) -> float:
    """Enqueue n jobs one by one; return the monotonic time of the first enqueue."""
    app = plain_app(url) if flavour == "plain" else None
    settings = Settings(database_url=url, job_modules=[f"{__name__}:registry"], db_pool_size=1)
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


def burst(url: str, flavour: str, args: argparse.Namespace) -> dict[str, Any]:
    """Enqueue --jobs one by one while a fresh worker drains them."""
    worker = start_worker(flavour, url, args.concurrency)
    try:
        wait_for_worker(url)
        wall_start = time.time()
        asyncio.run(enqueue_all(url, flavour, args.jobs, rate=None))
        enqueued_s = time.time() - wall_start
        wait_drained(url, args.jobs, timeout_s=600)
        drain_s = last_finish_epoch(url) - wall_start
        latency = latencies_ms(url)
    finally:
        stop_worker(worker)
    return {
        "enqueue_per_s": round(args.jobs / enqueued_s, 1),
        "drain_s": round(drain_s, 2),
        "jobs_per_s": round(args.jobs / drain_s, 1),
        "latency_ms": {
            "p50": round(percentile(latency, 50), 1),
            "p99": round(percentile(latency, 99), 1),
        },
    }


def paced(url: str, flavour: str, args: argparse.Namespace) -> dict[str, Any]:
    """Enqueue --paced-jobs at --rate (below capacity): what does one job wait to start?"""
    worker = start_worker(flavour, url, args.concurrency)
    try:
        wait_for_worker(url)
        asyncio.run(enqueue_all(url, flavour, args.paced_jobs, rate=args.rate))
        wait_drained(url, args.paced_jobs, timeout_s=120)
        latency = latencies_ms(url)
    finally:
        stop_worker(worker)
    return {"p50": round(percentile(latency, 50), 1), "p99": round(percentile(latency, 99), 1)}


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--paced-jobs", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=2, help="bursts per flavour (ABBA order)")
    parser.add_argument("--worker", choices=["plain", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        runner = run_plain_worker if args.worker == "plain" else run_our_worker
        asyncio.run(runner(args.url, args.concurrency))
        return

    # ABBA order over the rounds, so that drift (autovacuum, other load) hits both flavours.
    order = [("plain", "ours") if r % 2 == 0 else ("ours", "plain") for r in range(args.rounds)]
    bursts: dict[str, list[dict[str, Any]]] = {"plain": [], "ours": []}
    latencies: dict[str, dict[str, float]] = {}

    def fresh(measurement: Callable[[str, str, argparse.Namespace], T], flavour: str) -> T:
        # A new database each time: no dead tuples or stale statistics from the last run.
        name = f"bench_jobs_{uuid.uuid4().hex[:8]}"
        url = create_database(server, name)
        try:
            return measurement(url, flavour, args)
        finally:
            drop_database(server, name)

    with bench_server() as server:
        for pair in order:
            for flavour in pair:
                bursts[flavour].append(fresh(burst, flavour))
        for flavour in ("plain", "ours"):
            latencies[flavour] = fresh(paced, flavour)
    results: dict[str, Any] = {
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "server": server.kind,
        "cpus": os.cpu_count(),
    }
    for flavour in ("plain", "ours"):
        rates = [b["jobs_per_s"] for b in bursts[flavour]]
        results[flavour] = {
            "jobs_per_s_median": round(statistics.median(rates), 1),
            "bursts": bursts[flavour],
            "paced": {
                "jobs": args.paced_jobs,
                "rate_per_s": args.rate,
                "latency_ms": latencies[flavour],
            },
        }
    results["ours_vs_plain_throughput"] = round(
        results["ours"]["jobs_per_s_median"] / results["plain"]["jobs_per_s_median"], 3
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
