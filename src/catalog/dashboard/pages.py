"""Dashboard pages (GET): overview, jobs, job detail, recurring jobs, services, workers."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ParamSpec

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from catalog.api.access import AccessDenied
from catalog.bootstrap import Runtime
from catalog.dashboard import queries, render
from catalog.dashboard.session import visitor
from catalog.domain.errors import Conflict, DomainError, NotFound
from catalog.work import monitor
from catalog.work.monitor import JobState
from catalog.work.schedules import cron, views
from catalog.work.services import status as service_status

router = APIRouter(prefix="/dashboard", include_in_schema=False)
hangfire = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
P = ParamSpec("P")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def html_errors(route: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Denials and domain errors as HTML pages rather than JSON."""

    @functools.wraps(route)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        request = kwargs["request"]
        assert isinstance(request, Request)
        try:
            return await route(*args, **kwargs)
        except AccessDenied as error:
            return render.denied(request, error)
        except DomainError as error:
            status = (
                404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 422
            )
            return render.html_error(request, status, error.message)

    return wrapped


@hangfire.get("/hangfire")
@hangfire.get("/hangfire/{rest:path}")
async def to_dashboard() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=301)


def daily_history(request: Request) -> queries.DailyHistory:
    history: queries.DailyHistory | None = getattr(request.app.state, "daily_history", None)
    if history is None:
        history = request.app.state.daily_history = queries.DailyHistory()
    return history


async def _live_counts(runtime: Runtime) -> dict[str, Any]:
    """What the overview refreshes every 2 s: counts per state, queue depths, workers."""
    async with runtime.work.pool.connection() as conn:
        counts = await queries.state_counts(conn)
        depths = await queries.queue_depths(conn)
        workers = await monitor.list_workers(conn)
    stalled = runtime.settings.worker_stalled_after_s
    online = sum(1 for w in workers if w.heartbeat_age_s < stalled)
    return {"counts": counts, "depths": depths, "workers_online": online}


async def _charts(request: Request, runtime: Runtime) -> dict[str, Any]:
    async with runtime.work.pool.connection() as conn:
        minutes = await queries.minute_throughput(conn)
        days = await daily_history(request).read(conn)
    return {
        "minutes": minutes,
        "days": days,
        "minutes_json": json.dumps(
            [
                [int(m.minute.timestamp()) for m in minutes],
                [m.succeeded for m in minutes],
                [m.failed for m in minutes],
            ]
        ),
        "days_json": json.dumps(
            [
                [int(d.day.timestamp()) for d in days],
                [d.succeeded for d in days],
                [d.failed for d in days],
            ]
        ),
    }


@router.get("")
@html_errors
async def overview(request: Request) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    # Two connections, so that PostgreSQL answers both halves at once.
    live, charts = await asyncio.gather(_live_counts(runtime), _charts(request, runtime))
    return await render.page(request, runtime, who, "overview.html", live | charts)


@router.get("/fragments/overview")
@html_errors
async def overview_live(request: Request) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    live = await _live_counts(runtime)
    return await render.page(request, runtime, who, "_live_counts.html", live)


