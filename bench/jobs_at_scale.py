"""The catalogue's jobs at scale: each run by a real worker on a large catalogue; prints JSON.

    uv run python bench/jobs_at_scale.py [--products 1000000] [--database NAME] [--keep]

Seeds N products with bench/seed.py's seeder (or reuses --database NAME when it already holds
them), adds stock movements (400,000 in the last 30 days, 90,000 older than 90 days) and 10,000
products soft-deleted 100 days ago, so that the cleanup has 100,000 old rows to delete. Then for
each job it starts a fresh `catalog worker` (no scheduler, no services), enqueues the job, waits
for it and reports its duration (from the journal) and the worker's peak RSS (VmHWM). While the
cleanup runs, a writer updates random products' stock in a loop and reports its slowest write.

Targets (1,000,000 products): daily-analytics < 5 s, weekly-inventory-report < 10 s,
popularity-update < 60 s, cleanup of 100,000 old rows with no API write blocked > 100 ms,
worker peak RSS < 300 MB during each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog.bootstrap import work_registries
from catalog.settings import Settings
from catalog.work.engine import WorkEngine
from seed import bench_server, create_database, database_exists, drop_database, seed_database

JOBS = [
    "stock-forecast",
    "daily-analytics",
    "weekly-inventory-report",
    "popularity-update",  # the first run replaces the seeder's random scores: every row changes
    "popularity-update",  # the same day again: only products sold since change
    "monthly-data-cleanup",
]
RECENT_MOVEMENTS = 400_000
OLD_MOVEMENTS = 90_000
OLD_DELETED = 10_000


def product_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM products").fetchone()
    return int(row[0]) if row else 0


def add_history(url: str) -> dict[str, int]:
    """Movements and old soft-deletes on top of the seeded catalogue (once per database)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM stock_movements").fetchone()
        if row and row[0] >= RECENT_MOVEMENTS:
            return {"movements_added": 0}
        bounds = conn.execute("SELECT min(id), max(id) FROM products").fetchone()
        assert bounds is not None
        low, high = bounds
        span = high - low + 1
        for count, days_from, days_span in (
            (RECENT_MOVEMENTS, 0, 30),
            (OLD_MOVEMENTS, 91, 60),
        ):
            conn.execute(
                """
                INSERT INTO stock_movements
                    (product_id, delta, stock_before, stock_after, reason, actor, created_at)
                SELECT %(low)s + (g::bigint * 7919) %% %(span)s, -d, 100 + d, 100, 'bench', 'bench',
                       now() - make_interval(days => %(from)s)
                             - random() * make_interval(days => %(span_days)s)
                FROM generate_series(1, %(count)s) AS g,
                     LATERAL (SELECT 1 + (g %% 5) AS d) AS delta
                """,
                {
                    "low": low,
                    "span": span,
                    "from": days_from,
                    "span_days": days_span,
                    "count": count,
                },
            )
        conn.execute(
            "UPDATE products SET deleted_at = now() - interval '100 days'"
            " WHERE id IN (SELECT id FROM products WHERE deleted_at IS NULL"
            " ORDER BY id DESC LIMIT %s)",
            (OLD_DELETED,),
        )
        conn.execute("ANALYZE")
    return {"movements_added": RECENT_MOVEMENTS + OLD_MOVEMENTS}


def start_worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env |= {
        "CATALOG_DATABASE_URL": url,
        "CATALOG_SCHEDULER_ENABLED": "false",
        "CATALOG_SERVICES_ENABLED": "false",
        "CATALOG_WORKER_CONCURRENCY": "1",
        "CATALOG_DB_POOL_SIZE": "2",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "catalog", "worker"], env=env, stdout=out, stderr=out
        )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def enqueue(url: str, task: str) -> int:
    settings = Settings(database_url=url, db_pool_size=1)
    engine = WorkEngine(url, work_registries(settings), pool_max_size=2)
    await engine.open()
    try:
        return (await engine.enqueue(task)).job_id
    finally:
        await engine.close()


def wait_finished(url: str, job_id: int, timeout_s: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT outcome, result, extract(epoch FROM finished_at - started_at)"
                " FROM work_job_runs WHERE job_id = %s ORDER BY attempt DESC LIMIT 1",
                (job_id,),
            ).fetchone()
            if row is not None:
                return {"outcome": row[0], "result": row[1], "seconds": round(float(row[2]), 2)}
            time.sleep(0.05)
    raise SystemExit(f"job {job_id} did not finish in {timeout_s} s")


class Writer(threading.Thread):
    """API-like writes (one stock update per transaction) in a loop; the slowest one."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.latencies_ms: list[float] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            bounds = conn.execute(
                "SELECT min(id), max(id) FROM products WHERE deleted_at IS NULL"
            ).fetchone()
            assert bounds is not None
            low, high = bounds
            n = 0
            while not self.stop.is_set():
                n += 1
                product = low + (n * 104729) % (high - low + 1)
                started = time.perf_counter()
                conn.execute(
                    "UPDATE products SET stock = stock + 1, version = version + 1"
                    " WHERE id = %s AND deleted_at IS NULL",
                    (product,),
                )
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                time.sleep(0.005)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.latencies_ms) or [0.0]
        return {
            "writes": len(self.latencies_ms),
            "write_p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
            "write_max_ms": round(ordered[-1], 1),
        }


def run_job(url: str, task: str, log: Path) -> dict[str, Any]:
    worker = start_worker(url, log)
    writer = Writer(url) if task == "monthly-data-cleanup" else None
    try:
        time.sleep(3)  # the worker connects and starts listening
        if writer is not None:
            writer.start()
        job_id = asyncio.run(enqueue(url, task))
        outcome = wait_finished(url, job_id)
        outcome["peak_rss_mb"] = peak_rss_mb(worker.pid)
    finally:
        if writer is not None:
            writer.stop.set()
            writer.join()
        worker.terminate()
        worker.wait(timeout=60)
    if writer is not None:
        outcome |= writer.summary()
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--database", default="catalog_bench_jobs", help="reused when it exists")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    parser.add_argument("--jobs", default=",".join(JOBS), help="comma-separated job ids")
    args = parser.parse_args()

    result: dict[str, Any] = {"products": args.products}
    with bench_server() as server:
        url = server.url_of(args.database)
        if not database_exists(server, args.database) or product_count(url) < args.products:
            url = create_database(server, args.database)
            result["seed"] = seed_database(url, products=args.products, categories=30, seed=0)
        result |= add_history(url)
        with psycopg.connect(url, autocommit=True) as conn:  # an interrupted earlier run's jobs
            conn.execute("DELETE FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
        log = Path(".catalog") / "bench-jobs-worker.log"
        log.parent.mkdir(exist_ok=True)
        result["jobs"] = [{"job": task, **run_job(url, task, log)} for task in args.jobs.split(",")]
        result["server"] = server.kind
        if args.drop:
            drop_database(server, args.database)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
