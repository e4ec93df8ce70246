"""Stored schedules (`work_schedules`): reading, the start-up sync, and operators' changes.

A schedule's id is its job's name. Its defaults come from the job's declaration and
`Settings.schedules`; an operator may change any field at run time, and a changed field stays
as set (through restarts and deploys) until reset. Functions here run in the caller's
transaction and never commit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from catalog.domain.errors import NotFound
from catalog.work.schedules.timing import Change, Field, InvalidSchedule, Misfire, Schedule

NOTIFY_CHANNEL = "catalog_schedules"  # the migration's trigger notifies on schedule changes
SYNC_LOCK = "catalog:work_schedules:sync"


class ScheduleNotFound(NotFound):
    def __init__(self, schedule_id: str) -> None:
        super().__init__(f"no recurring job {schedule_id!r}")
        self.schedule_id = schedule_id


@dataclasses.dataclass(frozen=True)
class ScheduleRow:
    """A stored schedule: what it follows now (`current`) and its defaults."""

    id: str
    task: str
    current: Schedule
    default: Schedule
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
        return self.current.enabled and not self.orphaned


@dataclasses.dataclass(frozen=True)
class Synced:
    created: list[str]
    updated: list[str]
    orphaned: list[str]


# --- reading --------------------------------------------------------------------------------


def _row(record: Mapping[str, Any]) -> ScheduleRow:
    return ScheduleRow(
        id=record["id"],
        task=record["task"],
        current=Schedule(
            cron=record["cron"],
            tz=record["timezone"],
            enabled=record["enabled"],
            misfire=Misfire(record["misfire"]),
        ),
        default=Schedule(
            cron=record["default_cron"],
            tz=record["default_timezone"],
            enabled=record["default_enabled"],
            misfire=Misfire(record["default_misfire"]),
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


async def advance(
    conn: psycopg.AsyncConnection[Any], schedule_id: str, last_slot: datetime
) -> None:
    """Move the schedule's cursor: its slots up to `last_slot` are dealt with."""
    await conn.execute(
        "UPDATE work_schedules SET last_slot = greatest(last_slot, %s) WHERE id = %s",
        (last_slot, schedule_id),
    )


# --- start-up sync --------------------------------------------------------------------------


async def sync(
    conn: psycopg.AsyncConnection[Any],
    defaults: Mapping[str, Schedule],
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
        current = _merged(default, row.current, row.customised)
        customised = row.customised & current.differing(default)
        if (current, default, customised, False) == (
            row.current,
            row.default,
            row.customised,
            row.orphaned,
        ):
            continue
        await _store(
            conn,
            row,
            current=current,
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


def _merged(default: Schedule, current: Schedule, kept: frozenset[Field]) -> Schedule:
    """`default`, except for the fields in `kept`, which come from `current`."""

    def source(field: Field) -> Schedule:
        return current if field in kept else default

    return Schedule(
        cron=source(Field.CRON).cron,
        tz=source(Field.TIMEZONE).tz,
        enabled=source(Field.ENABLED).enabled,
        misfire=source(Field.MISFIRE).misfire,
    )


async def _insert(
    conn: psycopg.AsyncConnection[Any], schedule_id: str, schedule: Schedule, *, now: datetime
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
        {"id": schedule_id, "now": now, **_columns(schedule)},
    )


def _columns(schedule: Schedule) -> dict[str, Any]:
    return {
        "cron": schedule.cron,
        "timezone": schedule.tz,
        "enabled": schedule.enabled,
        "misfire": str(schedule.misfire),
    }


async def _store(
    conn: psycopg.AsyncConnection[Any],
    row: ScheduleRow,
    *,
    current: Schedule,
    default: Schedule,
    customised: frozenset[Field],
    now: datetime,
    actor: str,
    orphaned: bool,
) -> None:
    """Write a schedule's new values; restart its anchor if it was re-timed or (re)enabled."""
    retimed = row.current.cron != current.cron or row.current.tz != current.tz
    activated = current.enabled and not orphaned and not row.active
    changed = current != row.current or orphaned != row.orphaned
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
            **_columns(current),
            **{f"default_{k}": v for k, v in _columns(default).items()},
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
    current = change.applied_to(row.current)
    customised = (row.customised | frozenset(given)) & current.differing(row.default)
    if current == row.current and customised == row.customised:
        return row
    await _store(
        conn,
        row,
        current=current,
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
    if row.current == row.default and not row.customised:
        return row
    await _store(
        conn,
        row,
        current=row.default,
        default=row.default,
        customised=frozenset(),
        now=now,
        actor=actor,
        orphaned=row.orphaned,
    )
    return await load(conn, schedule_id)
