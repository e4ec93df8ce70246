"""Recurring schedules in PostgreSQL: defaults, operator changes, slots, and their reports.

A schedule's id is its job's name. Its defaults come from the job's declaration and
`Settings.schedules`; an operator may change any field at run time, and a changed field stays
as set (through restarts and deploys) until reset. Each slot of a schedule is a row of
`work_schedule_slots`, inserted by whichever scheduler claims it, in the same transaction that
enqueues its job; a trigger on `procrastinate_jobs` keeps the row's state in step with the job.
Functions here run in the caller's transaction and never commit.

    InvalidInput
    ├── InvalidSchedule   a change or an override that breaks the rules
    ├── InvalidCron       (catalog.work.cron)
    └── InvalidTimeZone   (catalog.work.cron)
    NotFound
    └── ScheduleNotFound
    Conflict
    ├── ScheduleOrphaned  its job is no longer declared
    └── AlreadyRunning    trigger of an overlap=SKIP job whose previous run is not finished
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from catalog.domain.errors import Conflict, InvalidInput, NotFound
from catalog.work import cron
from catalog.work.cron import CronExpr
from catalog.work.engine import Enqueued, JobDefinition, Misfire, WorkEngine

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "catalog_schedules"  # the migration's trigger notifies on timing changes
SYNC_LOCK = "catalog:work_schedules:sync"
RECENT_SLOTS = 20
UPCOMING_SLOTS = 5
# Slot history: rows older than this, or beyond this many per schedule, are pruned; the latest
# row and the latest run of each schedule are always kept.
SLOT_HISTORY_MAX_AGE = timedelta(days=14)
SLOT_HISTORY_MAX_ROWS = 1000
SLOT_PRUNE_BATCH = 1000


class Field(StrEnum):
    """What an operator may change about a schedule."""

    CRON = "cron"
    TIMEZONE = "timezone"
    ENABLED = "enabled"
    MISFIRE = "misfire"


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


class InvalidSchedule(InvalidInput):
    pass


class ScheduleNotFound(NotFound):
    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no recurring job {schedule_id!r}")
        self.schedule_id = schedule_id


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
class Timing:
    """When a schedule fires: cron (5 or 6 fields), IANA time zone, enabled, misfire policy."""

    cron: str
    timezone: str = "UTC"
    enabled: bool = True
    misfire: Misfire = Misfire.RUN_ONCE

    def value(self, field: Field) -> object:
        return getattr(self, str(field))

    def parsed(self) -> tuple[CronExpr, ZoneInfo]:
        """The cron expression and zone; `InvalidCron`/`InvalidTimeZone` if either is invalid."""
        return cron.parse(self.cron), cron.zone(self.timezone)

    def normalised(self) -> Timing:
        """The same timing, validated, with the cron's spacing normalised."""
        expr, _ = self.parsed()
        return dataclasses.replace(self, cron=expr.text, misfire=Misfire(self.misfire))

    def differing(self, other: Timing) -> frozenset[Field]:
        return frozenset(f for f in Field if self.value(f) != other.value(f))


@dataclasses.dataclass(frozen=True)
class Change:
    """An operator's change of a schedule; None leaves a field as it is."""

    cron: str | None = None
    timezone: str | None = None
    enabled: bool | None = None
    misfire: Misfire | None = None

    def given(self) -> dict[Field, object]:
        return {f: getattr(self, str(f)) for f in Field if getattr(self, str(f)) is not None}


@dataclasses.dataclass(frozen=True)
class ScheduleRow:
    id: str
    task: str
    timing: Timing
    default: Timing
    customised: frozenset[Field]
    orphaned: bool
    active_since: datetime
    last_slot: datetime | None
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def cursor(self) -> datetime:
        """Slots after this are still to be dealt with."""
        if self.last_slot is None:
            return self.active_since
        return max(self.active_since, self.last_slot)

    @property
    def active(self) -> bool:
        return self.timing.enabled and not self.orphaned


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
    default: Timing
    orphaned: bool
    active_since: datetime
    updated_at: datetime
    updated_by: str


@dataclasses.dataclass(frozen=True)
class ScheduleDetail:
    schedule: ScheduleView
    upcoming: list[datetime]
    recent_slots: list[SlotRecord]


@dataclasses.dataclass(frozen=True)
class Triggered:
    schedule_id: str
    slot: datetime
    job_id: int


@dataclasses.dataclass(frozen=True)
class Synced:
    created: list[str]
    updated: list[str]
    orphaned: list[str]


# --- defaults -------------------------------------------------------------------------------


