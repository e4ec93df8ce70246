"""`GET /api/cache/status` and the backend the runtime builds from settings."""

from __future__ import annotations

import httpx

from catalog.api.app import create_app
from catalog.bootstrap import runtime as open_runtime
from tests.integration.test_cache_backends import closed_port_url
from tests.support.settings import MakeSettings


async def _status(make_settings: MakeSettings, database_url: str, **settings: object) -> object:
    async with open_runtime(make_settings(**settings), database_url) as rt:
        transport = httpx.ASGITransport(app=create_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/api/cache/status")
    assert response.status_code == 200
    return response.json()


async def test_default_is_the_in_process_cache(
    make_settings: MakeSettings, database_url: str
) -> None:
    status = await _status(make_settings, database_url)
    assert status == {
        "backend": "memory",
        "ok": True,
        "error": None,
        "failed_at": None,
        "key_prefix": "catalog:v1",
    }


async def test_redis_configured_and_reachable(
    make_settings: MakeSettings, database_url: str, redis_url: str, cache_prefix: str
) -> None:
    status = await _status(
        make_settings, database_url, redis_url=redis_url, cache_prefix=cache_prefix
    )
    assert isinstance(status, dict)
    assert status["backend"] == "redis" and status["ok"] is True


async def test_redis_down_is_reported_with_its_reason(
    make_settings: MakeSettings, database_url: str
) -> None:
    status = await _status(make_settings, database_url, redis_url=closed_port_url())
    assert isinstance(status, dict)
    assert status["backend"] == "redis" and status["ok"] is False
    assert "redis" in status["error"] and status["failed_at"].endswith("+00:00")
