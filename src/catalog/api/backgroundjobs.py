"""Management API: jobs, workers and statistics, under /api/backgroundjobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from catalog.api.deps import RuntimeDep
from catalog.api.pagination import BAD_CURSOR, Cursor, CursorQuery, decode_cursor, encode_cursor
from catalog.api.timestamps import Timestamp
from catalog.api.validation import documented_errors, refuse_nulls, without_null
from catalog.bootstrap import Runtime
from catalog.domain.errors import InvalidInput
from catalog.work import control, monitor
from catalog.work.monitor import JobState

router = APIRouter(prefix="/api/backgroundjobs", tags=["background jobs"])

JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The job's id.")]
MAX_PAGE = 200
_NO_JOB = (404, "No such job")
JOB_SORT = "-id"  # newest first; the only order, named in the cursor


class JobOut(BaseModel):
    """A job. A deleted job stays readable, in state `deleted`, until retention prunes it: a GET
    after a DELETE answers 200 with that state, not 404."""

    id: int
    task: str
    queue: str
    state: JobState = Field(description="`deleted` until retention prunes a deleted job.")
    args: dict[str, Any]
    attempts: int
    priority: int
    lock: str | None
    created_at: Timestamp | None
    scheduled_at: Timestamp | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_s: float | None
    error: str | None
    worker: str | None
    recurring_id: str | None = Field(description="The recurring job that created it, if any.")
    slot: Timestamp | None = Field(description="The schedule time it belongs to, if any.")
    cancel_requested: bool


class RunOut(BaseModel):
    attempt: int
    worker: str | None
    started_at: Timestamp
    finished_at: Timestamp
    duration_s: float
    outcome: str
    result: str | None
    error_type: str | None
    error_message: str | None
    traceback: str | None


class LogOut(BaseModel):
    at: Timestamp
    attempt: int
    level: str
    message: str


class ProgressOut(BaseModel):
    attempt: int
    done: int
    total: int | None
    updated_at: Timestamp


class JobDetailOut(JobOut):
    runs: list[RunOut] = Field(description="The journal: one entry per run, oldest first.")
    logs: list[LogOut]
    progress: ProgressOut | None


class JobPageOut(BaseModel):
    items: list[JobOut]
    next_cursor: str | None


class EnqueueIn(BaseModel):
    """A job to run now, after `delay_s`, or at `run_at` (not both)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=without_null("priority", **{"not": {"required": ["delay_s", "run_at"]}}),
    )

    task: str = Field(min_length=1, max_length=128)
    args: dict[str, Any] = Field(default_factory=dict)
    delay_s: float | None = Field(default=None, ge=0, le=366 * 86400)
    run_at: AwareDatetime | None = Field(
        default=None, description="With a time zone offset, e.g. 2026-01-01T08:00:00Z."
    )
    priority: int | None = Field(default=None, ge=-1000, le=1000)

    @model_validator(mode="after")
    def _no_nulls(self) -> EnqueueIn:
        refuse_nulls(self, "priority")
        return self


class EnqueueOut(BaseModel):
    job_id: int
    skipped: bool = Field(description="True when a run of this locked job was already queued.")
    job: JobOut


class WorkerOut(BaseModel):
    id: int
    name: str
    host: str
    pid: int
    concurrency: int
    queues: list[str] | None
    started_at: Timestamp
    last_heartbeat: Timestamp
    heartbeat_age_s: float
    running_jobs: int


class ThroughputOut(BaseModel):
    minute: Timestamp
    succeeded: int
    failed: int


class StatsOut(BaseModel):
    counts: dict[JobState, int]
    throughput: list[ThroughputOut] = Field(description="Finished jobs per minute, last hour.")
    workers: int


class TaskOut(BaseModel):
    name: str
    summary: str
    policy: dict[str, Any]
    schedule: str | None


def _job_out(job: monitor.Job) -> JobOut:
    return JobOut.model_validate(job, from_attributes=True)


