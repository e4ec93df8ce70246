"""Management API: recurring jobs (schedules): list, detail, re-time, pause, resume, reset, trigger.

Changes are stored at once and survive restarts and deploys; every scheduler hears of them by
NOTIFY. The actor recorded with a change comes from the `X-Actor` header ("api" without one).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from catalog.api.deps import RuntimeDep
from catalog.api.timestamps import Timestamp
from catalog.api.validation import documented_errors, refuse_nulls, without_null
from catalog.bootstrap import Runtime
from catalog.work.schedules import slots, storage, views
from catalog.work.schedules.slots import SlotKind, SlotState
from catalog.work.schedules.timing import Change, Misfire, Schedule, defaults_of
from catalog.work.schedules.views import ScheduleView

router = APIRouter(prefix="/api/backgroundjobs", tags=["recurring jobs"])

ACTOR_MAX_CHARS = 200

_NO_SCHEDULE = (404, "No such recurring job")
_RUNNING = (409, "It skips overlapping runs and one is running, or its job is no longer declared")
ActorHeader = Annotated[
    str | None,
    Header(
        alias="X-Actor",
        max_length=ACTOR_MAX_CHARS,
        description="Who makes the change, recorded with it; 'api' if absent.",
    ),
]


class DefaultTiming(BaseModel):
    """The schedule it follows when not customised: its code declaration + settings."""

    cron: str
    timezone: str
    enabled: bool
    misfire: Misfire

    @classmethod
    def of(cls, schedule: Schedule) -> DefaultTiming:
        return cls(
            cron=schedule.cron,
            timezone=schedule.tz,
            enabled=schedule.enabled,
            misfire=schedule.misfire,
        )


class RecurringJob(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The recurring job's id, which is also its job's name.")
    task: str
    summary: str
    cron: str = Field(description="5 fields, or 6 with seconds first.")
    timezone: str = Field(description="IANA time zone the cron fields are read in.")
    enabled: bool
    misfire: Misfire
    next_run: Timestamp | None = Field(description="The next slot; null while paused.")
    last_run: Timestamp | None = Field(description="The slot of the latest run.")
    last_state: SlotState | None
    last_duration_s: float | None
    last_job_id: int | None
    last_kind: SlotKind | None
    customised: bool = Field(description="An operator changed it; kept until reset.")
    customised_fields: list[str]
    default: DefaultTiming
    orphaned: bool = Field(description="Its job is no longer declared; never fires.")
    active_since: Timestamp = Field(description="No slot at or before this fires.")
    updated_at: Timestamp
    updated_by: str


class Slot(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    slot: Timestamp = Field(description="The scheduled time the job received as scheduled_at.")
    kind: SlotKind
    state: SlotState
    job_id: int | None
    missed_since: Timestamp | None = Field(
        description="For a missed or catch-up slot: the first of the missed slots it stands for."
    )
    detail: str | None
    actor: str | None
    claimed_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_s: float | None


class RecurringJobDetail(RecurringJob):
    upcoming: list[Timestamp]
    recent_slots: list[Slot]


class RecurringJobUpdate(BaseModel):
    """Any of the fields; each given one is stored and kept until reset."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=without_null(
            minProperties=1,
            examples=[{"cron": "0 3 * * *", "timezone": "Europe/Berlin"}],
        ),
    )

    cron: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=100)
    enabled: bool | None = None
    misfire: Misfire | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> RecurringJobUpdate:
        refuse_nulls(self)
        return self


