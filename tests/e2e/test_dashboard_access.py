"""Dashboard access: sessions from keys, roles on the server, CSRF on every form, CSP."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from catalog.bootstrap import Runtime
from catalog.dashboard import actions
from catalog.store import access_keys
from tests.support.access import REMOTE, client_from, create_key
from tests.support.dashboard import csrf_of, log_in

SCHEDULE = "job-retention"


def test_every_state_changing_dashboard_route_is_covered_below() -> None:
    posted = {
        route.path
        for route in actions.router.routes
        if isinstance(route, APIRoute) and "POST" in route.methods
    }
    assert posted == {
        "/dashboard/login",
        "/dashboard/logout",
        "/dashboard/jobs/{job_id}/{action}",
        "/dashboard/bulk",
        "/dashboard/recurring/{schedule_id}/{action}",
    }


async def state_changing_requests(runtime: Runtime) -> list[tuple[str, dict[str, str]]]:
    job = await runtime.work.enqueue("job-retention", kwargs={})
    base = f"/dashboard/recurring/{SCHEDULE}"
    return [
        *((f"/dashboard/jobs/{job.job_id}/{a}", {}) for a in ("retry", "cancel", "delete")),
        ("/dashboard/bulk", {"action": "retry", "confirm": "yes"}),
        ("/dashboard/bulk", {"action": "delete", "confirm": "yes"}),
        *((f"{base}/{a}", {}) for a in ("trigger", "pause", "resume", "reset")),
        (f"{base}/edit", {"cron": "0 5 * * *", "timezone": "UTC"}),
    ]


async def jobs_and_schedule(runtime: Runtime) -> tuple[list[tuple[object, ...]], object]:
    async with runtime.work.pool.connection() as conn:
        jobs = await (await conn.execute("SELECT id, status FROM procrastinate_jobs")).fetchall()
        schedule = await (
            await conn.execute(
                "SELECT cron, enabled, updated_at FROM work_schedules WHERE id = %s", (SCHEDULE,)
            )
        ).fetchone()
        deleted = await (await conn.execute("SELECT * FROM work_job_deletions")).fetchall()
    return [*jobs, *deleted], schedule


async def test_every_action_is_refused_without_credentials_to_a_viewer_and_without_csrf(
    runtime: Runtime,
) -> None:
    admin = await create_key(runtime, "admin")
    viewer = await create_key(runtime, "viewer")
    async with client_from(runtime, REMOTE) as http:
        await http.get(f"/dashboard/recurring/{SCHEDULE}")  # schedules stored (redirects)
    async with client_from(runtime) as setup:
        await log_in(setup, admin)
        await setup.get("/dashboard/recurring")
    requests = await state_changing_requests(runtime)
    before = await jobs_and_schedule(runtime)
    async with (
        client_from(runtime, REMOTE) as anonymous,
        client_from(runtime, REMOTE) as as_viewer,
        client_from(runtime, REMOTE) as no_csrf,
    ):
        await log_in(as_viewer, viewer)
        viewer_token = await csrf_of(as_viewer, "/dashboard/jobs")
        await log_in(no_csrf, admin)
        anonymous_token = await csrf_of(anonymous)
        for path, form in requests:
            refused = await anonymous.post(path, data={**form, "csrf": anonymous_token})
            assert refused.status_code in (401, 403), (path, refused.status_code)
            refused = await as_viewer.post(path, data={**form, "csrf": viewer_token})
            assert refused.status_code == 403, (path, refused.status_code)
            refused = await no_csrf.post(path, data=form)
            assert refused.status_code == 403, (path, refused.status_code)
            assert "form token" in refused.text
        assert (await no_csrf.post("/dashboard/logout")).status_code == 403
    assert await jobs_and_schedule(runtime) == before


async def test_login_needs_its_form_token(runtime: Runtime) -> None:
    admin = await create_key(runtime, "admin")
    async with client_from(runtime, REMOTE) as http:
        refused = await http.post("/dashboard/login", data={"key": admin})
        assert refused.status_code == 403
        assert "catalog_session" not in refused.headers.get("set-cookie", "")


async def test_an_admin_session_acts_with_its_token_and_is_logged(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="catalog.dashboard")
    admin = await create_key(runtime, "admin")
    async with client_from(runtime, REMOTE) as http:
        logged_in = await log_in(http, admin)
        assert logged_in.status_code == 303
        token = await csrf_of(http, "/dashboard/recurring")
        paused = await http.post(f"/dashboard/recurring/{SCHEDULE}/pause", data={"csrf": token})
        assert paused.status_code == 303
        page = await http.get("/dashboard/recurring")
        assert "Resume" in page.text
    assert f"dashboard: test-admin pause recurring job {SCHEDULE}" in caplog.messages


async def test_the_session_cookie_is_httponly_strict_and_secure_behind_tls(
    runtime: Runtime,
) -> None:
    admin = await create_key(runtime, "admin")
    async with client_from(runtime, REMOTE, base_url="https://test") as http:
        cookie = (await log_in(http, admin)).headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    assert "Max-Age=" in cookie and "Path=/dashboard" in cookie
    async with client_from(runtime, REMOTE) as http:
        await csrf_of(http)
        proxied = await http.post(
            "/dashboard/login",
            data={"key": admin, "csrf": await csrf_of(http)},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert "Secure" in proxied.headers["set-cookie"]


async def test_a_viewer_sees_no_action_buttons(runtime: Runtime) -> None:
    viewer = await create_key(runtime, "viewer")
    job = await runtime.work.enqueue("job-retention", kwargs={})
    async with client_from(runtime, REMOTE) as http:
        await log_in(http, viewer)
        for path in ("/dashboard/recurring", f"/dashboard/jobs/{job.job_id}", "/dashboard/jobs",
                     f"/dashboard/recurring/{SCHEDULE}"):  # fmt: skip
            page = await http.get(path)
            assert page.status_code == 200, path
            forms = re.findall(r'<form method="post" action="([^"]+)"', page.text)
            assert forms == ["/dashboard/logout"], (path, forms)


async def test_revoking_a_key_ends_its_sessions_at_once(runtime: Runtime) -> None:
    secret = await create_key(runtime, "operator", name="ops")
    await create_key(runtime, "admin", name="keeper")
    async with client_from(runtime, REMOTE) as http:
        await log_in(http, secret)
        assert (await http.get("/dashboard/jobs")).status_code == 200
        async with runtime.work.pool.connection() as conn:
            await access_keys.revoke(conn, "ops")
        gone = await http.get("/dashboard/jobs")
        assert gone.status_code == 303 and gone.headers["location"] == "/dashboard/login"


async def test_logging_out_ends_the_session(runtime: Runtime) -> None:
    secret = await create_key(runtime, "viewer")
    async with client_from(runtime, REMOTE) as http:
        await log_in(http, secret)
        token = await csrf_of(http, "/dashboard/jobs")
        out = await http.post("/dashboard/logout", data={"csrf": token})
        assert out.status_code == 303
        assert (await http.get("/dashboard/jobs")).status_code == 303


async def test_login_attempts_are_rate_limited(runtime: Runtime) -> None:
    await create_key(runtime, "viewer")
    async with client_from(runtime, REMOTE) as http:
        answers = [(await log_in(http, "cat_wrong")).status_code for _ in range(12)]
    assert answers[:10] == [401] * 10
    assert answers[10:] == [429, 429]


async def test_without_keys_a_remote_browser_is_told_how_to_configure_access(
    runtime: Runtime,
) -> None:
    async with client_from(runtime, REMOTE) as http:
        page = await http.get("/dashboard")
    assert page.status_code == 403
    assert "catalog keys create" in page.text


@pytest.mark.parametrize(
    "path", ["/dashboard", "/dashboard/jobs", "/dashboard/recurring", "/dashboard/services",
             "/dashboard/workers", "/dashboard/login", f"/dashboard/recurring/{SCHEDULE}",
             "/dashboard/alerts", "/dashboard/reports"],
)  # fmt: skip
async def test_pages_carry_a_strict_csp_and_no_inline_script_or_style(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp
    assert " style=" not in page.text and "<style" not in page.text
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts)
    assert re.search(r"\son[a-z]+=", page.text) is None


async def test_hangfire_redirects_to_the_dashboard(client: httpx.AsyncClient) -> None:
    answer = await client.get("/hangfire/jobs/enqueued")
    assert answer.status_code == 301 and answer.headers["location"] == "/dashboard"


async def test_dashboard_routes_stay_out_of_the_api_schema(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/dashboard", "/hangfire"))]