@router.get(
    "/jobs",
    summary="List jobs, newest first",
    response_model=JobPageOut,
    responses=documented_errors(BAD_CURSOR),
)
async def list_jobs(
    rt: RuntimeDep,
    state: JobState | None = None,
    task: Annotated[str | None, Query(max_length=128)] = None,
    queue: Annotated[str | None, Query(max_length=128)] = None,
    cursor: Annotated[str | None, CursorQuery] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> JobPageOut:
    before = decode_cursor(cursor, sort=JOB_SORT).last_id if cursor is not None else None
    async with rt.work.pool.connection() as conn:
        page = await monitor.list_jobs(
            conn, state=state, task=task, queue=queue, before_id=before, limit=limit
        )
    next_cursor = None
    if page.next_before_id:
        next_cursor = encode_cursor(Cursor(sort=JOB_SORT, value=None, last_id=page.next_before_id))
    return JobPageOut(items=[_job_out(job) for job in page.items], next_cursor=next_cursor)


@router.post(
    "/jobs",
    summary="Enqueue a job now, after a delay, or at a time",
    status_code=status.HTTP_201_CREATED,
    response_model=EnqueueOut,
    responses=documented_errors((404, "No job of that name is declared")),
)
async def enqueue_job(rt: RuntimeDep, body: EnqueueIn) -> EnqueueOut:
    run_at = body.run_at
    if body.delay_s is not None and run_at is not None:
        raise InvalidInput("give delay_s or run_at, not both")
    if body.delay_s is not None:
        run_at = datetime.now(UTC) + timedelta(seconds=body.delay_s)
    result = await rt.work.enqueue(
        body.task, kwargs=body.args, schedule_at=run_at, priority=body.priority
    )
    return EnqueueOut(
        job_id=result.job_id, skipped=result.skipped, job=await _get(rt, result.job_id)
    )


@router.get(
    "/jobs/{job_id}",
    summary="A job with its journal and logs",
    responses=documented_errors(_NO_JOB),
)
async def get_job(rt: RuntimeDep, job_id: JobId) -> JobDetailOut:
    async with rt.work.pool.connection() as conn:
        detail = await monitor.get_job_detail(conn, job_id)
    return JobDetailOut(
        **_job_out(detail.job).model_dump(),
        runs=[RunOut.model_validate(run, from_attributes=True) for run in detail.runs],
        logs=[LogOut.model_validate(line, from_attributes=True) for line in detail.logs],
        progress=(
            ProgressOut.model_validate(detail.progress, from_attributes=True)
            if detail.progress
            else None
        ),
    )


@router.post(
    "/jobs/{job_id}/retry",
    summary="Run a finished job again",
    responses=documented_errors(_NO_JOB, (409, "The job is waiting or running")),
)
async def retry_job(rt: RuntimeDep, job_id: JobId) -> JobOut:
    async with rt.work.pool.connection() as conn, conn.transaction():
        return _job_out(await control.retry(conn, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    summary="Cancel a waiting job or stop a running one",
    responses=documented_errors(_NO_JOB, (409, "The job has finished already")),
)
async def cancel_job(rt: RuntimeDep, job_id: JobId) -> JobOut:
    async with rt.work.pool.connection() as conn, conn.transaction():
        return _job_out(await control.cancel(conn, job_id))


@router.delete(
    "/jobs/{job_id}",
    summary="Delete a job (kept, marked deleted, until pruned)",
    responses=documented_errors(_NO_JOB),
)
async def delete_job(rt: RuntimeDep, job_id: JobId) -> JobOut:
    async with rt.work.pool.connection() as conn, conn.transaction():
        return _job_out(await control.delete(conn, job_id))


@router.get("/workers", summary="Workers with their heartbeats")
async def list_workers(rt: RuntimeDep) -> list[WorkerOut]:
    async with rt.work.pool.connection() as conn:
        workers = await monitor.list_workers(conn)
    return [WorkerOut.model_validate(w, from_attributes=True) for w in workers]


@router.get("/stats", summary="Jobs per state and throughput per minute over the last hour")
async def get_stats(rt: RuntimeDep) -> StatsOut:
    async with rt.work.pool.connection() as conn:
        stats = await monitor.stats(conn)
    return StatsOut(
        counts=stats.counts,
        throughput=[
            ThroughputOut.model_validate(t, from_attributes=True) for t in stats.throughput
        ],
        workers=stats.workers,
    )


@router.get("/tasks", summary="The jobs this service declares, with their policies")
async def list_tasks(rt: RuntimeDep) -> list[TaskOut]:
    return [
        TaskOut(
            name=d.name,
            summary=d.summary,
            policy=d.policy.as_dict(),
            schedule=f"{d.schedule.cron} ({d.schedule.tz})" if d.schedule else None,
        )
        for d in sorted(rt.work.definitions.values(), key=lambda d: d.name)
    ]


async def _get(rt: Runtime, job_id: int) -> JobOut:
    async with rt.work.pool.connection() as conn:
        return _job_out(await monitor.get_job(conn, job_id))