def defaults_of(
    recurring: Mapping[str, JobDefinition], overrides: Mapping[str, Mapping[str, Any]]
) -> dict[str, Timing]:
    """Each recurring job's default timing: its declaration, then `Settings.schedules` on top."""
    defaults: dict[str, Timing] = {}
    for name, definition in recurring.items():
        declared = definition.schedule
        assert declared is not None
        timing = Timing(declared.cron, declared.tz, declared.enabled, declared.misfire)
        try:
            timing = timing.normalised()
        except InvalidInput as exc:
            raise InvalidSchedule(f"job {name!r} declares an invalid schedule: {exc}") from exc
        defaults[name] = _overridden(name, timing, overrides.get(name, {}))
    for name in overrides.keys() - recurring.keys():
        log.warning("CATALOG_SCHEDULES names %r, which is not a recurring job here", name)
    return defaults


def _overridden(name: str, timing: Timing, override: Mapping[str, Any]) -> Timing:
    where = f"CATALOG_SCHEDULES[{name!r}]"
    unknown = set(override) - {str(f) for f in Field}
    if unknown:
        raise InvalidSchedule(
            f"{where} has unknown keys {sorted(unknown)}; allowed: cron, timezone, enabled, misfire"
        )
    values = dict(override)
    if "enabled" in values and not isinstance(values["enabled"], bool):
        raise InvalidSchedule(f"{where}.enabled must be true or false")
    for key in ("cron", "timezone", "misfire"):
        if key in values and not isinstance(values[key], str):
            raise InvalidSchedule(f"{where}.{key} must be a string")
    try:
        if "misfire" in values:
            values["misfire"] = Misfire(values["misfire"])
        return dataclasses.replace(timing, **values).normalised()
    except ValueError as exc:
        raise InvalidSchedule(f"{where}.misfire must be 'run_once' or 'skip'") from exc
    except InvalidInput as exc:
        raise InvalidSchedule(f"{where}: {exc.message}") from exc


# --- reading --------------------------------------------------------------------------------


def _row(record: Mapping[str, Any]) -> ScheduleRow:
    return ScheduleRow(
        id=record["id"],
        task=record["task"],
        timing=Timing(
            record["cron"], record["timezone"], record["enabled"], Misfire(record["misfire"])
        ),
        default=Timing(
            record["default_cron"],
            record["default_timezone"],
            record["default_enabled"],
            Misfire(record["default_misfire"]),
        ),
        customised=frozenset(Field(f) for f in record["customised"]),
        orphaned=record["orphaned"],
        active_since=record["active_since"],
        last_slot=record["last_slot"],
        created_at=record["created_at"],
        updated_at=record["updated_at"],
        updated_by=record["updated_by"],
    )


async def load_all(conn: psycopg.AsyncConnection[Any]) -> list[ScheduleRow]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute("SELECT * FROM work_schedules ORDER BY id")
    return [_row(r) for r in await cur.fetchall()]


async def load(
    conn: psycopg.AsyncConnection[Any], schedule_id: str, *, for_update: bool = False
) -> ScheduleRow:
    """The schedule `schedule_id`; `ScheduleNotFound` if there is none."""
    cur = conn.cursor(row_factory=dict_row)
    query = "SELECT * FROM work_schedules WHERE id = %s"
    await cur.execute(query + " FOR UPDATE" if for_update else query, (schedule_id,))
    record = await cur.fetchone()
    if record is None:
        raise ScheduleNotFound(schedule_id)
    return _row(record)


async def lock_for_firing(
    conn: psycopg.AsyncConnection[Any], schedule_id: str
) -> ScheduleRow | None:
    """Lock an active schedule for this scheduler; None if another holds it or it is inactive."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT * FROM work_schedules"
        " WHERE id = %s AND enabled AND NOT orphaned FOR UPDATE SKIP LOCKED",
        (schedule_id,),
    )
    record = await cur.fetchone()
    return None if record is None else _row(record)


# --- start-up sync --------------------------------------------------------------------------


async def sync(
    conn: psycopg.AsyncConnection[Any],
    defaults: Mapping[str, Timing],
    *,
    now: datetime,
    mark_orphans: bool,
) -> Synced:
    """Bring the stored schedules in line with `defaults`, keeping operators' customisations.

    New ids are inserted; in existing rows every field that is not customised takes its new
    default. With `mark_orphans`, rows whose job is not among `defaults` are marked orphaned
    (and un-marked when it comes back); their slot history stays.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (SYNC_LOCK,))
    stored = {row.id: row for row in await load_all(conn)}
    created: list[str] = []
    updated: list[str] = []
    for schedule_id, default in sorted(defaults.items()):
        row = stored.get(schedule_id)
        if row is None:
            await _insert(conn, schedule_id, default, now=now)
            created.append(schedule_id)
            continue
        timing = _merged(default, row.timing, row.customised)
        customised = row.customised & timing.differing(default)
        if (timing, default, customised, False) == (
            row.timing,
            row.default,
            row.customised,
            row.orphaned,
        ):
            continue
        await _store(
            conn,
            row,
            timing=timing,
            default=default,
            customised=customised,
            now=now,
            actor="code",
            orphaned=False,
        )
        updated.append(schedule_id)
    orphaned: list[str] = []
    if mark_orphans:
        cur = await conn.execute(
            "UPDATE work_schedules SET orphaned = true, updated_at = %s"
            " WHERE NOT orphaned AND id <> ALL(%s) RETURNING id",
            (now, list(defaults)),
        )
        orphaned = sorted(r[0] for r in await cur.fetchall())
    return Synced(created=created, updated=updated, orphaned=orphaned)


