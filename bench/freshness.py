"""Search freshness: how long after an update's commit a search finds it; prints JSON.

    uv run python bench/freshness.py [--mode both|serve|split] [--updates 200] [--rate 10]

For each mode a fresh database `catalog_bench_fresh_<mode>_<hex>` is created on the bench
server (CATALOG_BENCH_DATABASE_URL's, else the embedded PostgreSQL; see bench/seed.py), seeded
with --products products and dropped at the end unless --keep. The catalog runs as real
processes on free loopback ports, with a fresh data directory (the tantivy index):

- serve: one `catalog serve` (API, worker and background services, `search-sync` among them);
- split: `catalog api` and `catalog worker` sharing the data directory (one host).

The scheduler is off in both (no recurring job rewrites products meanwhile); the background
services, `search-sync` among them, run as usual.

Once `search-sync` has built the index, --updates updates are sent at --rate per second, each a
`PATCH /api/products/{id}` renaming a product to a unique word, while a poller per update
searches `GET /api/search?q=<word>` every --poll-ms until the product is among the hits. The
latency is from the PATCH's response (its commit) to the first search response that holds it.
Bounded: an update not found within --give-up seconds counts as lost. Only the processes the
script started are stopped (by pid).

Target: p99 < 1 s in both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

from api import _catalog_command, _with_host, free_port, stop_api, wait_healthy
from seed import BenchServer, bench_server, create_database, drop_database, seed_database

MODES = ("serve", "split")
INDEX_TIMEOUT_S = 300  # the first build of the index by `search-sync`


def _env(url: str, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    return env | {
        "CATALOG_DATABASE_URL": _with_host(url),
        "CATALOG_DATA_DIR": str(data_dir),
        "CATALOG_HOST": "127.0.0.1",
        "CATALOG_PORT": str(port),
        "CATALOG_LOG_LEVEL": "WARNING",
        "CATALOG_DEMO_DATA": "false",
        # No recurring jobs: a fresh catalogue's first catch-up runs (popularity, forecasts)
        # would rewrite products meanwhile. The background services, search-sync among them,
        # run as usual.
        "CATALOG_SCHEDULER_ENABLED": "false",
    }


def start(command: str, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*_catalog_command(), command],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def wait_indexed(base_url: str, products: int, processes: list[subprocess.Popen[bytes]]) -> float:
    """Seconds until `/api/search` answers with every product (search-sync's first build)."""
    started = time.monotonic()
    while time.monotonic() - started < INDEX_TIMEOUT_S:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"a catalog process exited with {process.returncode}")
        response = httpx.get(f"{base_url}/api/search", params={"page_size": 1}, timeout=10)
        if response.status_code == 200 and response.json()["total"] >= products:
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)
    raise SystemExit(f"the index was not built within {INDEX_TIMEOUT_S} s")


def product_ids(url: str, count: int) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM products WHERE deleted_at IS NULL ORDER BY random() LIMIT %s", (count,)
        ).fetchall()
    return [row[0] for row in rows]


