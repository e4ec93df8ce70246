"""Starting a job by hand: "run it now, or tell me about the run already under way".

`trigger(rt, task)` is the one place that does it; a route per job (the original system's
paths) calls it:

    @router.post("/trigger-analytics", status_code=202, response_model=Triggered)
    async def trigger_analytics(rt: RuntimeDep, response: Response) -> Triggered:
        return await trigger(rt, "daily-analytics", response=response)

The job must be declared with a lock and `overlap=Overlap.SKIP`: the engine then enqueues it
only while no run with its lock waits or runs, and otherwise names that run, atomically.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field

from catalog.api.deps import RuntimeDep
from catalog.api.timestamps import Timestamp
from catalog.bootstrap import Runtime
from catalog.work import monitor
from catalog.work.monitor import JobState
from catalog.work.policy import Overlap

router = APIRouter(prefix="/api/backgroundjobs", tags=["background jobs"])

JOBS_PATH = "/api/backgroundjobs/jobs"
MAX_DELAY_MINUTES = 7 * 24 * 60  # a week


class Triggered(BaseModel):
    job_id: int
    task: str
    state: JobState
    already_running: bool = Field(
        description="True when a run of this job was already waiting or running: this is that "
        "run, and no second one was started."
    )
    scheduled_at: Timestamp | None = Field(description="When it runs (or ran), if delayed.")
    job_url: str = Field(description="Where to follow the job: its state, journal and logs.")


class NotSkipping(TypeError):
    """A job triggered by hand must be declared with a lock and overlap=SKIP."""


async def trigger(
    rt: Runtime,
    task: str,
    *,
    response: Response,
    kwargs: dict[str, Any] | None = None,
    schedule_at: datetime | None = None,
) -> Triggered:
    """Enqueue `task` unless a run of it is waiting or running; answer with the run either way.

    Sets a `Location` header on `response` pointing to the job.
    """
    definition = rt.work.definition(task)
    if definition.policy.overlap is not Overlap.SKIP:
        raise NotSkipping(f"job {task!r} must be declared with overlap=Overlap.SKIP")
    enqueued = await rt.work.enqueue(task, kwargs=kwargs, schedule_at=schedule_at)
    async with rt.work.pool.connection() as conn:
        job = await monitor.get_job(conn, enqueued.job_id)
    url = f"{JOBS_PATH}/{enqueued.job_id}"
    response.headers["Location"] = url
    return Triggered(
        job_id=enqueued.job_id,
        task=task,
        state=job.state,
        already_running=enqueued.skipped,
        scheduled_at=job.scheduled_at,
        job_url=url,
    )


@router.post(
    "/trigger-analytics",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run the daily analytics now (or get the run under way)",
)
async def trigger_analytics(rt: RuntimeDep, response: Response) -> Triggered:
    """Starts `daily-analytics`; the report appears at `/api/reports/analytics/latest`."""
    return await trigger(rt, "daily-analytics", response=response)


@router.post(
    "/trigger-inventory-report",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Make the weekly inventory report now (or get the run under way)",
)
async def trigger_inventory_report(rt: RuntimeDep, response: Response) -> Triggered:
    """Starts `weekly-inventory-report`; the report appears at `/api/reports/inventory/latest`."""
    return await trigger(rt, "weekly-inventory-report", response=response)


@router.post(
    "/trigger-cache-warmup",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Warm the cache now (or get the warm under way)",
)
async def trigger_cache_warmup(rt: RuntimeDep, response: Response) -> Triggered:
    """Starts `cache-warmup`: popular products, the category tree and counts are preloaded;
    the `cache-warming` service's details show the last warm."""
    return await trigger(rt, "cache-warmup", response=response)


@router.post(
    "/schedule-cleanup",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Run the data cleanup after a delay (or get the run already waiting or running)",
)
async def schedule_cleanup(
    rt: RuntimeDep,
    response: Response,
    delay_minutes: Annotated[
        int,
        Query(
            alias="delayMinutes",
            ge=1,
            le=MAX_DELAY_MINUTES,
            description="Minutes from now, 1 to 10080 (a week).",
        ),
    ],
) -> Triggered:
    """Schedules `monthly-data-cleanup` in `delayMinutes`. If a cleanup is already waiting or
    running, that one is returned and nothing new is scheduled."""
    at = datetime.now(UTC) + timedelta(minutes=delay_minutes)
    return await trigger(rt, "monthly-data-cleanup", response=response, schedule_at=at)


@router.post(
    "/reindex",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Rebuild the search index (or get the rebuild under way)",
)
async def reindex(rt: RuntimeDep, response: Response) -> Triggered:
    """Starts `search-reindex`: a fresh index generation is built from PostgreSQL and swapped in;
    searches answer from the old one until then. Follow its progress at `job_url`."""
    return await trigger(rt, "search-reindex", response=response)
