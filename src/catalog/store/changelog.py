"""The change log: reading it in commit-safe order, durable consumer cursors, waking, pruning.

Every write to products and categories appends rows to `change_log` in the writer's transaction
(statement triggers, migration 0001). Ids come from a sequence and are taken before commit, so
they commit out of order: a reader that remembers "the last id I saw" skips a row whose
transaction took a lower id and committed later. We order by the writer's transaction id
instead, and only read rows of transactions below the reader's snapshot xmin: every such
transaction has finished, so no row can still appear before the cursor.

A consumer's loop, each step in its own short transaction:

    async with conn.begin():
        cursor = await load_cursor(conn, "search-sync")     # may create the row: commit it
    while running:
        async with conn.begin():
            changes = await read_changes(conn, after=cursor, limit=BATCH)   # read first ...
            ...apply them...
            cursor = advance(cursor, changes)
            await save_cursor(conn, "search-sync", cursor)  # ... then write
        if not changes:
            await listener.wait(timeout_s=POLL_S)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.errors import NotFound

CHANNEL = "catalog_change_log"
# `lag` counts unread rows up to this many; beyond it the count is a lower bound.
LAG_COUNT_LIMIT = 100_000


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the change log: everything at or before (txid, last_id) has been read."""

    txid: int
    last_id: int


START = Cursor(txid=0, last_id=0)


@dataclass(frozen=True)
class Change:
    """One row of the change log: what changed, in which transaction, and the stock around it."""

    id: int
    txid: int
    entity: str  # 'product' | 'category'
    entity_id: int
    op: str  # 'insert' | 'update' | 'delete' (soft) | 'purge'
    fields: tuple[str, ...] | None  # the columns an update changed
    stock_before: int | None
    stock_after: int | None
    at: datetime

    @property
    def position(self) -> Cursor:
        return Cursor(txid=self.txid, last_id=self.id)


class LagReport(TypedDict):
    """A `Lag` as a background service reports it: `ctx.set_lag(**lag.report())`."""

    rows: int
    seconds: float


@dataclass(frozen=True)
class Lag:
    """How far a consumer is behind: unread rows and the age of the oldest unread one."""

    rows: int
    seconds: float  # since the oldest unread row was written (its `at`); 0 when none is unread
    rows_capped: bool  # True when more than LAG_COUNT_LIMIT rows are unread

    def report(self) -> LagReport:
        """Both numbers, as keyword arguments of `ServiceContext.set_lag`."""
        return LagReport(rows=self.rows, seconds=self.seconds)


class ConsumerNotFound(NotFound):
    def __init__(self, consumer: str) -> None:
        super().__init__(f"change-log consumer {consumer!r} has no cursor")
        self.consumer = consumer


class ReaderHoldsTransactionId(RuntimeError):
    """The reading transaction wrote before it read.

    Its own transaction id caps its snapshot's xmin, so it can never see past itself, and while
    it stays open it holds back every other reader. Read first, then write the cursor.
    """


# One statement so that the snapshot bounding the read is the one the scan uses. The outer
# row is always there, so we learn whether the reader holds an xid even when nothing is new.
_READ = text(
    """
    SELECT me.own_xid IS NOT NULL AS holds_xid,
           c.id, c.txid::text::bigint AS txid, c.entity, c.entity_id, c.op, c.fields,
           c.stock_before, c.stock_after, c.at
    FROM (SELECT pg_current_xact_id_if_assigned() AS own_xid) AS me
    LEFT JOIN LATERAL (
        SELECT * FROM change_log
        WHERE (txid, id) > (CAST(:txid AS xid8), :last_id)
          AND txid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY txid, id
        LIMIT :limit
    ) AS c ON true
    ORDER BY c.txid, c.id
    """
)


async def read_changes(conn: AsyncConnection, *, after: Cursor, limit: int) -> list[Change]:
    """Up to `limit` changes after `after` from finished transactions, in (txid, id) order.

    Raises ReaderHoldsTransactionId if the transaction has already written something.
    """
    if limit < 1:
        raise ValueError(f"limit must be positive, not {limit}")
    result = await conn.execute(
        _READ, {"txid": str(after.txid), "last_id": after.last_id, "limit": limit}
    )
    rows = result.all()
    if rows and rows[0].holds_xid:
        raise ReaderHoldsTransactionId(
            "read_changes ran in a transaction that already holds a transaction id"
        )
    return [
        Change(
            id=row.id,
            txid=row.txid,
            entity=row.entity,
            entity_id=row.entity_id,
            op=row.op,
            fields=tuple(row.fields) if row.fields is not None else None,
            stock_before=row.stock_before,
            stock_after=row.stock_after,
            at=row.at,
        )
        for row in rows
        if row.id is not None
    ]


def advance(cursor: Cursor, changes: Sequence[Change]) -> Cursor:
    """The cursor after having handled `changes` (a batch from `read_changes`)."""
    return changes[-1].position if changes else cursor


async def load_cursor(
    conn: AsyncConnection, consumer: str, *, start_at_end: bool = False
) -> Cursor:
    """The consumer's saved cursor; a new consumer is registered at the start (or the end).

    Registering writes a row: commit before reading changes in the same transaction.
    """
    found = await _fetch_cursor(conn, consumer)
    if found is not None:
        return found
    start = await _end_of_log(conn) if start_at_end else START
    await conn.execute(
        text(
            """
            INSERT INTO change_log_cursors (consumer, txid, last_id)
            VALUES (:consumer, CAST(:txid AS xid8), :last_id)
            ON CONFLICT (consumer) DO NOTHING
            """
        ),
        {"consumer": consumer, "txid": str(start.txid), "last_id": start.last_id},
    )
    # Another instance may have registered it first; its row wins.
    registered = await _fetch_cursor(conn, consumer)
    assert registered is not None
    return registered