def _merged(default: Timing, current: Timing, kept: frozenset[Field]) -> Timing:
    """`default`, except for the fields in `kept`, which come from `current`."""

    def source(field: Field) -> Timing:
        return current if field in kept else default

    return Timing(
        cron=source(Field.CRON).cron,
        timezone=source(Field.TIMEZONE).timezone,
        enabled=source(Field.ENABLED).enabled,
        misfire=source(Field.MISFIRE).misfire,
    )


async def _insert(
    conn: psycopg.AsyncConnection[Any], schedule_id: str, timing: Timing, *, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO work_schedules (id, task, cron, timezone, enabled, misfire, default_cron,
            default_timezone, default_enabled, default_misfire, active_since, created_at,
            updated_at, updated_by)
        VALUES (%(id)s, %(id)s, %(cron)s, %(timezone)s, %(enabled)s, %(misfire)s, %(cron)s,
            %(timezone)s, %(enabled)s, %(misfire)s, %(now)s, %(now)s, %(now)s, 'code')
        ON CONFLICT (id) DO NOTHING
        """,
        {"id": schedule_id, "now": now, **_timing_params(timing)},
    )


def _timing_params(timing: Timing) -> dict[str, Any]:
    return {
        "cron": timing.cron,
        "timezone": timing.timezone,
        "enabled": timing.enabled,
        "misfire": str(timing.misfire),
    }


async def _store(
    conn: psycopg.AsyncConnection[Any],
    row: ScheduleRow,
    *,
    timing: Timing,
    default: Timing,
    customised: frozenset[Field],
    now: datetime,
    actor: str,
    orphaned: bool,
) -> None:
    """Write a schedule's new timing; restart its anchor if it was re-timed or (re)enabled."""
    retimed = row.timing.cron != timing.cron or row.timing.timezone != timing.timezone
    activated = timing.enabled and not orphaned and not row.active
    changed = timing != row.timing or orphaned != row.orphaned
    await conn.execute(
        """
        UPDATE work_schedules SET
            cron = %(cron)s, timezone = %(timezone)s, enabled = %(enabled)s,
            misfire = %(misfire)s, default_cron = %(default_cron)s,
            default_timezone = %(default_timezone)s, default_enabled = %(default_enabled)s,
            default_misfire = %(default_misfire)s, customised = %(customised)s,
            orphaned = %(orphaned)s,
            active_since = CASE WHEN %(restart)s THEN %(now)s ELSE active_since END,
            updated_at = CASE WHEN %(changed)s THEN %(now)s ELSE updated_at END,
            updated_by = CASE WHEN %(changed)s THEN %(actor)s ELSE updated_by END
        WHERE id = %(id)s
        """,
        {
            "id": row.id,
            **_timing_params(timing),
            **{f"default_{k}": v for k, v in _timing_params(default).items()},
            "customised": sorted(str(f) for f in customised),
            "orphaned": orphaned,
            "restart": retimed or activated,
            "changed": changed,
            "now": now,
            "actor": actor,
        },
    )


# --- operator changes -----------------------------------------------------------------------


async def update(
    conn: psycopg.AsyncConnection[Any],
    schedule_id: str,
    change: Change,
    *,
    actor: str,
    now: datetime,
) -> ScheduleRow:
    """Apply an operator's change; a field set away from its default stays until reset."""
    given = change.given()
    if not given:
        raise InvalidSchedule("nothing to change: give any of cron, timezone, enabled, misfire")
    row = await load(conn, schedule_id, for_update=True)
    timing = Timing(
        cron=row.timing.cron if change.cron is None else change.cron,
        timezone=row.timing.timezone if change.timezone is None else change.timezone,
        enabled=row.timing.enabled if change.enabled is None else change.enabled,
        misfire=row.timing.misfire if change.misfire is None else change.misfire,
    ).normalised()
    customised = (row.customised | frozenset(given)) & timing.differing(row.default)
    if timing == row.timing and customised == row.customised:
        return row
    await _store(
        conn,
        row,
        timing=timing,
        default=row.default,
        customised=customised,
        now=now,
        actor=actor,
        orphaned=row.orphaned,
    )
    return await load(conn, schedule_id)


async def reset(
    conn: psycopg.AsyncConnection[Any], schedule_id: str, *, actor: str, now: datetime
) -> ScheduleRow:
    """Drop every customisation: the schedule follows its defaults again."""
    row = await load(conn, schedule_id, for_update=True)
    if row.timing == row.default and not row.customised:
        return row
    await _store(
        conn,
        row,
        timing=row.default,
        default=row.default,
        customised=frozenset(),
        now=now,
        actor=actor,
        orphaned=row.orphaned,
    )
    return await load(conn, schedule_id)


# --- slots ----------------------------------------------------------------------------------


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


async def advance(
    conn: psycopg.AsyncConnection[Any], schedule_id: str, last_slot: datetime
) -> None:
    """Move the schedule's cursor: its slots up to `last_slot` are dealt with."""
    await conn.execute(
        "UPDATE work_schedules SET last_slot = greatest(last_slot, %s) WHERE id = %s",
        (last_slot, schedule_id),
    )


async def trigger(
    conn: psycopg.AsyncConnection[Any],
    work: WorkEngine,
    schedule_id: str,
    *,
    actor: str,
    now: datetime,
) -> Triggered:
    """Run the schedule's job now, as a manual slot at `now` (also its `scheduled_at`)."""
    row = await load(conn, schedule_id)
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
    conn: psycopg.AsyncConnection[Any], schedule_id: str, *, limit: int = RECENT_SLOTS
) -> list[SlotRecord]:
    """The schedule's latest slots, newest first."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT * FROM work_schedule_slots WHERE schedule_id = %s"
        " ORDER BY claimed_at DESC, id DESC LIMIT %s",
        (schedule_id, limit),
    )
    return [_slot(r) for r in await cur.fetchall()]


async def _last_runs(
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


# --- reports --------------------------------------------------------------------------------


def next_run(row: ScheduleRow, *, now: datetime) -> datetime | None:
    """The schedule's next slot after `now`; None while paused or orphaned."""
    upcoming = upcoming_runs(row, now=now, count=1)
    return upcoming[0] if upcoming else None


