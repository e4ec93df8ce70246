"""The inventory monitor's two moves: follow stock changes in the change log, sweep everything.

Both evaluate products with `catalog.store.alerts` (one alert per level change) in short
transactions of one batch each, and hand the alerts a batch raised to `on_raised` inside that
batch's transaction, so that follow-up work enqueued there (sending the alert) commits with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog.domain.stock import Thresholds
from catalog.store import alerts, changelog

CONSUMER = "inventory-monitoring"  # its change-log cursor

OnRaised = Callable[[AsyncConnection, list[alerts.Alert]], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    """What a follow or a sweep did."""

    examined: int  # change-log rows read, or products swept
    raised: int
    resolved: int


async def follow_changes(
    db: AsyncEngine,
    *,
    thresholds: Thresholds,
    on_raised: OnRaised,
    batch_size: int = 1000,
    max_batches: int = 100,
) -> Outcome:
    """Evaluate the products whose stock (or liveness) changed since the cursor, in batches.

    Stops after `max_batches` so that a step stays short; the lag tells the rest.
    """
    examined = raised = resolved = 0
    async with db.connect() as conn:
        async with conn.begin():
            cursor = await changelog.load_cursor(conn, CONSUMER, start_at_end=True)
        for _ in range(max_batches):
            async with conn.begin():
                changes = await changelog.read_changes(conn, after=cursor, limit=batch_size)
                if not changes:
                    break
                ids = sorted({c.entity_id for c in changes if _may_change_level(c)})
                evaluation = await alerts.evaluate_products(conn, ids, thresholds=thresholds)
                if evaluation.raised:
                    await on_raised(conn, evaluation.raised)
                cursor = changelog.advance(cursor, changes)
                await changelog.save_cursor(conn, CONSUMER, cursor)
            examined += len(changes)
            raised += len(evaluation.raised)
            resolved += evaluation.resolved
            if len(changes) < batch_size:
                break
    return Outcome(examined=examined, raised=raised, resolved=resolved)


async def sweep(
    db: AsyncEngine,
    *,
    thresholds: Thresholds,
    on_raised: OnRaised,
    batch_size: int,
    check_stop: Callable[[], None] = lambda: None,
) -> Outcome:
    """Evaluate every product, `batch_size` at a time by id, then record the sweep."""
    started = datetime.now(UTC)
    after_id, examined, raised, resolved = 0, 0, 0, 0
    async with db.connect() as conn:
        while True:
            check_stop()
            async with conn.begin():
                evaluation, last_id = await alerts.evaluate_range(
                    conn, after_id=after_id, batch_size=batch_size, thresholds=thresholds
                )
                if evaluation.raised:
                    await on_raised(conn, evaluation.raised)
            if last_id is None:
                break
            examined += evaluation.examined
            after_id = last_id
            raised += len(evaluation.raised)
            resolved += evaluation.resolved
        async with conn.begin():
            await alerts.record_sweep(conn, started)
    return Outcome(examined=examined, raised=raised, resolved=resolved)


async def last_sweep(db: AsyncEngine) -> datetime | None:
    """When the last full sweep started; None before the first."""
    async with db.connect() as conn:
        return await alerts.last_sweep_at(conn)


def sweep_due(last: datetime | None, *, every_s: float) -> bool:
    """Whether a sweep that last started at `last` is due again (or has never run)."""
    return last is None or (datetime.now(UTC) - last).total_seconds() >= every_s


def _may_change_level(change: changelog.Change) -> bool:
    """A new product, a stock change, a soft delete or undelete; a purge cascades its alerts."""
    if change.entity != "product":
        return False
    if change.op in ("insert", "delete"):
        return True
    fields = change.fields or ()
    return change.op == "update" and ("stock" in fields or "deleted_at" in fields)
