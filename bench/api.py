"""API benchmark: `catalog api` over 1,000,000 products, loaded from a separate process; JSON out.

    uv run python bench/api.py [--database NAME] [--products 1000000] [--seconds 15]

The database is NAME on the bench server (see bench/seed.py), seeded first if it is missing or
holds fewer than --products products; without --database a temporary one is seeded and dropped.
The server runs as a subprocess on a free loopback port and is always stopped; the load comes
from another process (asyncio + httpx, keep-alive connections) for a bounded time per scenario:

- get_product: GET /api/products/{id} with random existing ids;
- list_filtered: GET /api/products?category_id=<a department>&min_price=10&max_price=200
  &stock_level=in_stock&sort=price&limit=50;
- get_product_cached: GET /api/products/{id} over --cached-ids ids, every one warmed into the
  cache first (each answer is `X-Cache: hit`);
- minimal_endpoint: the same paths on a minimal FastAPI app (bench/minimal_app.py, in its own
  process on another port, served by uvicorn as `catalog api` is) that returns the same bytes:
  the ceiling for a cached read. `cached_vs_minimal` is the ratio of their requests/s.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from seed import BenchServer, bench_server, create_database, database_exists, drop_database
from seed import seed_database as load_products

START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 15
REQUEST_TIMEOUT_S = 10
SAMPLE_IDS = 20_000
CACHED_IDS = 1_000
SCENARIOS = ("get_product", "list_filtered", "get_product_cached", "minimal_endpoint")


@dataclass(frozen=True)
class Scenario:
    name: str
    paths: list[str]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def product_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM products WHERE deleted_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def scenarios(url: str, *, seed: int, cached_ids: int = CACHED_IDS) -> list[Scenario]:
    """The request paths of each scenario, drawn from what the database holds."""
    with psycopg.connect(url) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM products TABLESAMPLE SYSTEM (5) REPEATABLE (%s)"
                " WHERE deleted_at IS NULL LIMIT %s",
                (seed, SAMPLE_IDS),
            )
        ]
        departments = [
            row[0]
            for row in conn.execute("SELECT id FROM categories WHERE parent_id IS NULL ORDER BY id")
        ]
    if not ids or not departments:
        raise SystemExit("the database has no products or no departments")
    rng = random.Random(seed)
    rng.shuffle(ids)
    cached = [f"/api/products/{i}" for i in ids[:cached_ids]]
    return [
        Scenario("get_product", [f"/api/products/{i}" for i in ids]),
        Scenario(
            "list_filtered",
            [
                f"/api/products?category_id={d}&min_price=10&max_price=200"
                "&stock_level=in_stock&sort=price&limit=50"
                for d in departments
            ],
        ),
        Scenario("get_product_cached", cached),
        Scenario("minimal_endpoint", cached),
    ]


# -- the API server ----------------------------------------------------------------------------


def _catalog_command() -> list[str]:
    script = Path(sys.executable).with_name("catalog")
    if script.exists():
        return [str(script)]
    found = shutil.which("catalog")
    if found:
        return [found]
    return [sys.executable, "-c", "from catalog.cli import main; main()"]


def _with_host(url: str) -> str:
    """`url` with a host, which Settings insists on; libpq still takes a socket from ?host=."""
    parts = urlsplit(url)
    return url if parts.hostname else urlunsplit(parts._replace(netloc=f"{parts.netloc}localhost"))


def start_api(url: str, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CATALOG_DATABASE_URL": _with_host(url),
        "CATALOG_HOST": "127.0.0.1",
        "CATALOG_PORT": str(port),
        "CATALOG_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [*_catalog_command(), "api"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            detail = log.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"`catalog api` exited with {server.returncode}:\n{detail}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"`catalog api` was not healthy within {START_TIMEOUT_S} s")


def stop_api(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server we started (by its pid), then SIGKILL if it does not stop."""
    if server.poll() is not None:
        return
    os.kill(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()


def check_contract(base_url: str, plan: list[Scenario]) -> dict[str, Any]:
    """One request per scenario before the load, so a missing route fails loudly, not as noise."""
    checks: dict[str, Any] = {}
    for scenario in plan:
        response = httpx.get(base_url + scenario.paths[0], timeout=REQUEST_TIMEOUT_S)
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        checks[scenario.name] = {
            "status": response.status_code,
            "items": len(body["items"]) if isinstance(body, dict) and "items" in body else None,
        }
    return checks


def warm_cache(base_url: str, paths: list[str]) -> dict[str, Any]:
    """GET every path once (filling the cache), then count how many answer from the cache."""
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as client:
        for path in paths:
            client.get(path).raise_for_status()
        hits = sum(client.get(path).headers.get("x-cache") == "hit" for path in paths)
    return {"ids": len(paths), "hits_after_warming": hits}


def cache_hits(base_url: str, paths: list[str]) -> int:
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S) as client:
        return sum(client.get(path).headers.get("x-cache") == "hit" for path in paths)