def upcoming_runs(row: ScheduleRow, *, now: datetime, count: int) -> list[datetime]:
    if not row.active:
        return []
    try:
        expr, tz = row.timing.parsed()
    except InvalidInput:
        log.error("schedule %s has an invalid timing in the database: %s", row.id, row.timing)
        return []
    return cron.upcoming(expr, max(row.cursor, now), tz, count=count)


def _view(
    row: ScheduleRow, last: SlotRecord | None, *, summary: str, now: datetime
) -> ScheduleView:
    return ScheduleView(
        id=row.id,
        task=row.task,
        summary=summary,
        cron=row.timing.cron,
        timezone=row.timing.timezone,
        enabled=row.timing.enabled,
        misfire=row.timing.misfire,
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


async def describe_all(
    conn: psycopg.AsyncConnection[Any], *, summaries: Mapping[str, str], now: datetime
) -> list[ScheduleView]:
    """Every stored schedule, orphans included, by id."""
    rows = await load_all(conn)
    last = await _last_runs(conn)
    return [
        _view(row, last.get(row.id), summary=summaries.get(row.task, ""), now=now) for row in rows
    ]


async def describe(
    conn: psycopg.AsyncConnection[Any],
    schedule_id: str,
    *,
    summaries: Mapping[str, str],
    now: datetime,
    recent: int = RECENT_SLOTS,
) -> ScheduleDetail:
    """One schedule with its next slots and its latest slot rows."""
    row = await load(conn, schedule_id)
    slots = await recent_slots(conn, schedule_id, limit=recent)
    last = next((s for s in slots if s.state not in NOT_RUNS), None)
    if last is None:  # none among the recent slots: look further back
        last = (await _last_runs(conn, schedule_id)).get(schedule_id)
    view = _view(row, last, summary=summaries.get(row.task, ""), now=now)
    return ScheduleDetail(
        schedule=view,
        upcoming=upcoming_runs(row, now=now, count=UPCOMING_SLOTS),
        recent_slots=slots,
    )
