"""search-sync across two real `catalog worker` processes sharing one tantivy index: its leader
SIGKILLed in the middle of a bulk change, the other takes over and the index ends up exact."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from psycopg.rows import dict_row

from catalog.api.app import create_app
from catalog.bootstrap import Runtime
from catalog.search.documents import iter_documents
from catalog.store import changelog
from tests.integration.test_service_failover import url_for_settings
from tests.support.polling import eventually, wait_until
from tests.support.processes import CatalogProcess, start_worker

pytestmark = pytest.mark.slow

SERVICE = "search-sync"
PRODUCTS = 2000
BATCH = 20  # CATALOG_SEARCH_SYNC_BATCH_SIZE: the bulk change spans some 110 batches
TIMEOUT_S = 180  # generous: a busy 2-core machine, two workers and the test's PostgreSQL


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[list[CatalogProcess]]:
    """Two workers on the test's catalogue (filled first, so that their first step builds the
    index from it) and one data directory; killed at the end."""
    fill(database_url)
    wait_until(lambda: settled(database_url), timeout_s=TIMEOUT_S, what="the fill readable")
    started = [
        start_worker(
            url_for_settings(database_url),
            tmp_path,
            name=name,
            concurrency=1,
            data_dir=str(tmp_path),  # the tantivy index lives on this one host
            search_sync_batch_size=BATCH,
            scheduler_enabled=False,
        )
        for name in ("w1", "w2")
    ]
    yield started
    for process in started:
        process.kill()


def fill(database_url: str) -> None:
    """`PRODUCTS` products under Home > Tools, named after their SKU."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        home = conn.execute(
            "INSERT INTO categories (name, slug) VALUES ('Home', 'home') RETURNING id"
        ).fetchone()
        assert home is not None
        conn.execute(
            "WITH tools AS (INSERT INTO categories (name, slug, parent_id)"
            " VALUES ('Tools', 'tools', %s) RETURNING id)"
            " INSERT INTO products (sku, name, category_id, price, stock)"
            " SELECT 'SKU-' || n, 'Product ' || n, tools.id, n %% 100 + 1, n %% 30"
            " FROM generate_series(1, %s) AS n, tools",
            (home[0], PRODUCTS),
        )


def bulk_change(database_url: str) -> int:
    """Rename and reprice every product, and soft-delete every ninth, in one transaction."""
    with psycopg.connect(database_url) as conn:
        renamed = conn.execute(
            "UPDATE products SET name = 'Renamed ' || sku, price = price + 1"
        ).rowcount
        deleted = conn.execute("UPDATE products SET deleted_at = now() WHERE id % 9 = 0").rowcount
    return renamed + deleted


def settled(database_url: str) -> bool:
    """Every change-log row is readable: no transaction anywhere on the (shared) server is
    older than the last one, so the first build's start comes after the whole fill."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT txid < pg_snapshot_xmin(pg_current_snapshot()) FROM change_log"
            " ORDER BY txid DESC LIMIT 1"
        ).fetchone()
    return row is None or bool(row[0])


def oldest_transaction(database_url: str) -> object:
    """The server's oldest open transaction, for a failure's message (a shared server's long
    transaction holds every change-log consumer back)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT datname, state, now() - xact_start, left(query, 100) FROM pg_stat_activity"
            " WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()"
            " ORDER BY xact_start LIMIT 1"
        ).fetchone()


def service_row(database_url: str) -> dict[str, Any] | None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute("SELECT * FROM work_services WHERE name = %s", (SERVICE,)).fetchone()


async def wake(rt: Runtime) -> None:
    transport = httpx.ASGITransport(app=create_app(rt))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        woken = await http.post(f"/api/backgroundjobs/background-services/{SERVICE}/wake")
        assert woken.status_code == 202, woken.text


def instance_of(process: CatalogProcess) -> str:
    return f"{socket.gethostname()}:{process.pid}"


async def lag_rows(rt: Runtime) -> int | None:
    """Change-log rows search-sync has not applied yet; None before its first build."""
    async with rt.engine.connect() as conn, conn.begin():
        try:
            return (await changelog.lag(conn, SERVICE)).rows
        except changelog.ConsumerNotFound:
            return None


