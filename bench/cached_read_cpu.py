"""CPU per cached `GET /api/products/{id}` inside the app, with and without its fast path.

    uv run python bench/cached_read_cpu.py [--requests 5000] [--ids 200]

Seeds a temporary database with `--ids` products, builds the ASGI app twice (as `catalog api`
does, and once more with the `CachedProductReads` middleware left out, so that FastAPI routes
every request), reads each id once to cache it, then calls each app `--requests` times
directly (no HTTP, no event-loop I/O) and measures process CPU time. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import Message

from catalog.api.app import create_app
from catalog.api.fastpath import CachedProductReads
from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings
from seed import bench_server, create_database, drop_database
from seed import seed_database as load_products


def scope_of(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(app: FastAPI, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope_of(path), receive, send)
    start, body = sent[0], sent[1]
    return start["status"], dict(start["headers"]), body["body"]


async def cpu_per_request(app: FastAPI, paths: list[str], requests: int) -> float:
    started = time.process_time()
    for n in range(requests):
        await call(app, paths[n % len(paths)])
    return (time.process_time() - started) / requests


async def measure(url: str, *, ids: int, requests: int) -> dict[str, Any]:
    settings = Settings(
        database_url=url,
        data_dir=Path(tempfile.mkdtemp(prefix="catalog-bench-")),
        demo_data=False,
        scheduler_enabled=False,
        services_enabled=False,
        db_pool_size=2,
        db_max_overflow=2,
    )
    async with open_runtime(settings, url) as rt:
        fast = create_app(rt)
        routed = create_app(rt)
        routed.user_middleware = [
            m for m in routed.user_middleware if m.cls is not CachedProductReads
        ]
        paths = [f"/api/products/{i}" for i in range(1, ids + 1)]
        for path in paths:
            status, headers, _ = await call(routed, path)
            assert status == 200, (path, status)
        answers = {}
        for name, app in (("fast_path", fast), ("routed", routed)):
            status, headers, body = await call(app, paths[0])
            assert status == 200 and headers[b"x-cache"] == b"hit", (name, status)
            headers.pop(b"x-request-id")
            answers[name] = (headers, body)
        assert answers["fast_path"] == answers["routed"], "the two answers differ"
        await cpu_per_request(fast, paths, requests // 10)  # warm up both
        await cpu_per_request(routed, paths, requests // 10)
        routed_s = await cpu_per_request(routed, paths, requests)
        fast_s = await cpu_per_request(fast, paths, requests)
    return {
        "requests": requests,
        "ids": ids,
        "routed_cpu_us": round(routed_s * 1e6, 1),
        "fast_path_cpu_us": round(fast_s * 1e6, 1),
        "speedup": round(routed_s / fast_s, 2),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--ids", type=int, default=200)
    args = parser.parse_args()
    name = f"catalog_bench_{uuid.uuid4().hex[:10]}"
    with bench_server() as server:
        try:
            url = create_database(server, name)
            load_products(url, products=args.ids, categories=5, seed=0)
            result = asyncio.run(measure(url, ids=args.ids, requests=args.requests))
        finally:
            drop_database(server, name)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
