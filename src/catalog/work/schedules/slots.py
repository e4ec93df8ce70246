"""Slots (`work_schedule_slots`): one row per (schedule, slot) that fired, was missed or skipped.

A slot's row is inserted by whichever scheduler claims it, in the same transaction that
enqueues its job; a trigger on `procrastinate_jobs` keeps the row's state in step with the job.
Functions here run in the caller's transaction and never commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import dict_row

from catalog.domain.errors import Conflict
from catalog.work.engine import Enqueued, WorkEngine
from catalog.work.schedules import storage

# Slot history: rows older than this, or beyond this many per schedule, are pruned; the latest
# row and the latest run of each schedule are always kept.
SLOT_HISTORY_MAX_AGE = timedelta(days=14)
SLOT_HISTORY_MAX_ROWS = 1000
SLOT_PRUNE_BATCH = 1000


class SlotKind(StrEnum):
    CRON = "cron"  # a slot of the cron expression, on time
    CATCH_UP = "catch_up"  # the latest missed slot, run late under misfire=run_once
    MANUAL = "manual"  # an operator's trigger; its slot is the moment of the trigger


class SlotState(StrEnum):
    ENQUEUED = "enqueued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABORTED = "aborted"
    SKIPPED = "skipped"  # overlap=SKIP and the previous run was still going
    MISSED = "missed"  # no scheduler ran at the time, and the misfire policy did not run it
    DELETED = "deleted"  # its job was deleted before it finished


UNFINISHED = (SlotState.ENQUEUED, SlotState.RUNNING)
NOT_RUNS = (SlotState.MISSED, SlotState.SKIPPED)


class ScheduleOrphaned(Conflict):
    def __init__(self, schedule_id: str) -> None:
        super().__init__(
            f"recurring job {schedule_id!r} is orphaned: no job of that name is declared"
        )
        self.schedule_id = schedule_id


class AlreadyRunning(Conflict):
    def __init__(self, schedule_id: str, job_id: int) -> None:
        super().__init__(
            f"recurring job {schedule_id!r} was not triggered: its job skips overlapping runs"
            f" and job {job_id} is still waiting or running"
        )
        self.schedule_id = schedule_id
        self.job_id = job_id


@dataclasses.dataclass(frozen=True)
class SlotRecord:
    id: int
    schedule_id: str
    slot: datetime
    kind: SlotKind
    state: SlotState
    job_id: int | None
    missed_since: datetime | None
    detail: str | None
    actor: str | None
    claimed_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclasses.dataclass(frozen=True)
class Triggered:
    schedule_id: str
    slot: datetime
    job_id: int


async def claim_slot(
    conn: psycopg.AsyncConnection[Any],
    schedule_id: str,
    slot: datetime,
    *,
    kind: SlotKind,
    missed_since: datetime | None = None,
) -> int | None:
    """Claim a cron slot for this transaction; None if another scheduler already has it."""
    cur = await conn.execute(
        """
        INSERT INTO work_schedule_slots (schedule_id, slot, kind, state, missed_since)
        VALUES (%s, %s, %s, 'enqueued', %s)
        ON CONFLICT (schedule_id, slot) WHERE kind <> 'manual' DO NOTHING
        RETURNING id
        """,
        (schedule_id, slot, str(kind), missed_since),
    )
    claimed = await cur.fetchone()
    return None if claimed is None else int(claimed[0])


async def enqueue_slot(
    conn: psycopg.AsyncConnection[Any],
    work: WorkEngine,
    *,
    task: str,
    slot_id: int,
    slot: datetime,
) -> Enqueued:
    """Enqueue the job of a claimed slot on the same connection, and link the two."""
    enqueued = await work.enqueue(task, kwargs={"scheduled_at": slot.isoformat()}, connection=conn)
    if enqueued.skipped:
        await conn.execute(
            "UPDATE work_schedule_slots SET state = 'skipped', detail = %s WHERE id = %s",
            (f"job {enqueued.job_id} was still waiting or running", slot_id),
        )
    else:
        await conn.execute(
            "UPDATE work_schedule_slots SET job_id = %s WHERE id = %s",
            (enqueued.job_id, slot_id),
        )
    return enqueued


async def record_missed(
    conn: psycopg.AsyncConnection[Any],
    schedule_id: str,
    slot: datetime,
    *,
    missed_since: datetime,
    detail: str,
) -> bool:
    """Record that the slots from `missed_since` to `slot` did not run; False if already dealt."""
    cur = await conn.execute(
        """
        INSERT INTO work_schedule_slots (schedule_id, slot, kind, state, missed_since, detail,
                                         finished_at)
        VALUES (%s, %s, 'cron', 'missed', %s, %s, clock_timestamp())
        ON CONFLICT (schedule_id, slot) WHERE kind <> 'manual' DO NOTHING
        """,
        (schedule_id, slot, missed_since, detail),
    )
    return cur.rowcount == 1


async def trigger(
    conn: psycopg.AsyncConnection[Any],
    work: WorkEngine,
    schedule_id: str,
    *,
    actor: str,
    now: datetime,
) -> Triggered:
    """Run the schedule's job now, as a manual slot at `now` (also its `scheduled_at`)."""
    row = await storage.load(conn, schedule_id)
    if row.orphaned or row.task not in work.definitions:
        raise ScheduleOrphaned(schedule_id)
    cur = await conn.execute(
        "INSERT INTO work_schedule_slots (schedule_id, slot, kind, state, actor)"
        " VALUES (%s, %s, 'manual', 'enqueued', %s) RETURNING id",
        (schedule_id, now, actor),
    )
    inserted = await cur.fetchone()
    assert inserted is not None
    enqueued = await enqueue_slot(conn, work, task=row.task, slot_id=int(inserted[0]), slot=now)
    if enqueued.skipped:
        # The caller's transaction rolls back, manual slot included: nothing was triggered.
        raise AlreadyRunning(schedule_id, enqueued.job_id)
    return Triggered(schedule_id=schedule_id, slot=now, job_id=enqueued.job_id)


