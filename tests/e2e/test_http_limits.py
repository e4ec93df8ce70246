"""Request size limits hold whether or not the client declares a length."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from catalog.bootstrap import Runtime


async def test_an_oversized_declared_body_gets_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/products", content=b"x" * 2_000_000, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


async def test_an_oversized_chunked_body_gets_413(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"[" + b"1," * 50_000 + b"1]"

    response = await client.post(
        "/api/products", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    async with runtime.engine.connect() as conn:
        count = (await conn.exec_driver_sql("SELECT count(*) FROM products")).scalar()
    assert count == 0
