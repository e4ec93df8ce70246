from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.store import changelog, db
from catalog.store.changelog import START, Change, Cursor

# Rows become readable once every older transaction on the server has ended. The server may be
# shared with other work, so a test waits for what it expects instead of assuming "at once".
SETTLE_S = 60


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A small pool on the test's database (a reader, a writer or two, a listener)."""
    engine = db.create_engine(database_url, pool_size=3, max_overflow=3)
    yield engine
    await engine.dispose()


async def _read(engine: AsyncEngine, after: Cursor, *, limit: int = 1000) -> list[Change]:
    async with engine.connect() as conn, conn.begin():
        return await changelog.read_changes(conn, after=after, limit=limit)


async def _read_until(
    engine: AsyncEngine, after: Cursor, *, count: int, limit: int = 1000
) -> list[Change]:
    """Everything after `after`, once at least `count` changes are readable."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        changes = await _read(engine, after, limit=limit)
        if len(changes) >= count or time.monotonic() > deadline:
            return changes
        await asyncio.sleep(0.05)


async def _connect(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(url)


async def _category(url: str) -> int:
    async with await _connect(url) as conn:
        cur = await conn.execute(
            "INSERT INTO categories (name, slug) VALUES ('Tools', 'tools') RETURNING id"
        )
        row = await cur.fetchone()
        assert row is not None
        return int(row[0])


async def _insert_products(
    conn: psycopg.AsyncConnection[Any], category_id: int, *skus: str
) -> None:
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO products (sku, name, category_id, price) VALUES (%s, %s, %s, 10)",
            [(sku, f"Product {sku}", category_id) for sku in skus],
        )


async def _product_ids(url: str, *skus: str) -> list[int]:
    async with await _connect(url) as conn:
        cur = await conn.execute(
            "SELECT id FROM products WHERE sku = ANY(%s) ORDER BY id", (list(skus),)
        )
        return [int(row[0]) for row in await cur.fetchall()]


async def _end(engine: AsyncEngine) -> Cursor:
    """A cursor past everything written so far (the test's category, say)."""
    changes = await _read_until(engine, START, count=1)
    assert changes
    return changes[-1].position


async def test_reader_waits_for_an_older_open_transaction_that_a_naive_reader_skips(
    engine: AsyncEngine, database_url: str
) -> None:
    category = await _category(database_url)
    cursor = await _end(engine)
    naive_last_id = cursor.last_id

    t1 = await _connect(database_url)
    t2 = await _connect(database_url)
    try:
        # T1 starts first and takes the lower change-log id, but commits last.
        await _insert_products(t1, category, "T1")
        await _insert_products(t2, category, "T2")
        await t2.commit()

        # T2's row is committed, yet T1 (an older transaction) is still open: nothing yet.
        assert await _read(engine, cursor) == []

        # Meanwhile a reader keyed on the id alone takes T2's row and moves past T1's id.
        async with engine.connect() as conn:
            naive = (
                (
                    await conn.execute(
                        text("SELECT id FROM change_log WHERE id > :last ORDER BY id"),
                        {"last": naive_last_id},
                    )
                )
                .scalars()
                .all()
            )
        assert len(naive) == 1
        naive_last_id = naive[-1]

        await t1.commit()
    finally:
        await t1.close()
        await t2.close()

    changes = await _read_until(engine, cursor, count=2)
    t1_id, t2_id = await _product_ids(database_url, "T1", "T2")
    assert [(c.entity, c.entity_id, c.op) for c in changes] == [
        ("product", t1_id, "insert"),
        ("product", t2_id, "insert"),
    ]
    assert changes[0].txid < changes[1].txid
    assert changes[0].id < changes[1].id == naive_last_id  # T1's row has the lower id ...

    async with engine.connect() as conn:
        skipped = (
            await conn.execute(
                text("SELECT id FROM change_log WHERE id > :last ORDER BY id"),
                {"last": naive_last_id},
            )
        ).all()
    assert skipped == []  # ... so the naive reader, already past it, never sees it


async def test_changes_carry_what_changed_and_the_stock_around_it(
    engine: AsyncEngine, database_url: str
) -> None:
    category = await _category(database_url)
    cursor = await _end(engine)
    async with await _connect(database_url) as conn:
        await _insert_products(conn, category, "A")
        await conn.commit()
        await conn.execute("UPDATE products SET stock = 7, name = 'Renamed' WHERE sku = 'A'")
        await conn.commit()

    insert, update = await _read_until(engine, cursor, count=2)
    assert (insert.op, insert.stock_after, insert.fields) == ("insert", 0, None)
    assert update.op == "update"
    assert update.fields == ("name", "stock")
    assert (update.stock_before, update.stock_after) == (0, 7)
    assert update.at.tzinfo is not None


async def test_cursor_persists_across_reader_instances(
    engine: AsyncEngine, database_url: str
) -> None:
    category = await _category(database_url)
    async with engine.begin() as conn:
        assert await changelog.load_cursor(conn, "search-sync") == START

    first = await _read_until(engine, START, count=1)
    async with engine.begin() as conn:
        await changelog.save_cursor(conn, "search-sync", changelog.advance(START, first))

    async with await _connect(database_url) as writer:
        await _insert_products(writer, category, "later")
        await writer.commit()

    # A new reader, as after a restart: it resumes where the first one stopped.
    async with engine.begin() as conn:
        resumed = await changelog.load_cursor(conn, "search-sync")
    assert resumed == first[-1].position
    (later,) = await _read_until(engine, resumed, count=1)
    assert later.entity == "product"


async def test_a_new_consumer_can_start_at_the_end(engine: AsyncEngine, database_url: str) -> None:
    category = await _category(database_url)
    await _end(engine)
    async with engine.begin() as conn:
        cursor = await changelog.load_cursor(conn, "cache", start_at_end=True)
    assert cursor != START
    assert await _read(engine, cursor) == []

    async with await _connect(database_url) as writer:
        await _insert_products(writer, category, "new")
        await writer.commit()
    (change,) = await _read_until(engine, cursor, count=1)
    assert change.entity == "product"

    # An existing consumer keeps its cursor whatever it asks for.
    async with engine.begin() as conn:
        assert await changelog.load_cursor(conn, "cache") == cursor


async def test_batches_respect_the_limit(engine: AsyncEngine, database_url: str) -> None:
    category = await _category(database_url)
    cursor = await _end(engine)
    async with await _connect(database_url) as conn:
        await _insert_products(conn, category, *(f"sku-{n}" for n in range(25)))
        await conn.commit()
    await _read_until(engine, cursor, count=25)

    sizes, seen = [], []
    while batch := await _read(engine, cursor, limit=10):
        sizes.append(len(batch))
        seen.extend(batch)
        cursor = changelog.advance(cursor, batch)
    assert sizes == [10, 10, 5]
    assert len({c.id for c in seen}) == 25


async def test_rolled_back_transactions_leave_no_rows_and_do_not_block(
    engine: AsyncEngine, database_url: str
) -> None:
    category = await _category(database_url)
    cursor = await _end(engine)
    aborted = await _connect(database_url)
    try:
        await _insert_products(aborted, category, "aborted")
        async with await _connect(database_url) as committed:
            await _insert_products(committed, category, "kept")
            await committed.commit()
        assert await _read(engine, cursor) == []  # held back while it may commit
        await aborted.rollback()
    finally:
        await aborted.close()

    (change,) = await _read_until(engine, cursor, count=1)
    assert [change.entity_id] == await _product_ids(database_url, "kept")
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT count(*) FROM change_log"))).scalar_one()
    assert rows == 2  # the category and the kept product


async def test_reading_after_writing_in_the_same_transaction_is_refused(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn, conn.begin():
        await changelog.save_cursor(conn, "sloppy", START)
        with pytest.raises(changelog.ReaderHoldsTransactionId):
            await changelog.read_changes(conn, after=START, limit=10)


async def test_lag_counts_unread_rows_and_the_age_of_the_oldest(
    engine: AsyncEngine, database_url: str
) -> None:
    category = await _category(database_url)
    async with engine.begin() as conn:
        await changelog.load_cursor(conn, "relay")
    async with await _connect(database_url) as writer:
        await _insert_products(writer, category, "a", "b", "c")
        # The category's row was written two hours ago, the products' one hour ago.
        await writer.execute(
            "UPDATE change_log SET at = at - CASE WHEN entity = 'category'"
            " THEN interval '2 hours' ELSE interval '1 hour' END"
        )
        await writer.commit()

    async with engine.connect() as conn:
        behind = await changelog.lag(conn, "relay")
        with pytest.raises(changelog.ConsumerNotFound):
            await changelog.lag(conn, "nobody")
    assert (behind.rows, behind.rows_capped) == (4, False)
    assert 7200 <= behind.seconds < 7200 + SETTLE_S
    assert behind.report() == {"rows": 4, "seconds": behind.seconds}

    changes = await _read_until(engine, START, count=4)
    assert changes[0].entity == "category"
    async with engine.begin() as conn:
        await changelog.save_cursor(conn, "relay", changes[0].position)
    async with engine.connect() as conn:
        past_the_category = await changelog.lag(conn, "relay")
    assert past_the_category.rows == 3
    assert 3600 <= past_the_category.seconds < 3600 + SETTLE_S

    async with engine.begin() as conn:
        await changelog.save_cursor(conn, "relay", changes[-1].position)
    async with engine.connect() as conn:
        caught_up = await changelog.lag(conn, "relay")
    assert (caught_up.rows, caught_up.seconds) == (0, 0.0)
    assert caught_up.report() == {"rows": 0, "seconds": 0.0}


async def test_prune_deletes_only_rows_every_consumer_has_read(
    engine: AsyncEngine, database_url: str
) -> None:
    category = await _category(database_url)
    async with await _connect(database_url) as writer:
        for n in range(6):
            await _insert_products(writer, category, f"p{n}")
            await writer.commit()
    changes = await _read_until(engine, START, count=7)
    async with engine.begin() as conn:
        await changelog.save_cursor(conn, "fast", changes[-1].position)
        await changelog.save_cursor(conn, "slow", changes[3].position)

    future = datetime.now(UTC) + timedelta(days=1)
    deleted = []
    while True:
        async with engine.begin() as conn:
            n = await changelog.prune_change_log(conn, older_than=future, batch_size=3)
        if not n:
            break
        deleted.append(n)
    assert deleted == [3, 1]  # up to and including what "slow" has read, in batches
    remaining = await _read(engine, START)
    assert [c.id for c in remaining] == [c.id for c in changes[4:]]

    async with engine.begin() as conn:
        kept = await changelog.prune_change_log(
            conn, older_than=datetime.now(UTC) - timedelta(days=1), batch_size=100
        )
    assert kept == 0  # nothing is old enough


async def test_listener_wakes_on_commit_and_times_out_otherwise(
    database_url: str,
) -> None:
    category = await _category(database_url)
    async with changelog.listen_for_changes(database_url) as listener:
        assert await listener.wait(timeout_s=0.1) is False
        async with await _connect(database_url) as writer:
            await _insert_products(writer, category, "x")
            await _insert_products(writer, category, "y")
            assert await listener.wait(timeout_s=0.2) is False  # not before the commit
            await writer.commit()
        assert await listener.wait(timeout_s=10) is True
        assert await listener.wait(timeout_s=0.1) is False  # both statements, one wake-up


@pytest.mark.slow
async def test_tailing_reader_sees_every_committed_change_exactly_once(
    engine: AsyncEngine, database_url: str
) -> None:
    category = await _category(database_url)
    writers, transactions = 6, 15
    rng = random.Random(7)
    done = asyncio.Event()

    async def write(w: int) -> None:
        async with await _connect(database_url) as conn:
            for t in range(transactions):
                skus = [f"w{w}-t{t}-{n}" for n in range(rng.randint(1, 3))]
                await _insert_products(conn, category, *skus)
                # Hold the transaction a little: commits land out of xid and id order.
                await asyncio.sleep(rng.random() * 0.03)
                if rng.random() < 0.15:
                    await conn.rollback()
                else:
                    await conn.commit()

    seen: list[Change] = []

    async def tail() -> None:
        async with changelog.listen_for_changes(database_url) as listener:
            while True:
                # A fresh connection and the durable cursor each round, as a restarted
                # consumer would have.
                async with engine.connect() as conn:
                    async with conn.begin():
                        cursor = await changelog.load_cursor(conn, "tail")
                    async with conn.begin():
                        batch = await changelog.read_changes(conn, after=cursor, limit=7)
                        seen.extend(batch)
                        if batch:
                            await changelog.save_cursor(
                                conn, "tail", changelog.advance(cursor, batch)
                            )
                if not batch:
                    if done.is_set():
                        return
                    await listener.wait(timeout_s=0.5)

    reader = asyncio.create_task(tail())
    await asyncio.gather(*(write(w) for w in range(writers)))

    async with engine.connect() as conn:
        committed = set(
            (
                await conn.execute(text("SELECT id FROM change_log WHERE entity = 'product'"))
            ).scalars()
        )
    deadline = time.monotonic() + SETTLE_S
    while {c.id for c in seen if c.entity == "product"} != committed:
        assert time.monotonic() < deadline, "the reader did not catch up"
        await asyncio.sleep(0.05)
    done.set()
    await asyncio.wait_for(reader, SETTLE_S)

    products = [c.id for c in seen if c.entity == "product"]
    assert len(products) == len(set(products)) == len(committed)
    assert [c.position for c in seen] == sorted(c.position for c in seen)
    async with engine.connect() as conn:
        in_table = (await conn.execute(text("SELECT count(*) FROM products"))).scalar_one()
    assert in_table == len(committed)