@router.get("/jobs")
@html_errors
async def jobs(
    request: Request,
    state: JobState | None = None,
    task: Annotated[str | None, Query(max_length=128)] = None,
    queue: Annotated[str | None, Query(max_length=128)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    async with runtime.work.pool.connection() as conn:
        listed = await monitor.list_jobs(
            conn, state=state, task=task or None, queue=queue or None, before_id=before,
            limit=PAGE_SIZE,
        )  # fmt: skip
        counts = await queries.state_counts(conn)
    context = {
        "jobs": listed.items,
        "next_before": listed.next_before_id,
        "state": state,
        "task": task or "",
        "queue": queue or "",
        "states": list(JobState),
        "counts": counts,
        "tasks": sorted(runtime.work.definitions),
    }
    return await render.page(request, runtime, who, "jobs.html", context)


async def _job_context(runtime: Runtime, job_id: int) -> dict[str, Any]:
    async with runtime.work.pool.connection() as conn:
        detail = await monitor.get_job_detail(conn, job_id)
    live = detail.job.state in (JobState.ENQUEUED, JobState.PROCESSING, JobState.SCHEDULED)
    return {
        "job": detail.job,
        "runs": detail.runs,
        "logs": detail.logs,
        "progress": detail.progress,
        "live": live,
        "args_json": json.dumps(detail.job.args, indent=2, sort_keys=True, default=str),
    }


@router.get("/jobs/{job_id}")
@html_errors
async def job(request: Request, job_id: int) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    context = await _job_context(runtime, job_id)
    return await render.page(request, runtime, who, "job.html", context)


@router.get("/jobs/{job_id}/live")
@html_errors
async def job_live(request: Request, job_id: int) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    context = await _job_context(runtime, job_id)
    return await render.page(request, runtime, who, "_job_live.html", context)


async def _synced(request: Request, runtime: Runtime) -> None:
    from catalog.api.recurring import _ensure_synced

    await _ensure_synced(request, runtime)


def summaries(runtime: Runtime) -> dict[str, str]:
    return {name: d.summary for name, d in runtime.work.definitions.items()}


@router.get("/recurring")
@html_errors
async def recurring(request: Request) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    await _synced(request, runtime)
    async with runtime.work.pool.connection() as conn:
        listed = await views.list_views(conn, summaries=summaries(runtime), now=datetime.now(UTC))
    return await render.page(request, runtime, who, "recurring.html", {"schedules": listed})


async def schedule_context(request: Request, runtime: Runtime, schedule_id: str) -> dict[str, Any]:
    await _synced(request, runtime)
    async with runtime.work.pool.connection() as conn:
        detail = await views.read_detail(
            conn, schedule_id, summaries=summaries(runtime), now=datetime.now(UTC)
        )
    return {"schedule": detail.schedule, "upcoming": detail.upcoming, "slots": detail.recent_slots}


@router.get("/recurring/{schedule_id}")
@html_errors
async def schedule(request: Request, schedule_id: str) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    context = await schedule_context(request, runtime, schedule_id)
    return await render.page(request, runtime, who, "schedule.html", context)


def preview_runs(cron_text: str, tz: str, *, count: int = 5) -> tuple[list[datetime], str | None]:
    """The next `count` runs of a cron in a zone, or the reason it is invalid."""
    try:
        expr, zone = cron.parse(cron_text.strip()), cron.zone(tz.strip())
    except DomainError as error:
        return [], error.message
    return cron.upcoming(expr, datetime.now(UTC), zone, count=count), None


@router.get("/recurring/{schedule_id}/preview")
@html_errors
async def schedule_preview(
    request: Request,
    schedule_id: str,
    cron_text: Annotated[str, Query(alias="cron", max_length=200)] = "",
    timezone: Annotated[str, Query(max_length=64)] = "UTC",
) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    runs, error = preview_runs(cron_text, timezone)
    context = {"runs": runs, "error": error, "cron": cron_text, "timezone": timezone}
    return await render.page(request, runtime, who, "_preview.html", context)


@router.get("/services")
@html_errors
async def services(request: Request) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    async with runtime.work.pool.connection() as conn:
        statuses = await service_status.read_statuses(conn, runtime.work.services)
    return await render.page(request, runtime, who, "services.html", {"services": statuses})


@router.get("/workers")
@html_errors
async def workers(request: Request) -> Response:
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    async with runtime.work.pool.connection() as conn:
        listed = await monitor.list_workers(conn)
        running = await queries.running_jobs(conn)
    context = {
        "workers": listed,
        "running": running,
        "stalled_after_s": runtime.settings.worker_stalled_after_s,
    }
    return await render.page(request, runtime, who, "workers.html", context)
