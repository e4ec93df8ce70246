"""The scheduler: every worker process runs one; each (schedule, slot) fires once among them all.

A scheduler sleeps until the next slot of any schedule (at most `MAX_SLEEP_S`, and less when an
operator's change arrives by NOTIFY), then deals with each schedule that has due slots in a
transaction of its own: it locks the schedule row (skipping it if another scheduler holds it),
claims each slot with an INSERT that only one transaction can make, enqueues the slot's job on
the same connection, and moves the schedule's cursor. A scheduler killed half-way loses nothing:
its claim rolls back with its transaction, and another scheduler claims the slot.

A slot dealt with more than `LATE_AFTER_S` after its time was missed: no scheduler ran then.
Missed slots follow the schedule's misfire policy: under `run_once` the latest one runs late
as a catch-up if it is within `Settings.misfire_grace_s` and no on-time slot runs now anyway;
the rest are recorded as one `missed` row. Slots at or before the schedule's `active_since`
(creation, enabling, re-timing) never fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from catalog.domain.errors import InvalidInput
from catalog.work.engine import WorkEngine
from catalog.work.resources import Resources
from catalog.work.schedules import cron, slots, storage
from catalog.work.schedules.cron import CronExpr
from catalog.work.schedules.slots import SlotKind
from catalog.work.schedules.storage import ScheduleRow
from catalog.work.schedules.timing import Misfire, defaults_of

log = logging.getLogger(__name__)

LATE_AFTER_S = 15.0  # a slot first seen later than this after its time was missed
MAX_SLEEP_S = 15.0  # look again at least this often, NOTIFY or not
WAKE_MARGIN_S = 0.002  # wake just after a slot, not just before it
ON_TIME_BATCH = 100  # slots fired per schedule and transaction; more wait for the next pass
RETRY_AFTER_ERROR_S = 1.0  # a schedule whose pass failed is tried again this soon
PRUNE_INTERVAL_S = 600.0  # slot history is pruned this often by each scheduler

Clock = Callable[[], datetime]


async def _no_fault(schedule_id: str, slot: datetime | None) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class FaultHooks:
    """Test-only hook points for fault tests, awaited with (schedule id, slot).

    `before_lock` runs before a scheduler locks a schedule to fire it (slot None), `after_claim`
    right after it claimed a slot, before the enqueue and the commit. Production passes none;
    a fault test names a `FaultHooks` in `CATALOG_SCHEDULER_FAULT_HOOKS` ("module:attribute").
    """

    before_lock: Callable[[str, datetime | None], Awaitable[None]] = _no_fault
    after_claim: Callable[[str, datetime | None], Awaitable[None]] = _no_fault


NO_FAULTS = FaultHooks()


def fault_hooks_at(spec: str) -> FaultHooks:
    """The `FaultHooks` named by "module:attribute" (a fault test's setting)."""
    module_name, _, attribute = spec.partition(":")
    hooks = getattr(importlib.import_module(module_name), attribute or "faults")
    if not isinstance(hooks, FaultHooks):
        raise TypeError(f"{spec} is not a FaultHooks")
    return hooks


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a scheduler does about one schedule's due slots."""

    on_time: tuple[datetime, ...] = ()
    catch_up: datetime | None = None
    missed: datetime | None = None  # the latest missed slot not run; recorded as one row
    missed_since: datetime | None = None  # the first missed slot
    missed_reason: str | None = None
    cursor: datetime | None = None  # the latest slot dealt with, once the plan is carried out


def plan(
    expr: CronExpr,
    tz: ZoneInfo,
    *,
    cursor: datetime,
    now: datetime,
    misfire: Misfire,
    grace_s: float,
    late_after_s: float = LATE_AFTER_S,
    batch: int = ON_TIME_BATCH,
) -> Plan:
    """The slots in (`cursor`, `now`] and what becomes of each; pure."""
    first = cron.next_after(expr, cursor, tz)
    if first > now:
        return Plan()
    cutoff = now - timedelta(seconds=late_after_s)
    on_time = tuple(cron.slots_between(expr, max(cursor, cutoff), now, tz, limit=batch))
    if first > cutoff:
        return Plan(on_time=on_time, cursor=on_time[-1])
    latest_missed = cron.latest_at_or_before(expr, cutoff, tz)
    cursor_after = on_time[-1] if on_time else latest_missed
    within_grace = (now - latest_missed).total_seconds() <= grace_s
    if misfire is Misfire.RUN_ONCE and within_grace and not on_time:
        since = first if first < latest_missed else None
        return Plan(catch_up=latest_missed, missed_since=since, cursor=cursor_after)
    if misfire is Misfire.SKIP:
        reason = "no scheduler ran at the time; misfire=skip"
    elif on_time:
        reason = "no scheduler ran at the time; an on-time run followed at once"
    else:
        reason = f"no scheduler ran at the time; older than the grace of {grace_s:g} s"
    return Plan(
        on_time=on_time,
        missed=latest_missed,
        missed_since=first,
        missed_reason=reason,
        cursor=cursor_after,
    )


async def fire_due(
    conn: psycopg.AsyncConnection[Any],
    work: WorkEngine,
    schedule_id: str,
    *,
    now: datetime,
    grace_s: float,
    faults: FaultHooks = NO_FAULTS,
) -> ScheduleRow | None:
    """Deal with a schedule's due slots in the caller's transaction.

    Answers the schedule as it now stands, or None if another scheduler holds it or it is
    no longer active.
    """
    await faults.before_lock(schedule_id, None)
    row = await storage.lock_for_firing(conn, schedule_id)
    if row is None:
        return None
    expr, tz = row.current.parsed()
    todo = plan(expr, tz, cursor=row.cursor, now=now, misfire=row.current.misfire, grace_s=grace_s)
    if todo.cursor is None:
        return row
    if todo.missed is not None:
        assert todo.missed_since is not None and todo.missed_reason is not None
        await slots.record_missed(
            conn,
            row.id,
            todo.missed,
            missed_since=todo.missed_since,
            detail=todo.missed_reason,
        )
        log.warning("%s: slots %s to %s missed", row.id, todo.missed_since, todo.missed)
    if todo.catch_up is not None:
        await _fire(
            conn,
            work,
            row,
            todo.catch_up,
            kind=SlotKind.CATCH_UP,
            since=todo.missed_since,
            faults=faults,
        )
    for slot in todo.on_time:
        await _fire(conn, work, row, slot, kind=SlotKind.CRON, faults=faults)
    await storage.advance(conn, row.id, todo.cursor)
    return dataclasses.replace(row, last_slot=todo.cursor)


async def _fire(
    conn: psycopg.AsyncConnection[Any],
    work: WorkEngine,
    row: ScheduleRow,
    slot: datetime,
    *,
    kind: SlotKind,
    faults: FaultHooks,
    since: datetime | None = None,
) -> None:
    slot_id = await slots.claim_slot(conn, row.id, slot, kind=kind, missed_since=since)
    if slot_id is None:
        return  # another scheduler claimed it first
    await faults.after_claim(row.id, slot)
    enqueued = await slots.enqueue_slot(conn, work, task=row.task, slot_id=slot_id, slot=slot)
    if enqueued.skipped:
        log.info("%s: slot %s skipped, job %s still running", row.id, slot, enqueued.job_id)
    else:
        log.debug("%s: slot %s (%s) enqueued as job %s", row.id, slot, kind, enqueued.job_id)


class Scheduler:
    """Defers the jobs of recurring schedules at their slots; safe to run on every instance."""

    name = "scheduler"

    def __init__(
        self, resources: Resources, *, clock: Clock = utc_now, faults: FaultHooks = NO_FAULTS
    ) -> None:
        self.resources = resources
        self.clock = clock
        self.faults = faults
        self._parsed: dict[tuple[str, str], tuple[CronExpr, ZoneInfo] | None] = {}
        self._retry_at: dict[str, datetime] = {}

    async def sync(self) -> storage.Synced:
        """Store the declared schedules with their defaults from code and settings."""
        work = self.resources.work
        defaults = defaults_of(work.declared_schedules, self.resources.settings.schedules)
        async with work.pool.connection() as conn, conn.transaction():
            synced = await storage.sync(conn, defaults, now=self.clock(), mark_orphans=True)
        for label, ids in (("new", synced.created), ("updated", synced.updated)):
            if ids:
                log.info("%s schedules: %s", label, ", ".join(ids))
        if synced.orphaned:
            log.warning("orphaned schedules (job no longer declared): %s", synced.orphaned)
        return synced

    async def run(self, stop: asyncio.Event) -> None:
        await self.sync()
        wake = asyncio.Event()
        listener = asyncio.create_task(self._listen(wake), name="scheduler listen")
        loop = asyncio.get_running_loop()
        prune_at = loop.time() + PRUNE_INTERVAL_S / 10  # not every process at start-up
        log.info(
            "scheduler started (%d recurring jobs)", len(self.resources.work.declared_schedules)
        )
        try:
            while not stop.is_set():
                wake.clear()
                next_due = await self.tick()
                if loop.time() >= prune_at:
                    await self._prune()
                    prune_at = loop.time() + PRUNE_INTERVAL_S
                delay = MAX_SLEEP_S
                if next_due is not None:
                    until_due = (next_due - self.clock()).total_seconds() + WAKE_MARGIN_S
                    delay = min(delay, max(until_due, 0.0))
                await _wait_any(stop, wake, listener, timeout_s=delay)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        log.info("scheduler stopped")

    async def tick(self) -> datetime | None:
        """Fire every due slot of every active schedule; answer when the next one is due."""
        work = self.resources.work
        grace_s = self.resources.settings.misfire_grace_s
        now = self.clock()
        async with work.pool.connection() as conn:
            rows = await storage.load_all(conn)
        next_due: datetime | None = None
        for row in rows:
            if not row.active or row.task not in work.definitions:
                continue  # a job another process declares is that process's to fire
            parsed = self._parsed_schedule(row)
            if parsed is None:
                continue
            expr, tz = parsed
            retry_at = self._retry_at.get(row.id)
            if retry_at is not None and retry_at > now:
                due = retry_at
            else:
                due = await self._fire(row, expr, tz, now=now, grace_s=grace_s)
            next_due = due if next_due is None else min(next_due, due)
        return next_due

    async def _fire(
        self, row: ScheduleRow, expr: CronExpr, tz: ZoneInfo, *, now: datetime, grace_s: float
    ) -> datetime:
        """Deal with one schedule's due slots, if any; answer when it is next due."""
        self._retry_at.pop(row.id, None)
        first = cron.next_after(expr, row.cursor, tz)
        if first > now:
            return first
        try:
            async with self.resources.work.pool.connection() as conn, conn.transaction():
                fired = await fire_due(
                    conn, self.resources.work, row.id, now=now, grace_s=grace_s, faults=self.faults
                )
        except psycopg.OperationalError:
            raise  # the database is away: let the supervisor restart us with backoff
        except Exception:
            log.exception("%s: could not fire its due slots", row.id)
            retry_at = now + timedelta(seconds=RETRY_AFTER_ERROR_S)
            self._retry_at[row.id] = retry_at
            return retry_at
        # Held by another scheduler: its due slots are being dealt with; ours is the next one.
        cursor = max(row.cursor, now) if fired is None else fired.cursor
        return cron.next_after(expr, cursor, tz)

    def _parsed_schedule(self, row: ScheduleRow) -> tuple[CronExpr, ZoneInfo] | None:
        """The parsed cron and zone, or None (logged once) if the stored ones are invalid."""
        key = (row.current.cron, row.current.tz)
        if key not in self._parsed:
            try:
                self._parsed[key] = row.current.parsed()
            except InvalidInput as exc:
                log.error("%s: not scheduled: %s", row.id, exc)
                self._parsed[key] = None
        return self._parsed[key]

    async def _listen(self, wake: asyncio.Event) -> None:
        """Set `wake` whenever a schedule changes anywhere."""
        async with await psycopg.AsyncConnection.connect(
            self.resources.work.database_url, autocommit=True, application_name="catalog-scheduler"
        ) as conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(storage.NOTIFY_CHANNEL)))
            async for _ in conn.notifies():
                wake.set()

    async def _prune(self) -> None:
        pool = self.resources.work.pool
        try:
            async with pool.connection() as conn:
                ids = [row.id for row in await storage.load_all(conn)]
            for schedule_id in ids:
                while True:
                    async with pool.connection() as conn, conn.transaction():
                        deleted = await slots.prune_slots(conn, schedule_id, now=self.clock())
                    if deleted < slots.SLOT_PRUNE_BATCH:
                        break
        except psycopg.OperationalError:
            raise
        except Exception:
            log.exception("pruning the slot history failed")


async def _wait_any(
    stop: asyncio.Event, wake: asyncio.Event, listener: asyncio.Task[None], *, timeout_s: float
) -> None:
    """Return after `timeout_s`, or at once on stop or wake; raise if the listener failed."""
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(wake.wait())]
    try:
        await asyncio.wait(
            [*waits, listener], timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiting in waits:
            waiting.cancel()
    if listener.done():
        error = listener.exception()
        raise error if error is not None else RuntimeError("schedule listener ended")