async def diagnosis(database_url: str, rt: Runtime, workers: list[CatalogProcess]) -> str:
    return "\n".join(
        [
            f"lag {await lag_rows(rt)}; oldest transaction {oldest_transaction(database_url)}",
            f"service {service_row(database_url)}",
            *(f"--- {p.log_path.name}\n{p.log_path.read_text()}" for p in workers),
        ]
    )


async def test_a_leader_killed_mid_batch_is_replaced_and_the_index_ends_up_exact(
    database_url: str, runtime: Runtime, workers: list[CatalogProcess]
) -> None:
    search = runtime.search  # a reader on the workers' shared index directory

    async def built() -> bool:
        return await search.live_generation() is not None and await lag_rows(runtime) == 0

    try:
        await eventually(built, timeout_s=TIMEOUT_S, what="the first build")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await diagnosis(database_url, runtime, workers)}") from None
    assert await search.count() == PRODUCTS

    changed_at = time.time()
    changed = bulk_change(database_url)
    assert changed == PRODUCTS + PRODUCTS // 9

    woken: list[float] = []

    async def mid_work() -> dict[str, Any] | None:
        """The leader's row once it is running and has applied a few batches, not all."""
        behind = await lag_rows(runtime)
        row = service_row(database_url)
        if behind is None or row is None or not row["leader"]:
            return None
        finished = row["last_finished_at"]
        gave_up = finished is not None and finished.timestamp() > (woken or [changed_at])[-1]
        if row["state"] == "idle" and behind == changed and gave_up:
            # The step woken by the commit gave up before it could read a single change: a
            # transaction elsewhere on the shared server held them back for longer than it
            # looks for held-back rows (30 s). Once they are readable, wake it as an operator.
            if settled(database_url):
                await wake(runtime)
                woken.append(time.time())
            return None
        if row["state"] != "running":
            return None
        return row if 3 * BATCH <= changed - behind <= changed - 20 * BATCH else None

    try:
        row = await eventually(mid_work, timeout_s=TIMEOUT_S, what="search-sync mid-work")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await diagnosis(database_url, runtime, workers)}") from None
    (leader,) = [p for p in workers if instance_of(p) == row["leader"]]
    (survivor,) = [p for p in workers if p is not leader]
    leader.signal(signal.SIGKILL)
    leader.wait(timeout_s=10)
    killed_at = time.time()
    left = await lag_rows(runtime)
    assert left is not None and left >= 10 * BATCH, left  # it died with much work to do
    print(f"killed the leader with {left} of {changed} changes left ({len(woken)} wake-ups)")

    async def taken_over_and_done() -> dict[str, Any] | None:
        """The survivor's first step as leader finished: caught up, then reconciled."""
        now = service_row(database_url)
        if now is None or now["leader"] != instance_of(survivor) or await lag_rows(runtime):
            return None
        check = (now["details"] or {}).get("last_reconcile")
        done = now["last_finished_at"] is not None and now["last_finished_at"].timestamp()
        return now if check and done and done > killed_at else None

    try:
        final = await eventually(taken_over_and_done, timeout_s=TIMEOUT_S, what="a takeover")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await diagnosis(database_url, runtime, workers)}") from None

    print(f"the survivor caught up and reconciled {time.time() - killed_at:.1f} s after the kill")
    details = final["details"]
    # The survivor went on from the saved cursor, in batches of the configured size ...
    assert 0 < details["last_batch"]["size"] <= BATCH, details
    # ... and lost nothing: the reconcile after its catch-up had nothing to repair.
    check = details["last_reconcile"]
    assert (check["missing"], check["stale"], check["extra"]) == (0, 0, 0), check
    assert check["checked"] == PRODUCTS - PRODUCTS // 9

    # Every live product's latest document, and nothing else.
    generation = await search.live_generation()
    assert generation is not None and generation == details["generation"]
    indexed = dict(await search.digests(generation))
    truth: dict[int, int] = {}
    async with runtime.engine.connect() as conn:
        async for batch in iter_documents(conn, batch_size=1000):
            truth.update((document.id, document.digest) for document in batch)
        deleted = set(
            (await conn.execute(sa.text("SELECT id FROM products WHERE deleted_at IS NOT NULL")))
            .scalars()
            .all()
        )
    assert len(truth) == PRODUCTS - PRODUCTS // 9 and len(deleted) == PRODUCTS // 9
    assert indexed.keys() == truth.keys() and not deleted & indexed.keys()
    assert indexed == truth
    assert survivor.alive(), survivor.log()
