"""Read models of the recurring schedules, as the API and dashboard show them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from catalog.domain.errors import InvalidInput
from catalog.work.schedules import cron, slots, storage
from catalog.work.schedules.slots import NOT_RUNS, SlotKind, SlotRecord, SlotState
from catalog.work.schedules.storage import ScheduleRow
from catalog.work.schedules.timing import Misfire, Schedule

log = logging.getLogger(__name__)

RECENT_SLOTS = 20
UPCOMING_SLOTS = 5


@dataclasses.dataclass(frozen=True)
class ScheduleView:
    """A schedule as the API and dashboard show it."""

    id: str
    task: str
    summary: str
    cron: str
    timezone: str
    enabled: bool
    misfire: Misfire
    next_run: datetime | None
    last_run: datetime | None  # the slot of the latest run (scheduled time, or trigger time)
    last_state: SlotState | None
    last_duration_s: float | None
    last_job_id: int | None
    last_kind: SlotKind | None
    customised: bool
    customised_fields: list[str]
    default: Schedule
    orphaned: bool
    active_since: datetime
    updated_at: datetime
    updated_by: str


@dataclasses.dataclass(frozen=True)
class ScheduleDetail:
    schedule: ScheduleView
    upcoming: list[datetime]
    recent_slots: list[SlotRecord]


def next_run(row: ScheduleRow, *, now: datetime) -> datetime | None:
    """The schedule's next slot after `now`; None while paused or orphaned."""
    upcoming = upcoming_runs(row, now=now, count=1)
    return upcoming[0] if upcoming else None


def upcoming_runs(row: ScheduleRow, *, now: datetime, count: int) -> list[datetime]:
    if not row.active:
        return []
    try:
        expr, tz = row.current.parsed()
    except InvalidInput:
        log.error("schedule %s is invalid in the database: %s", row.id, row.current)
        return []
    return cron.upcoming(expr, max(row.cursor, now), tz, count=count)


def _view(
    row: ScheduleRow, last: SlotRecord | None, *, summary: str, now: datetime
) -> ScheduleView:
    return ScheduleView(
        id=row.id,
        task=row.task,
        summary=summary,
        cron=row.current.cron,
        timezone=row.current.tz,
        enabled=row.current.enabled,
        misfire=row.current.misfire,
        next_run=next_run(row, now=now),
        last_run=last.slot if last else None,
        last_state=last.state if last else None,
        last_duration_s=last.duration_s if last else None,
        last_job_id=last.job_id if last else None,
        last_kind=last.kind if last else None,
        customised=bool(row.customised),
        customised_fields=sorted(str(f) for f in row.customised),
        default=row.default,
        orphaned=row.orphaned,
        active_since=row.active_since,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


async def list_views(
    conn: psycopg.AsyncConnection[Any], *, summaries: Mapping[str, str], now: datetime
) -> list[ScheduleView]:
    """Every stored schedule, orphans included, by id."""
    rows = await storage.load_all(conn)
    last = await slots.last_runs(conn)
    return [
        _view(row, last.get(row.id), summary=summaries.get(row.task, ""), now=now) for row in rows
    ]


async def read_detail(
    conn: psycopg.AsyncConnection[Any],
    schedule_id: str,
    *,
    summaries: Mapping[str, str],
    now: datetime,
    recent: int = RECENT_SLOTS,
) -> ScheduleDetail:
    """One schedule with its next slots and its latest slot rows."""
    row = await storage.load(conn, schedule_id)
    recent_slots = await slots.recent_slots(conn, schedule_id, limit=recent)
    last = next((s for s in recent_slots if s.state not in NOT_RUNS), None)
    if last is None:  # none among the recent slots: look further back
        last = (await slots.last_runs(conn, schedule_id)).get(schedule_id)
    view = _view(row, last, summary=summaries.get(row.task, ""), now=now)
    return ScheduleDetail(
        schedule=view,
        upcoming=upcoming_runs(row, now=now, count=UPCOMING_SLOTS),
        recent_slots=recent_slots,
    )
