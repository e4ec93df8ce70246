"""Seeding benchmark: load N synthetic products into a fresh database and print JSON.

    uv run python bench/seed.py [--products 1000000] [--keep NAME]

The server is CATALOG_BENCH_DATABASE_URL's when set, else an embedded PostgreSQL under
.catalog/bench-postgres. The database is dropped afterwards unless --keep names it (bench/api.py
can then reuse it with --database NAME).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from catalog.store import db, migrate
from catalog.store import seed as seeding
from catalog.store.embedded import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_ROOT = ROOT / ".catalog" / "bench-postgres"


@dataclass(frozen=True)
class BenchServer:
    """A PostgreSQL server to benchmark on: a URL of its maintenance database and its kind."""

    admin_url: str
    kind: str  # "configured" | "embedded"

    def url_of(self, database: str) -> str:
        return db.with_database(self.admin_url, database)


@contextlib.contextmanager
def bench_server() -> Iterator[BenchServer]:
    """CATALOG_BENCH_DATABASE_URL's server, or the embedded one for as long as the block runs."""
    configured = os.environ.get("CATALOG_BENCH_DATABASE_URL")
    if configured:
        yield BenchServer(db.with_database(db.libpq_url(configured), "postgres"), "configured")
        return
    server = EmbeddedPostgres(EMBEDDED_ROOT, database="postgres")
    try:
        yield BenchServer(server.start(), "embedded")
    finally:
        server.stop()


def _admin(server: BenchServer, sql: str) -> None:
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(sql)


def database_exists(server: BenchServer, name: str) -> bool:
    with psycopg.connect(server.admin_url) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None


def create_database(server: BenchServer, name: str) -> str:
    """A fresh, migrated database called `name` (dropped first if it exists); its URL."""
    drop_database(server, name)
    _admin(server, f'CREATE DATABASE "{name}"')
    url = server.url_of(name)
    migrate.upgrade(url)
    return url


def drop_database(server: BenchServer, name: str) -> None:
    _admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def seed_database(url: str, *, products: int, categories: int, seed: int) -> dict[str, object]:
    """Load the products and return the measurements."""
    started = time.perf_counter()
    report = asyncio.run(
        seeding.seed_products(url, products=products, categories=categories, seed=seed)
    )
    seconds = time.perf_counter() - started
    return {
        "products": report.products,
        "categories": report.categories,
        "seconds": round(seconds, 2),
        "rows_per_s": round(report.products / seconds),
        "indexes_rebuilt": report.indexes_rebuilt,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--categories", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="NAME", help="keep the database under this name")
    args = parser.parse_args()

    name = args.keep or f"catalog_bench_{uuid.uuid4().hex[:10]}"
    with bench_server() as server:
        try:
            url = create_database(server, name)
            result = seed_database(
                url, products=args.products, categories=args.categories, seed=args.seed
            )
        finally:
            if not args.keep:
                drop_database(server, name)
        sizes = {}
        if args.keep:
            with psycopg.connect(url) as conn:
                row = conn.execute(
                    "SELECT pg_size_pretty(pg_total_relation_size('products')),"
                    " pg_size_pretty(pg_total_relation_size('change_log'))"
                ).fetchone()
            assert row is not None
            sizes = {"database": name, "products_size": row[0], "change_log_size": row[1]}
    print(json.dumps({**result, "server": server.kind, **sizes}))


if __name__ == "__main__":
    main()
