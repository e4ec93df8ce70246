"""Deny by default: the management API answers this machine only; the catalogue answers all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from catalog.api.access import is_loopback
from catalog.api.app import create_app
from catalog.bootstrap import Runtime

MANAGEMENT = [
    "/api/backgroundjobs/jobs",
    "/api/backgroundjobs/stats",
    "/api/backgroundjobs/workers",
    "/api/backgroundjobs/recurring-jobs",
    "/api/backgroundjobs/background-services",
]


@pytest.fixture
async def remote_client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime), client=("203.0.113.7", 51000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", MANAGEMENT)
async def test_a_remote_client_is_refused_the_management_api(
    remote_client: httpx.AsyncClient, path: str
) -> None:
    response = await remote_client.get(path)
    assert response.status_code == 403
    assert "loopback" in response.json()["detail"]


async def test_a_remote_client_cannot_enqueue_or_trigger(remote_client: httpx.AsyncClient) -> None:
    enqueue = await remote_client.post("/api/backgroundjobs/jobs", json={"task": "job-retention"})
    trigger = await remote_client.post("/api/backgroundjobs/recurring-jobs/job-retention/trigger")
    assert (enqueue.status_code, trigger.status_code) == (403, 403)


async def test_a_remote_client_still_reads_the_catalogue(remote_client: httpx.AsyncClient) -> None:
    assert (await remote_client.get("/api/products")).status_code == 200
    assert (await remote_client.get("/healthz")).status_code == 200


async def test_a_local_client_uses_the_management_api(client: httpx.AsyncClient) -> None:
    for path in MANAGEMENT:
        assert (await client.get(path)).status_code == 200, path


@pytest.mark.parametrize(
    ("host", "local"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("10.0.0.1", False),
     ("::ffff:10.0.0.1", False), ("testclient", False), (None, False)],
)  # fmt: skip
def test_loopback_is_told_from_everything_else(host: str | None, local: bool) -> None:
    assert is_loopback(host) is local
