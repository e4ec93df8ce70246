"""Keeping the live search generation in step with PostgreSQL: tailing the change log, reconcile.

`catch_up` applies the change log to the live generation, batch by batch, with the durable
cursor `search-sync`. Per batch: read the changes, load the documents of the changed products
and of every product under a changed category (a rename or move changes their path), upsert
the live ones, delete the deleted or soft-deleted ones, commit the index, and only then save
the cursor. Killed anywhere, the next step repeats at most that one batch and loses nothing:
applying a change means "index what PostgreSQL holds now", so applying it twice is harmless.

Each batch runs under the session advisory lock `INDEX_LOCK`, which a rebuild also takes to
swap generations and move the cursor back (see `catalog.search.rebuild`): a batch either
finished on the old generation before the swap, or starts on the new one after it.

`reconcile` compares the live generation's digests with documents built from PostgreSQL, in
id order and `batch_size` at a time, and repairs what differs: missing documents are added,
stale ones replaced, extra ones (no live product) deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog.search.backend import SearchBackend
from catalog.search.documents import (
    iter_documents,
    load_category_paths,
    load_documents,
    products_in_categories,
)
from catalog.store import changelog

CONSUMER = "search-sync"
BATCH_SIZE = 500  # change-log rows per batch (one index commit and one cursor save)
DOCUMENT_CHUNK = 1000  # documents loaded and written at a time, whatever a batch touches
HELD_BACK_POLL_S = 0.2  # while committed rows wait behind an open transaction, look this often
HELD_BACK_MAX_S = 30.0  # ... for at most this long per step; the next NOTIFY looks again
# One advisory lock key for "writing the live generation or swapping it".
INDEX_LOCK_KEY = 0x5EA4C8


@dataclass(frozen=True)
class BatchReport:
    changes: int
    upserted: int
    deleted: int
    at: datetime


@dataclass(frozen=True)
class CatchUpReport:
    batches: int
    changes: int
    last_batch: BatchReport | None


@dataclass(frozen=True)
class ReconcileReport:
    generation: str | None
    checked: int  # live products compared
    missing: int
    stale: int
    extra: int
    at: datetime

    @property
    def repaired(self) -> int:
        return self.missing + self.stale + self.extra


@contextlib.asynccontextmanager
async def index_lock(conn: AsyncConnection) -> AsyncIterator[None]:
    """Hold the index lock on `conn` (a session lock: commits inside do not release it)."""
    async with conn.begin():
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": INDEX_LOCK_KEY})
    try:
        yield
    finally:
        if conn.in_transaction():
            await conn.rollback()
        async with conn.begin():
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": INDEX_LOCK_KEY})


async def saved_cursor(conn: AsyncConnection) -> changelog.Cursor | None:
    """The `search-sync` cursor, or None before its first build."""
    row = (
        await conn.execute(
            text(
                "SELECT txid::text::bigint AS txid, last_id FROM change_log_cursors"
                " WHERE consumer = :consumer"
            ),
            {"consumer": CONSUMER},
        )
    ).one_or_none()
    return None if row is None else changelog.Cursor(txid=row.txid, last_id=row.last_id)


async def write_products(
    conn: AsyncConnection, search: SearchBackend, generation: str, product_ids: Sequence[int]
) -> tuple[int, int]:
    """Index what PostgreSQL holds now for `product_ids`: (upserted, deleted). Not committed."""
    upserted = deleted = 0
    wanted = sorted(set(product_ids))
    if not wanted:
        return 0, 0
    async with conn.begin():
        paths = await load_category_paths(conn)
    for start in range(0, len(wanted), DOCUMENT_CHUNK):
        chunk = wanted[start : start + DOCUMENT_CHUNK]
        async with conn.begin():
            documents = await load_documents(conn, chunk, paths=paths)
        gone = [product_id for product_id in chunk if product_id not in documents]
        await search.upsert(generation, list(documents.values()))
        await search.delete(generation, gone)
        upserted += len(documents)
        deleted += len(gone)
    return upserted, deleted


async def _affected_products(
    conn: AsyncConnection, changes: Sequence[changelog.Change]
) -> list[int]:
    product_ids = {c.entity_id for c in changes if c.entity == "product"}
    category_ids = sorted({c.entity_id for c in changes if c.entity == "category"})
    if category_ids:
        async with conn.begin():
            product_ids.update(await products_in_categories(conn, category_ids))
    return sorted(product_ids)


async def apply_batch(
    conn: AsyncConnection,
    search: SearchBackend,
    *,
    batch_size: int = BATCH_SIZE,
    after_commit: Callable[[], None] | None = None,
) -> BatchReport | None:
    """Apply the next batch of the change log to the live generation; None when none is new.

    `after_commit` runs between the index commit and the cursor save (tests stop a step there).
    """
    async with index_lock(conn):
        generation = await search.live_generation()
        if generation is None:
            return None  # nothing to keep in step: the first build comes first
        async with conn.begin():
            cursor = await changelog.load_cursor(conn, CONSUMER)
        async with conn.begin():
            changes = await changelog.read_changes(conn, after=cursor, limit=batch_size)
        if not changes:
            return None
        product_ids = await _affected_products(conn, changes)
        upserted, deleted = await write_products(conn, search, generation, product_ids)
        await search.commit(generation)
        if after_commit is not None:
            after_commit()
        async with conn.begin():
            await changelog.save_cursor(conn, CONSUMER, changelog.advance(cursor, changes))
    return BatchReport(
        changes=len(changes), upserted=upserted, deleted=deleted, at=datetime.now(UTC)
    )


async def catch_up(
    db: AsyncEngine,
    search: SearchBackend,
    *,
    should_stop: Callable[[], bool],
    batch_size: int = BATCH_SIZE,
    held_back_max_s: float = HELD_BACK_MAX_S,
    after_commit: Callable[[], None] | None = None,
) -> CatchUpReport:
    """Apply every change committed so far; wait briefly for ones held back by open transactions.

    A change whose transaction committed after an older one that is still open is not readable
    yet, and that older one's end may send no NOTIFY: while such rows exist, look again every
    `HELD_BACK_POLL_S` for up to `held_back_max_s`.
    """
    batches = changes = 0
    last: BatchReport | None = None
    deadline = time.monotonic() + held_back_max_s
    async with db.connect() as conn:
        while not should_stop():
            report = await apply_batch(
                conn, search, batch_size=batch_size, after_commit=after_commit
            )
            if report is not None:
                batches, changes, last = batches + 1, changes + report.changes, report
                continue
            async with conn.begin():
                try:
                    behind = (await changelog.lag(conn, CONSUMER)).rows
                except changelog.ConsumerNotFound:
                    behind = 0  # no live generation yet: nothing to keep in step
            if behind == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(HELD_BACK_POLL_S)
    return CatchUpReport(batches=batches, changes=changes, last_batch=last)


async def reconcile(
    db: AsyncEngine, search: SearchBackend, *, batch_size: int = DOCUMENT_CHUNK
) -> ReconcileReport:
    """Repair the live generation where it differs from PostgreSQL; the counts of each repair."""
    checked = missing = stale = extra = 0
    async with db.connect() as conn, index_lock(conn):
        generation = await search.live_generation()
        if generation is None:
            return ReconcileReport(None, 0, 0, 0, 0, datetime.now(UTC))
        indexed = dict(await search.digests(generation))
        async for batch in iter_documents(conn, batch_size=batch_size):
            repairs = []
            for document in batch:
                digest = indexed.pop(document.id, None)
                if digest is None:
                    missing += 1
                    repairs.append(document)
                elif digest != document.digest:
                    stale += 1
                    repairs.append(document)
            checked += len(batch)
            await search.upsert(generation, repairs)
        leftovers = sorted(indexed)
        for start in range(0, len(leftovers), DOCUMENT_CHUNK):
            await search.delete(generation, leftovers[start : start + DOCUMENT_CHUNK])
        extra = len(leftovers)
        if missing or stale or extra:
            await search.commit(generation)
    return ReconcileReport(generation, checked, missing, stale, extra, datetime.now(UTC))