def _slot(record: Mapping[str, Any]) -> SlotRecord:
    return SlotRecord(
        id=record["id"],
        schedule_id=record["schedule_id"],
        slot=record["slot"],
        kind=SlotKind(record["kind"]),
        state=SlotState(record["state"]),
        job_id=record["job_id"],
        missed_since=record["missed_since"],
        detail=record["detail"],
        actor=record["actor"],
        claimed_at=record["claimed_at"],
        started_at=record["started_at"],
        finished_at=record["finished_at"],
    )


async def recent_slots(
    conn: psycopg.AsyncConnection[Any], schedule_id: str, *, limit: int
) -> list[SlotRecord]:
    """The schedule's latest slots, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT * FROM work_schedule_slots WHERE schedule_id = %s"
        " ORDER BY claimed_at DESC, id DESC LIMIT %s",
        (schedule_id, limit),
    )
    return [_slot(r) for r in await cur.fetchall()]


async def last_runs(
    conn: psycopg.AsyncConnection[Any], schedule_id: str | None = None
) -> dict[str, SlotRecord]:
    """The latest run (not a missed or skipped slot) of each schedule, or of `schedule_id`."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        """
        SELECT l.* FROM work_schedules s
        CROSS JOIN LATERAL (
            SELECT * FROM work_schedule_slots
             WHERE schedule_id = s.id AND state <> ALL(%(not_runs)s)
             ORDER BY claimed_at DESC, id DESC LIMIT 1) l
         WHERE %(id)s::text IS NULL OR s.id = %(id)s
        """,
        {"not_runs": [str(s) for s in NOT_RUNS], "id": schedule_id},
    )
    return {r["schedule_id"]: _slot(r) for r in await cur.fetchall()}


async def prune_slots(
    conn: psycopg.AsyncConnection[Any],
    schedule_id: str,
    *,
    now: datetime,
    max_age: timedelta = SLOT_HISTORY_MAX_AGE,
    max_rows: int = SLOT_HISTORY_MAX_ROWS,
    batch_size: int = SLOT_PRUNE_BATCH,
) -> int:
    """Delete one batch of a schedule's old slot rows; the latest row and run always stay."""
    cur = await conn.execute(
        "SELECT claimed_at FROM work_schedule_slots WHERE schedule_id = %s"
        " ORDER BY claimed_at DESC, id DESC OFFSET %s LIMIT 1",
        (schedule_id, max(max_rows - 1, 0)),
    )
    nth = await cur.fetchone()
    cutoff = now - max_age if nth is None else max(now - max_age, nth[0])
    cur = await conn.execute(
        """
        DELETE FROM work_schedule_slots WHERE id IN (
            SELECT id FROM work_schedule_slots
             WHERE schedule_id = %(id)s AND claimed_at < %(cutoff)s
               AND state <> ALL(%(unfinished)s)
               AND id <> ALL(ARRAY(
                   (SELECT id FROM work_schedule_slots WHERE schedule_id = %(id)s
                     ORDER BY claimed_at DESC, id DESC LIMIT 1)
                   UNION ALL
                   (SELECT id FROM work_schedule_slots WHERE schedule_id = %(id)s
                       AND state <> ALL(%(not_runs)s)
                     ORDER BY claimed_at DESC, id DESC LIMIT 1)))
             ORDER BY claimed_at
             LIMIT %(batch)s
               FOR UPDATE SKIP LOCKED)
        """,
        {
            "id": schedule_id,
            "cutoff": cutoff,
            "unfinished": [str(s) for s in UNFINISHED],
            "not_runs": [str(s) for s in NOT_RUNS],
            "batch": batch_size,
        },
    )
    return cur.rowcount