async def measure(base_url: str, ids: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """Send the updates at the rate, poll for each, return the latencies (seconds)."""
    run = uuid.uuid4().hex[:6]
    latencies: list[float] = []
    lost: list[int] = []  # ordinals of the updates never found
    patch_ms: list[float] = []
    polls = 0
    failures: dict[str, int] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=10) as client:

        async def follow(n: int, product_id: int, word: str, committed: float) -> None:
            nonlocal polls
            while time.monotonic() - committed < args.give_up:
                polls += 1
                response = await client.get("/api/search", params={"q": word, "page_size": 20})
                if response.status_code == 200:
                    if any(hit["id"] == product_id for hit in response.json()["hits"]):
                        latencies.append(time.monotonic() - committed)
                        return
                else:
                    kind = f"search {response.status_code}"
                    failures[kind] = failures.get(kind, 0) + 1
                await asyncio.sleep(args.poll_ms / 1000)
            lost.append(n)

        async def update(n: int, product_id: int) -> None:
            # One word, letters and digits, far from every other run's and update's words.
            word = f"fresh{run}q{n:04d}z"
            sent = time.monotonic()
            response = await client.patch(f"/api/products/{product_id}", json={"name": word})
            committed = time.monotonic()
            patch_ms.append((committed - sent) * 1000)
            if response.status_code != 200:
                kind = f"patch {response.status_code}"
                failures[kind] = failures.get(kind, 0) + 1
                return
            await follow(n, product_id, word, committed)

        updates: list[asyncio.Task[None]] = []
        begin = time.monotonic()
        for n, product_id in enumerate(ids):
            # On schedule, whatever the previous updates' progress: a steady rate.
            await asyncio.sleep(max(0.0, begin + n / args.rate - time.monotonic()))
            updates.append(asyncio.create_task(update(n, product_id)))
        sending_s = time.monotonic() - begin
        await asyncio.gather(*updates)

    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3) if ordered else None

    patches = sorted(patch_ms)
    return {
        "updates": len(ids),
        "found": len(ordered),
        "lost": len(lost),
        "lost_updates": sorted(lost)[:50],
        "rate_per_s": round((len(ids) - 1) / sending_s, 2) if len(ids) > 1 else None,
        "p50_s": pct(0.50),
        "p99_s": pct(0.99),
        "max_s": round(ordered[-1], 3) if ordered else None,
        "min_s": round(ordered[0], 3) if ordered else None,
        "patch_p50_ms": round(patches[len(patches) // 2], 1) if patches else None,
        "searches": polls,
        "failures": failures,
        "target_p99_s": 1.0,
        "target_met": bool(ordered) and not lost and (pct(0.99) or 0) < 1.0,
    }


def run_mode(server: BenchServer, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    name = f"catalog_bench_fresh_{mode}_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        seeded = seed_database(url, products=args.products, categories=30, seed=args.seed)
        ids = product_ids(url, args.updates)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        with ExitStack() as stack:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fresh-")))
            kept_log = f"{args.log}.{mode}" if args.log else None
            log = stack.enter_context(
                open(kept_log, "w+b") if kept_log else tempfile.TemporaryFile()  # noqa: SIM115
            )
            processes: list[subprocess.Popen[bytes]] = []
            try:
                if mode == "serve":
                    processes.append(start("serve", _env(url, data_dir, port), log))
                else:
                    processes.append(start("api", _env(url, data_dir, port), log))
                    processes.append(start("worker", _env(url, data_dir, free_port()), log))
                wait_healthy(base_url, processes[0], log)
                first_build_s = wait_indexed(base_url, seeded["products"], processes)  # type: ignore[arg-type]
                result = asyncio.run(measure(base_url, ids, args))
            finally:
                for process in reversed(processes):
                    stop_api(process)
    finally:
        if args.keep:
            kept = name
        else:
            drop_database(server, name)
            kept = None
    return {
        "processes": "catalog serve" if mode == "serve" else "catalog api + catalog worker",
        "database": kept,
        "products": seeded["products"],
        "first_build_s": first_build_s,
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["both", *MODES], default="both")
    parser.add_argument("--products", type=int, default=20_000, help="seeded per mode")
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="updates per second")
    parser.add_argument("--poll-ms", type=float, default=20.0, help="between searches per update")
    parser.add_argument("--give-up", type=float, default=20.0, help="seconds per update")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--log", help="keep the processes' logs in LOG.<mode>")
    args = parser.parse_args()
    modes = MODES if args.mode == "both" else (args.mode,)
    started = time.monotonic()
    with bench_server() as server:
        results = {mode: run_mode(server, mode, args) for mode in modes}
    print(
        json.dumps(
            {
                "server": server.kind,
                "poll_ms": args.poll_ms,
                "load_average": os.getloadavg(),
                "seconds": round(time.monotonic() - started, 1),
                "modes": results,
            }
        )
    )


if __name__ == "__main__":
    main()
