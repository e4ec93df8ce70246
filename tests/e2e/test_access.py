"""Deny by default; then API keys with roles, looked up on every request."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from catalog.api.access import Role, is_loopback, management_role
from catalog.api.app import create_app
from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.store import access_keys
from tests.support.access import REMOTE, bearer, client_from, create_key

MANAGEMENT = [
    "/api/backgroundjobs/jobs",
    "/api/backgroundjobs/stats",
    "/api/backgroundjobs/workers",
    "/api/backgroundjobs/recurring-jobs",
    "/api/backgroundjobs/background-services",
]


@pytest.fixture
async def remote_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_from(runtime, REMOTE) as http:
        yield http


def state_changing_routes(runtime: Runtime, prefix: str) -> list[tuple[str, str]]:
    """Every (method, path) that changes state under `prefix`, path parameters filled in."""
    found = []
    for path, operations in create_app(runtime).openapi()["paths"].items():
        if path.startswith(prefix):
            for method in operations.keys() - {"get", "head", "options"}:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    assert found, f"no state-changing route under {prefix}"
    return sorted(found)


@pytest.mark.parametrize("path", MANAGEMENT)
async def test_without_keys_a_remote_client_is_refused_and_told_how_to_configure(
    remote_client: httpx.AsyncClient, path: str
) -> None:
    response = await remote_client.get(path)
    assert response.status_code == 403
    assert "loopback" in response.json()["detail"]
    assert "catalog keys create" in response.json()["detail"]


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded"])
async def test_a_proxied_request_from_this_machine_is_not_local(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get("/api/backgroundjobs/jobs", headers={header: "for=198.51.100.2"})
    assert response.status_code == 403


async def test_without_keys_a_remote_client_cannot_enqueue_or_trigger(
    remote_client: httpx.AsyncClient,
) -> None:
    enqueue = await remote_client.post("/api/backgroundjobs/jobs", json={"task": "job-retention"})
    trigger = await remote_client.post("/api/backgroundjobs/recurring-jobs/job-retention/trigger")
    assert (enqueue.status_code, trigger.status_code) == (403, 403)


async def test_without_keys_a_remote_client_reads_and_writes_the_catalogue(
    remote_client: httpx.AsyncClient,
) -> None:
    assert (await remote_client.get("/api/products")).status_code == 200
    assert (await remote_client.get("/healthz")).status_code == 200
    created = await remote_client.post("/api/categories", json={"name": "Tools"})
    assert created.status_code == 201


async def test_without_keys_a_local_client_uses_the_management_api(
    client: httpx.AsyncClient,
) -> None:
    for path in MANAGEMENT:
        assert (await client.get(path)).status_code == 200, path


async def test_once_a_key_exists_a_local_client_needs_one_too(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    secret = await create_key(runtime, "viewer")
    refused = await client.get("/api/backgroundjobs/jobs")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    allowed = await client.get("/api/backgroundjobs/jobs", headers=bearer(secret))
    assert allowed.status_code == 200


async def test_a_viewer_key_reads_from_anywhere(
    runtime: Runtime, remote_client: httpx.AsyncClient
) -> None:
    secret = await create_key(runtime, "viewer")
    for path in MANAGEMENT:
        assert (await remote_client.get(path, headers=bearer(secret))).status_code == 200, path


async def test_every_state_changing_management_route_is_refused_without_a_key_and_to_a_viewer(
    runtime: Runtime, remote_client: httpx.AsyncClient
) -> None:
    viewer = await create_key(runtime, "viewer")
    for method, path in state_changing_routes(runtime, "/api/backgroundjobs"):
        anonymous = await remote_client.request(method, path)
        as_viewer = await remote_client.request(method, path, headers=bearer(viewer))
        assert anonymous.status_code == 401, (method, path)
        assert as_viewer.status_code == 403, (method, path)
        assert "needs the" in as_viewer.json()["detail"]


async def test_every_other_api_write_needs_an_operator_once_keys_exist(
    runtime: Runtime, remote_client: httpx.AsyncClient
) -> None:
    viewer = await create_key(runtime, "viewer")
    writes = [
        (method, path)
        for method, path in state_changing_routes(runtime, "/api/")
        if not path.startswith(("/api/backgroundjobs", "/api/cache"))
    ]
    assert ("POST", "/api/categories") in writes and ("POST", "/api/products") in writes
    for method, path in writes:
        anonymous = await remote_client.request(method, path)
        as_viewer = await remote_client.request(method, path, headers=bearer(viewer))
        assert (anonymous.status_code, as_viewer.status_code) == (401, 403), (method, path)
    operator = await create_key(runtime, "operator")
    created = await remote_client.post(
        "/api/categories", json={"name": "Tools"}, headers=bearer(operator)
    )
    assert created.status_code == 201
    assert (await remote_client.get("/api/categories")).status_code == 200  # reads stay public


async def test_an_operator_triggers_but_an_admin_retimes(
    runtime: Runtime, remote_client: httpx.AsyncClient
) -> None:
    operator = await create_key(runtime, "operator")
    admin = await create_key(runtime, "admin")
    base = "/api/backgroundjobs/recurring-jobs/job-retention"
    trigger = await remote_client.post(f"{base}/trigger", headers=bearer(operator))
    assert trigger.status_code == 200
    warmup = await remote_client.post(
        "/api/backgroundjobs/trigger-cache-warmup", headers=bearer(operator)
    )
    assert warmup.status_code == 202 and warmup.json()["task"] == "cache-warmup"
    assert (await remote_client.post(f"{base}/pause", headers=bearer(operator))).status_code == 403
    paused = await remote_client.post(f"{base}/pause", headers=bearer(admin))
    assert paused.status_code == 200
    assert paused.json()["enabled"] is False


async def test_a_revoked_key_stops_working_at_once_on_every_process(runtime: Runtime) -> None:
    secret = await create_key(runtime, "operator", name="ci")
    await create_key(runtime, "admin", name="keeper")  # keys still exist after the revocation
    async with client_from(runtime, REMOTE) as one, client_from(runtime, REMOTE) as two:
        for http in (one, two):
            ok = await http.get("/api/backgroundjobs/jobs", headers=bearer(secret))
            assert ok.status_code == 200
        async with runtime.work.pool.connection() as conn:
            await access_keys.revoke(conn, "ci")
        for http in (one, two):
            gone = await http.get("/api/backgroundjobs/jobs", headers=bearer(secret))
            assert gone.status_code == 401
            assert "revoked" in gone.json()["detail"]


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "token"])
async def test_a_malformed_authorization_header_is_a_clear_401(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get("/api/backgroundjobs/jobs", headers={"Authorization": header})
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


async def test_catalogue_reads_can_be_made_to_need_a_viewer_key(
    make_settings: type[Settings], database_url: str
) -> None:
    from catalog.bootstrap import runtime as open_runtime

    settings = make_settings(catalogue_reads_need_key=True)
    async with open_runtime(settings, database_url) as rt, client_from(rt, REMOTE) as http:
        assert (await http.get("/api/products")).status_code == 200  # no key exists yet
        secret = await create_key(rt, "viewer")
        assert (await http.get("/api/products")).status_code == 401
        assert (await http.get("/api/products", headers=bearer(secret))).status_code == 200


async def test_keys_are_stored_hashed_and_names_are_unique_among_active_keys(
    runtime: Runtime,
) -> None:
    secret = await create_key(runtime, "viewer", name="ci")
    async with runtime.work.pool.connection() as conn:
        stored = await (await conn.execute("SELECT key_hash, prefix FROM access_keys")).fetchone()
        assert stored is not None
        assert secret.encode() not in stored[0] and stored[0] == access_keys.hash_secret(secret)
        assert secret.startswith(stored[1])
        with pytest.raises(access_keys.Conflict):
            await access_keys.create(conn, name="ci", role="admin")
        await access_keys.revoke(conn, "ci")
        again = await access_keys.create(conn, name="ci", role="admin")
        assert again.secret != secret


@pytest.mark.parametrize(
    ("method", "route", "role"),
    [("GET", "/api/backgroundjobs/jobs", Role.VIEWER),
     ("POST", "/api/backgroundjobs/jobs/{job_id}/retry", Role.OPERATOR),
     ("DELETE", "/api/backgroundjobs/jobs/{job_id}", Role.OPERATOR),
     ("POST", "/api/backgroundjobs/recurring-jobs/{schedule_id}/trigger", Role.OPERATOR),
     ("POST", "/api/backgroundjobs/trigger-cache-warmup", Role.OPERATOR),
     ("POST", "/api/backgroundjobs/recurring-jobs/{schedule_id}/pause", Role.ADMIN),
     ("PUT", "/api/backgroundjobs/recurring-jobs/{schedule_id}", Role.ADMIN),
     ("GET", "/api/access/keys", Role.ADMIN)],
)  # fmt: skip
def test_management_routes_need_the_role_of_what_they_do(
    method: str, route: str, role: Role
) -> None:
    assert management_role(method, route) is role


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("10.0.0.1", False),
     ("::ffff:10.0.0.1", False), ("testclient", False), (None, False)],
)  # fmt: skip
def test_loopback_is_told_from_everything_else(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local


async def test_only_an_admin_manages_keys_over_the_api(
    runtime: Runtime, remote_client: httpx.AsyncClient
) -> None:
    admin = await create_key(runtime, "admin", name="root")
    operator = await create_key(runtime, "operator", name="ops")
    for secret in (operator, None):
        headers = bearer(secret) if secret else {}
        assert (await remote_client.get("/api/access/keys", headers=headers)).status_code in (
            401,
            403,
        )
    created = await remote_client.post(
        "/api/access/keys", json={"name": "ci", "role": "viewer"}, headers=bearer(admin)
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    listed = await remote_client.get("/api/access/keys", headers=bearer(admin))
    assert {k["name"] for k in listed.json()} == {"root", "ops", "ci"}
    assert secret not in listed.text
    assert (await remote_client.get("/metrics", headers=bearer(secret))).status_code == 200
    clash = await remote_client.post(
        "/api/access/keys", json={"name": "ci", "role": "admin"}, headers=bearer(admin)
    )
    assert clash.status_code == 409
    bad_role = await remote_client.post(
        "/api/access/keys", json={"name": "x", "role": "root"}, headers=bearer(admin)
    )
    assert bad_role.status_code == 422
    revoked = await remote_client.delete("/api/access/keys/ci", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await remote_client.get("/metrics", headers=bearer(secret))).status_code == 401
    missing = await remote_client.delete("/api/access/keys/ci", headers=bearer(admin))
    assert missing.status_code == 404