def start_minimal(body: Path, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """bench/minimal_app.py on `port`, answering every product path with `body`'s bytes."""
    script = Path(__file__).resolve().with_name("minimal_app.py")
    return subprocess.Popen(
        [sys.executable, str(script), "--port", str(port), "--body", str(body)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


# -- the load generator (runs in its own process) ----------------------------------------------


def _generate_load(
    base_url: str,
    paths: list[str],
    concurrency: int,
    warmup_s: float,
    seconds: float,
    out: multiprocessing.Queue[dict[str, Any]],
) -> None:
    out.put(asyncio.run(_load(base_url, paths, concurrency, warmup_s, seconds)))


async def _load(
    base_url: str, paths: list[str], concurrency: int, warmup_s: float, seconds: float
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies = array.array("d")
    errors: dict[str, int] = {}
    rng = random.Random(1)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_S
    ) as client:

        async def user(until: float, record: bool) -> None:
            while (now := time.perf_counter()) < until:
                path = paths[int(rng.random() * len(paths))]
                try:
                    response = await client.get(path)
                    await response.aread()
                    failed = None if response.status_code == 200 else str(response.status_code)
                except httpx.HTTPError as exc:
                    failed = type(exc).__name__
                if not record:
                    continue
                if failed is None:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors[failed] = errors.get(failed, 0) + 1

        warm_until = time.perf_counter() + warmup_s
        await asyncio.gather(*(user(warm_until, False) for _ in range(concurrency)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(user(until, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies.tobytes(), "errors": errors}


WRK_SCRIPT = """
paths = {%s}
math.randomseed(1)
request = function()
  return wrk.format("GET", paths[math.random(1, #paths)])
end
"""
_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_ms(text: str) -> float:
    number = text.rstrip("usm")
    return round(float(number) * _WRK_UNITS[text[len(number) :]], 2)


def run_scenario_wrk(
    base_url: str, scenario: Scenario, *, concurrency: int, warmup_s: float, seconds: float
) -> dict[str, Any]:
    """The scenario driven by wrk (C, one thread): it leaves the CPU to the server."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT % ", ".join(json.dumps(p) for p in scenario.paths))
        script.flush()

        def wrk(duration_s: float) -> str:
            command = [
                "wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s",
                "--latency", "-s", script.name, base_url,
            ]  # fmt: skip
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout

        wrk(warmup_s)
        report = wrk(seconds)
    found = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", report, re.MULTILINE))
    total = re.search(r"(\d+) requests in ([\d.]+)(\w+)", report)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", report)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    sockets = re.search(r"Socket errors: (.*)", report)
    error_kinds = {}
    if bad:
        error_kinds["non_2xx"] = int(bad.group(1))
    if sockets:
        error_kinds["socket"] = sockets.group(1)
    return {
        "generator": "wrk",
        "requests": int(total.group(1)) if total else None,
        "requests_per_s": float(rate.group(1)) if rate else None,
        "p50_ms": _wrk_ms(found["50"]) if "50" in found else None,
        "p99_ms": _wrk_ms(found["99"]) if "99" in found else None,
        "errors": int(bad.group(1)) if bad else 0,
        "error_kinds": error_kinds,
    }


def run_scenario(
    base_url: str, scenario: Scenario, *, concurrency: int, warmup_s: float, seconds: float
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    loader = context.Process(
        target=_generate_load,
        args=(base_url, scenario.paths, concurrency, warmup_s, seconds, results),
        name=f"load-{scenario.name}",
    )
    loader.start()
    try:
        raw = results.get(timeout=warmup_s + seconds + 4 * REQUEST_TIMEOUT_S + 30)
    finally:
        loader.join(10)
        if loader.is_alive():
            loader.kill()
            loader.join()
    latencies = array.array("d")
    latencies.frombytes(raw["latencies"])
    ordered = sorted(latencies)
    errors = sum(raw["errors"].values())

    def percentile_ms(p: float) -> float | None:
        if not ordered:
            return None
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {
        "generator": "python",
        "requests": len(ordered),
        "requests_per_s": round(len(ordered) / raw["elapsed"], 1),
        "p50_ms": percentile_ms(0.50),
        "p99_ms": percentile_ms(0.99),
        "errors": errors,
        "error_kinds": raw["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", metavar="NAME", help="reuse (or create and keep) NAME")
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15, help="per scenario")
    parser.add_argument("--warmup", type=float, default=3, help="seconds, per scenario")
    parser.add_argument("--concurrency", type=int, default=32, help="connections at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--cached-ids", type=int, default=CACHED_IDS, help="warmed, then read")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="wrk if installed (apt-get install wrk), else an asyncio+httpx process",
    )
    args = parser.parse_args()
    if args.generator == "auto":
        args.generator = "wrk" if shutil.which("wrk") else "python"

    name = args.database or f"catalog_bench_{uuid.uuid4().hex[:10]}"
    with bench_server() as server:
        try:
            result = _bench(server, name, args)
        finally:
            if not args.database:
                drop_database(server, name)
    print(json.dumps(result))


def _bench(server: BenchServer, name: str, args: argparse.Namespace) -> dict[str, Any]:
    url = server.url_of(name)
    seeded = None
    if not database_exists(server, name) or product_count(url) < args.products:
        create_database(server, name)
        seeded = load_products(url, products=args.products, categories=30, seed=args.seed)
    wanted = args.scenarios.split(",")
    unknown = sorted(set(wanted) - set(SCENARIOS))
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}")
    plan = [
        s for s in scenarios(url, seed=args.seed, cached_ids=args.cached_ids) if s.name in wanted
    ]
    on_catalog = [s for s in plan if s.name != "minimal_endpoint"]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    drive = run_scenario_wrk if args.generator == "wrk" else run_scenario
    results: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    with tempfile.TemporaryFile() as log, tempfile.NamedTemporaryFile(suffix=".json") as body:
        api = start_api(url, port, log)
        try:
            wait_healthy(base_url, api, log)
            checks = check_contract(base_url, on_catalog)
            for scenario in plan:
                if scenario.name == "get_product_cached":
                    extra["cache_warming"] = warm_cache(base_url, scenario.paths)
                if scenario.name == "minimal_endpoint":
                    results[scenario.name] = _minimal(base_url, scenario, body, log, drive, args)
                    continue
                results[scenario.name] = drive(
                    base_url,
                    scenario,
                    concurrency=args.concurrency,
                    warmup_s=args.warmup,
                    seconds=args.seconds,
                )
                if scenario.name == "get_product_cached":
                    sample = scenario.paths[:100]
                    extra["cache_hits_after_run"] = f"{cache_hits(base_url, sample)}/{len(sample)}"
        finally:
            stop_api(api)
    cached = results.get("get_product_cached", {}).get("requests_per_s")
    minimal = results.get("minimal_endpoint", {}).get("requests_per_s")
    if cached and minimal:
        extra["cached_vs_minimal"] = round(cached / minimal, 3)
        extra["cached_target_met"] = cached / minimal >= 0.5
    return {
        "database": name,
        "server": server.kind,
        "products": product_count(url),
        "seeded": seeded,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "load_average": os.getloadavg(),
        "first_response": checks,
        "scenarios": results,
        **extra,
    }


def _minimal(
    catalog_url: str,
    scenario: Scenario,
    body: IO[bytes],
    log: IO[bytes],
    drive: Callable[..., dict[str, Any]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The scenario on bench/minimal_app.py, serving the catalog's own answer for its first id."""
    sent = httpx.get(catalog_url + scenario.paths[0], timeout=REQUEST_TIMEOUT_S)
    sent.raise_for_status()
    body.write(sent.content)
    body.flush()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    minimal = start_minimal(Path(body.name), port, log)
    try:
        wait_healthy(base_url, minimal, log)
        same = httpx.get(base_url + scenario.paths[0], timeout=REQUEST_TIMEOUT_S).content
        if same != sent.content:
            raise SystemExit("the minimal endpoint does not send the catalog's bytes")
        result = drive(
            base_url,
            scenario,
            concurrency=args.concurrency,
            warmup_s=args.warmup,
            seconds=args.seconds,
        )
    finally:
        stop_api(minimal)
    return {**result, "body_bytes": len(sent.content)}


if __name__ == "__main__":
    main()