class Triggered(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    schedule_id: str
    job_id: int
    slot: Timestamp = Field(description="The trigger's time, passed to the job as scheduled_at.")


def _summaries(runtime: Runtime) -> dict[str, str]:
    return {name: d.summary for name, d in runtime.work.definitions.items()}


async def _ensure_synced(request: Request, runtime: Runtime) -> None:
    """Store the declared schedules once per app, so the API works before any worker started."""
    if getattr(request.app.state, "recurring_synced", False):
        return
    defaults = defaults_of(runtime.work.declared_schedules, runtime.settings.schedules)
    async with runtime.work.pool.connection() as conn, conn.transaction():
        # Orphans are for schedulers to mark: an API process may load fewer job modules.
        await storage.sync(conn, defaults, now=datetime.now(UTC), mark_orphans=False)
    request.app.state.recurring_synced = True


def _view(view: ScheduleView) -> RecurringJob:
    fields = {f.name: getattr(view, f.name) for f in dataclasses.fields(view)}
    return RecurringJob(**(fields | {"default": DefaultTiming.of(view.default)}))


async def _current(
    conn: psycopg.AsyncConnection[Any], runtime: Runtime, schedule_id: str
) -> RecurringJob:
    detail = await views.read_detail(
        conn, schedule_id, summaries=_summaries(runtime), now=datetime.now(UTC), recent=0
    )
    return _view(detail.schedule)


@router.get("/recurring-jobs", response_model=list[RecurringJob])
async def list_recurring_jobs(request: Request, runtime: RuntimeDep) -> list[RecurringJob]:
    """Every recurring job, with its timing, next run and latest run."""
    await _ensure_synced(request, runtime)
    async with runtime.work.pool.connection() as conn:
        listed = await views.list_views(conn, summaries=_summaries(runtime), now=datetime.now(UTC))
    return [_view(view) for view in listed]


@router.get(
    "/recurring-jobs/{schedule_id}",
    response_model=RecurringJobDetail,
    responses=documented_errors(_NO_SCHEDULE),
)
async def get_recurring_job(
    schedule_id: str, request: Request, runtime: RuntimeDep
) -> RecurringJobDetail:
    """One recurring job, with its next slots and its latest slots (runs, skips, misses)."""
    await _ensure_synced(request, runtime)
    async with runtime.work.pool.connection() as conn:
        detail = await views.read_detail(
            conn, schedule_id, summaries=_summaries(runtime), now=datetime.now(UTC)
        )
    return RecurringJobDetail(
        **dict(_view(detail.schedule)),
        upcoming=detail.upcoming,
        recent_slots=[Slot.model_validate(slot) for slot in detail.recent_slots],
    )


@router.put(
    "/recurring-jobs/{schedule_id}",
    response_model=RecurringJob,
    responses=documented_errors(_NO_SCHEDULE),
)
async def update_recurring_job(
    schedule_id: str,
    body: RecurringJobUpdate,
    request: Request,
    runtime: RuntimeDep,
    actor: ActorHeader = None,
) -> RecurringJob:
    """Re-time, pause/resume or change the misfire policy; an invalid cron or zone changes
    nothing and answers 422."""
    await _ensure_synced(request, runtime)
    change = Change(cron=body.cron, tz=body.timezone, enabled=body.enabled, misfire=body.misfire)
    return await _change(runtime, schedule_id, change, actor=actor)


@router.post(
    "/recurring-jobs/{schedule_id}/pause",
    response_model=RecurringJob,
    responses=documented_errors(_NO_SCHEDULE),
)
async def pause_recurring_job(
    schedule_id: str, request: Request, runtime: RuntimeDep, actor: ActorHeader = None
) -> RecurringJob:
    """Stop firing until resumed; slots meanwhile never run."""
    await _ensure_synced(request, runtime)
    return await _change(runtime, schedule_id, Change(enabled=False), actor=actor)


@router.post(
    "/recurring-jobs/{schedule_id}/resume",
    response_model=RecurringJob,
    responses=documented_errors(_NO_SCHEDULE),
)
async def resume_recurring_job(
    schedule_id: str, request: Request, runtime: RuntimeDep, actor: ActorHeader = None
) -> RecurringJob:
    """Fire again from the next slot on (no catch-up for the paused time)."""
    await _ensure_synced(request, runtime)
    return await _change(runtime, schedule_id, Change(enabled=True), actor=actor)


@router.post(
    "/recurring-jobs/{schedule_id}/reset",
    response_model=RecurringJob,
    responses=documented_errors(_NO_SCHEDULE),
)
async def reset_recurring_job(
    schedule_id: str, request: Request, runtime: RuntimeDep, actor: ActorHeader = None
) -> RecurringJob:
    """Drop the operator's changes: back to the defaults from code and settings."""
    await _ensure_synced(request, runtime)
    async with runtime.work.pool.connection() as conn, conn.transaction():
        await storage.reset(conn, schedule_id, actor=actor or "api", now=datetime.now(UTC))
        return await _current(conn, runtime, schedule_id)


@router.post(
    "/recurring-jobs/{schedule_id}/trigger",
    response_model=Triggered,
    responses=documented_errors(_NO_SCHEDULE, _RUNNING),
)
async def trigger_recurring_job(
    schedule_id: str, request: Request, runtime: RuntimeDep, actor: ActorHeader = None
) -> Triggered:
    """Enqueue the job now, as a manual slot; 409 if it skips overlapping runs and is running."""
    await _ensure_synced(request, runtime)
    async with runtime.work.pool.connection() as conn, conn.transaction():
        triggered = await slots.trigger(
            conn, runtime.work, schedule_id, actor=actor or "api", now=datetime.now(UTC)
        )
    return Triggered.model_validate(triggered)


async def _change(
    runtime: Runtime, schedule_id: str, change: Change, *, actor: str | None
) -> RecurringJob:
    async with runtime.work.pool.connection() as conn, conn.transaction():
        await storage.update(conn, schedule_id, change, actor=actor or "api", now=datetime.now(UTC))
        return await _current(conn, runtime, schedule_id)
