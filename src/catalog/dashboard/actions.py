"""Dashboard actions (POST): login, logout, job and schedule operations, bulk operations.

Each checks the visitor's role on the server (a viewer sees no buttons, and is refused
anyway) and the form's CSRF token, then answers 303 to the page to show next.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from catalog.api.access import LOCAL, AccessDenied, Role
from catalog.bootstrap import Runtime
from catalog.dashboard import queries, render, session
from catalog.dashboard.pages import html_errors, preview_runs, runtime_of, schedule_context
from catalog.dashboard.session import Visitor, check_csrf, visitor
from catalog.domain.errors import DomainError, IllegalTransition
from catalog.store import access_keys
from catalog.work import control, monitor
from catalog.work.monitor import JobState
from catalog.work.schedules import slots, storage
from catalog.work.schedules.timing import Change

router = APIRouter(prefix="/dashboard", include_in_schema=False)
log = logging.getLogger(__name__)

Csrf = Annotated[str | None, Form(alias=session.CSRF_FIELD)]


async def _allowed(request: Request, needed: Role, csrf: str | None) -> tuple[Runtime, Visitor]:
    runtime = runtime_of(request)
    who = await visitor(request, runtime, needed)
    check_csrf(who, csrf)
    return runtime, who


def _back(url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    render.secured(response)
    return response


@router.get("/login")
async def login_page(request: Request) -> Response:
    runtime = runtime_of(request)
    existing = await session.read_session(request, runtime)
    who = Visitor(
        principal=LOCAL,  # not used on this page: it shows no data
        session=existing or session.new_session(None),
        fresh=existing is None,
    )
    return await render.page(request, runtime, who, "login.html", {"error": None})


@router.post("/login")
async def login(
    request: Request,
    key: Annotated[str, Form(max_length=200)] = "",
    csrf: Csrf = None,
) -> Response:
    runtime = runtime_of(request)
    limiter: session.LoginLimiter = request.app.state.login_limiter
    client = request.client.host if request.client else "unknown"
    existing = await session.read_session(request, runtime)
    if existing is None or not csrf or csrf != existing.csrf:
        return render.html_error(request, 403, "missing or stale form token; reload the page")
    if not limiter.allow(client):
        return render.html_error(request, 429, "too many login attempts; wait a minute")
    async with runtime.work.pool.connection() as conn:
        found = await access_keys.lookup(conn, secret=key.strip() or None)
    if found.key is None:
        log.warning("dashboard login refused for %s: unknown or revoked key", client)
        who = Visitor(principal=LOCAL, session=existing, fresh=False)
        context = {"error": "unknown or revoked key"}
        return await render.page(request, runtime, who, "login.html", context, status_code=401)
    log.info("dashboard login by key %r (%s) from %s", found.key.name, found.key.role, client)
    response = _back("/dashboard")
    await session.set_cookie(request, runtime, response, session.new_session(found.key.id))
    return response


@router.post("/logout")
@html_errors
async def logout(request: Request, csrf: Csrf = None) -> Response:
    runtime = runtime_of(request)
    existing = await session.read_session(request, runtime)
    if existing is None or not csrf or csrf != existing.csrf:
        raise AccessDenied(403, "missing or stale form token; reload the page and try again")
    response = _back("/dashboard/login")
    session.clear_cookie(response)
    return response


@router.post("/jobs/{job_id}/{action}")
@html_errors
async def job_action(request: Request, job_id: int, action: str, csrf: Csrf = None) -> Response:
    operations = {"retry": control.retry, "cancel": control.cancel, "delete": control.delete}
    if action not in operations:
        return render.html_error(request, 404, f"no job action {action!r}")
    runtime, who = await _allowed(request, Role.OPERATOR, csrf)
    async with runtime.work.pool.connection() as conn, conn.transaction():
        await operations[action](conn, job_id)
    log.info("dashboard: %s %s job %d", who.principal.name, action, job_id)
    return _back(f"/dashboard/jobs/{job_id}")


@router.post("/bulk")
@html_errors
async def bulk(
    request: Request,
    action: Annotated[str, Form()],
    state: Annotated[JobState | None, Form()] = None,
    task: Annotated[str, Form(max_length=128)] = "",
    queue: Annotated[str, Form(max_length=128)] = "",
    confirm: Annotated[str, Form()] = "",
    csrf: Csrf = None,
) -> Response:
    """Retry or delete what a filter selects (up to BULK_MAX jobs), after a confirmation."""
    if action not in ("retry", "delete"):
        return render.html_error(request, 422, "bulk action must be retry or delete")
    runtime, who = await _allowed(request, Role.OPERATOR, csrf)
    async with runtime.work.pool.connection() as conn:
        selected = await monitor.list_jobs(
            conn, state=state, task=task or None, queue=queue or None, limit=queries.BULK_MAX
        )
    filters: dict[str, Any] = {"state": state, "task": task, "queue": queue}
    if confirm != "yes":
        context = {"action": action, "count": len(selected.items), **filters,
                   "more": selected.next_before_id is not None}  # fmt: skip
        return await render.page(request, runtime, who, "confirm.html", context)
    operation = control.retry if action == "retry" else control.delete
    done = 0
    for job in selected.items:
        try:
            async with runtime.work.pool.connection() as conn, conn.transaction():
                await operation(conn, job.id)
            done += 1
        except IllegalTransition:
            continue  # changed state since it was listed
    log.info("dashboard: %s bulk %s of %d jobs (%s)", who.principal.name, action, done, filters)
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return _back(f"/dashboard/jobs?{query}&done={done}")


@router.post("/recurring/{schedule_id}/{action}")
@html_errors
async def schedule_action(
    request: Request,
    schedule_id: str,
    action: str,
    csrf: Csrf = None,
    cron_text: Annotated[str, Form(alias="cron", max_length=200)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    needed = {"trigger": Role.OPERATOR, "pause": Role.ADMIN, "resume": Role.ADMIN,
              "reset": Role.ADMIN, "edit": Role.ADMIN}.get(action)  # fmt: skip
    if needed is None:
        return render.html_error(request, 404, f"no schedule action {action!r}")
    runtime, who = await _allowed(request, needed, csrf)
    actor = f"dashboard:{who.principal.name}"
    now = datetime.now(UTC)
    if action == "edit":
        _, problem = preview_runs(cron_text, timezone)
        if problem is None:
            try:
                await _change(runtime, schedule_id, Change(cron=cron_text.strip(),
                              tz=timezone.strip()), actor=actor)  # fmt: skip
            except DomainError as error:
                problem = error.message
        if problem is not None:
            context = await schedule_context(request, runtime, schedule_id)
            context |= {"error": problem, "cron_input": cron_text, "tz_input": timezone}
            return await render.page(
                request, runtime, who, "schedule.html", context, status_code=422
            )
        log.info("dashboard: %s re-timed recurring job %s", who.principal.name, schedule_id)
        return _back(f"/dashboard/recurring/{schedule_id}")
    async with runtime.work.pool.connection() as conn, conn.transaction():
        if action == "trigger":
            await slots.trigger(conn, runtime.work, schedule_id, actor=actor, now=now)
        elif action == "reset":
            await storage.reset(conn, schedule_id, actor=actor, now=now)
        else:
            change = Change(enabled=action == "resume")
            await storage.update(conn, schedule_id, change, actor=actor, now=now)
    log.info("dashboard: %s %s recurring job %s", who.principal.name, action, schedule_id)
    return _back("/dashboard/recurring")


async def _change(runtime: Runtime, schedule_id: str, change: Change, *, actor: str) -> None:
    try:
        async with runtime.work.pool.connection() as conn, conn.transaction():
            await storage.update(conn, schedule_id, change, actor=actor, now=datetime.now(UTC))
    except psycopg.errors.CheckViolation as error:
        raise IllegalTransition(f"the schedule was refused: {error.diag.message_primary}") from None