async def save_cursor(conn: AsyncConnection, consumer: str, cursor: Cursor) -> None:
    """Record that `consumer` has handled everything up to `cursor` (also moves it back)."""
    await conn.execute(
        text(
            """
            INSERT INTO change_log_cursors (consumer, txid, last_id, updated_at)
            VALUES (:consumer, CAST(:txid AS xid8), :last_id, now())
            ON CONFLICT (consumer) DO UPDATE
            SET txid = excluded.txid, last_id = excluded.last_id, updated_at = excluded.updated_at
            """
        ),
        {"consumer": consumer, "txid": str(cursor.txid), "last_id": cursor.last_id},
    )


async def lag(conn: AsyncConnection, consumer: str) -> Lag:
    """How far `consumer` is behind everything committed so far.

    A consumer service reports it with `ctx.set_lag(**(await lag(conn, name)).report())`.
    """
    cursor = await _fetch_cursor(conn, consumer)
    if cursor is None:
        raise ConsumerNotFound(consumer)
    params = {"txid": str(cursor.txid), "last_id": cursor.last_id, "cap": LAG_COUNT_LIMIT + 1}
    row = (
        await conn.execute(
            text(
                """
                SELECT
                    (SELECT count(*) FROM (
                        SELECT 1 FROM change_log
                        WHERE (txid, id) > (CAST(:txid AS xid8), :last_id)
                        LIMIT :cap) AS unread) AS rows,
                    coalesce(extract(epoch FROM clock_timestamp() - (
                        SELECT at FROM change_log
                        WHERE (txid, id) > (CAST(:txid AS xid8), :last_id)
                        ORDER BY txid, id LIMIT 1)), 0)::float8 AS seconds
                """
            ),
            params,
        )
    ).one()
    rows = min(int(row.rows), LAG_COUNT_LIMIT)
    return Lag(
        rows=rows, seconds=max(0.0, float(row.seconds)), rows_capped=row.rows > LAG_COUNT_LIMIT
    )


async def prune_change_log(conn: AsyncConnection, *, older_than: datetime, batch_size: int) -> int:
    """Delete up to `batch_size` rows written before `older_than` that every consumer has read.

    One batch per call, so that no transaction holds an xid (and so every reader) for long:
    call it until it returns 0, committing after each call. With no consumer registered at all,
    every row old enough goes.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, not {batch_size}")
    result = await conn.execute(
        text(
            """
            WITH horizon AS (
                SELECT txid, last_id FROM change_log_cursors ORDER BY txid, last_id LIMIT 1
            ), doomed AS (
                SELECT c.id FROM change_log c
                WHERE c.at < :older_than
                  AND c.txid < pg_snapshot_xmin(pg_current_snapshot())
                  AND NOT EXISTS (
                      SELECT 1 FROM horizon h WHERE (c.txid, c.id) > (h.txid, h.last_id))
                ORDER BY c.txid, c.id
                LIMIT :batch_size
            )
            DELETE FROM change_log WHERE id IN (SELECT id FROM doomed)
            """
        ),
        {"older_than": older_than, "batch_size": batch_size},
    )
    return int(result.rowcount)


class ChangeListener:
    """A dedicated connection LISTENing on the change-log channel, to wake a tailing consumer."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def wait(self, *, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for a change to be committed; False on timeout.

        Several commits may have been signalled meanwhile: all are taken, one wake-up reads them.
        """
        woken = False
        async for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
            woken = True
        if woken:
            async for _ in self._conn.notifies(timeout=0):
                pass
        return woken


@contextlib.asynccontextmanager
async def listen_for_changes(url: str) -> AsyncIterator[ChangeListener]:
    """A listener on its own autocommit connection, for as long as the block runs.

    Start listening before the first read, so that nothing committed in between goes unseen.
    A notification only says "look again": a change may still be held back by an older open
    transaction, whose end sends nothing if it wrote no change, so wait with a timeout. A lost
    connection raises psycopg.OperationalError from `wait`: open a new listener, then read.
    """
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await conn.execute(f"LISTEN {CHANNEL}")
        yield ChangeListener(conn)
    finally:
        await conn.close()


async def _fetch_cursor(conn: AsyncConnection, consumer: str) -> Cursor | None:
    row = (
        await conn.execute(
            text(
                "SELECT txid::text::bigint AS txid, last_id FROM change_log_cursors"
                " WHERE consumer = :consumer"
            ),
            {"consumer": consumer},
        )
    ).one_or_none()
    return None if row is None else Cursor(txid=row.txid, last_id=row.last_id)


async def end_of_log(conn: AsyncConnection) -> Cursor:
    """A cursor past every change a reader can see now (for a cursor kept in memory)."""
    return await _end_of_log(conn)


async def _end_of_log(conn: AsyncConnection) -> Cursor:
    """The last row a reader could see now; later rows (and ones still in flight) follow it."""
    row = (
        await conn.execute(
            text(
                """
                SELECT txid::text::bigint AS txid, id FROM change_log
                WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
                ORDER BY txid DESC, id DESC LIMIT 1
                """
            )
        )
    ).one_or_none()
    return START if row is None else Cursor(txid=row.txid, last_id=row.id)
