"""API keys for tests, and HTTP clients on the app from a given address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from catalog.api.app import create_app
from catalog.bootstrap import Runtime
from catalog.store import access_keys

REMOTE = ("203.0.113.7", 51000)
LOCAL = ("127.0.0.1", 51000)


async def create_key(rt: Runtime, role: str, name: str | None = None) -> str:
    """A new key's secret."""
    async with rt.work.pool.connection() as conn:
        created = await access_keys.create(conn, name=name or f"test-{role}", role=role)
    return created.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@asynccontextmanager
async def client_from(
    rt: Runtime, address: tuple[str, int] = LOCAL, *, base_url: str = "http://test"
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(rt), client=address)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        yield http
