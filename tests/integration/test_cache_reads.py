"""Cache-aside reads of a product, the category tree and counts: cached, evicted by any writer,
and answered from PostgreSQL when Redis is down."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from catalog.api.app import create_app
from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from tests.integration.test_cache_backends import closed_port_url
from tests.support import inproc
from tests.support.polling import eventually
from tests.support.settings import MakeSettings


async def make_category(http: httpx.AsyncClient, name: str, parent_id: int | None = None) -> int:
    response = await http.post("/api/categories", json={"name": name, "parent_id": parent_id})
    assert response.status_code == 201, response.text
    category_id: int = response.json()["id"]
    return category_id


async def make_product(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await http.post("/api/products", json=fields)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


async def execute(rt: Runtime, sql: str, **params: Any) -> None:
    """A write that bypasses the API (as a job or another process would make it)."""
    async with rt.engine.begin() as conn:
        await conn.execute(sa.text(sql), params)


def root_names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [node["name"] for node in response.json()["items"]]


@pytest.fixture
async def redis_runtime(
    make_settings: MakeSettings, database_url: str, redis_url: str, cache_prefix: str
) -> AsyncIterator[Runtime]:
    settings = make_settings(redis_url=redis_url, cache_prefix=cache_prefix)
    async with open_runtime(settings, database_url) as rt:
        yield rt
        await rt.cache.clear()


def client_of(rt: Runtime) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(rt))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_tree_is_served_from_the_cache_and_a_write_evicts_it(
    client: httpx.AsyncClient,
) -> None:
    await make_category(client, "Shoes")
    first = await client.get("/api/categories/tree")
    again = await client.get("/api/categories/tree")
    assert first.headers["x-cache"] == "miss" and again.headers["x-cache"] == "hit"
    assert again.content == first.content and root_names(again) == ["Shoes"]
    await make_category(client, "Bags")
    after = await client.get("/api/categories/tree")
    assert after.headers["x-cache"] == "miss" and root_names(after) == ["Bags", "Shoes"]


async def test_a_product_is_served_from_the_cache_and_its_writes_evict_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shoes = await make_category(client, "Shoes")
    product = await make_product(client, sku="S1", name="Boot", category_id=shoes, price="1")
    path = f"/api/products/{product['id']}"

    async def read(expected: str) -> httpx.Response:
        response = await client.get(path)
        assert response.status_code == 200 and response.headers["x-cache"] == expected
        return response

    first = await read("miss")
    assert (await read("hit")).content == first.content and first.json() == product | {
        "stock_forecast": {"daily_demand": 0.0, "days_of_cover": None, "stockout_on": None}
    }
    assert await runtime.cache.read(runtime.cache.keys.product(product["id"])) == first.content
    assert (await client.patch(path, json={"name": "Walking boot"})).status_code == 200
    assert (await read("miss")).json()["name"] == "Walking boot"
    await read("hit")
    moved = await client.post(f"{path}/stock", json={"delta": 4, "reason": "delivery"})
    assert moved.status_code == 200
    assert (await read("miss")).json()["stock"] == 4
    await read("hit")
    assert (await client.delete(path)).status_code == 204
    for _ in range(2):  # a 404 is never cached
        gone = await client.get(path)
        assert gone.status_code == 404 and "x-cache" not in gone.headers


async def test_cached_bytes_are_what_the_uncached_route_would_send(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shoes = await make_category(client, "Schuhe & Stiefel")
    await make_category(client, "Wanderstiefel", parent_id=shoes)
    cached = await client.get("/api/categories/tree")
    listed = (await client.get("/api/categories")).json()["items"]
    tree = cached.json()["items"]
    assert cached.headers["content-type"] == "application/json"
    assert tree[0]["name"] == "Schuhe & Stiefel" and tree[0]["children"][0]["id"] == listed[1]["id"]
    assert b"Schuhe & Stiefel" in cached.content  # UTF-8, not \\u escapes


async def test_counts_per_category_with_subcategories(client: httpx.AsyncClient) -> None:
    shoes = await make_category(client, "Shoes")
    boots = await make_category(client, "Boots", parent_id=shoes)
    empty = await make_category(client, "Empty")
    for sku, category, stock in [("S1", shoes, 0), ("S2", shoes, 3), ("B1", boots, 5)]:
        await make_product(client, sku=sku, name=sku, category_id=category, price="1", stock=stock)
    gone = await make_product(client, sku="B2", name="B2", category_id=boots, price="1", stock=1)
    assert (await client.delete(f"/api/products/{gone['id']}")).status_code == 204
    response = await client.get("/api/categories/counts")
    assert response.status_code == 200
    counts = {c["category_id"]: c for c in response.json()["items"]}
    assert counts[shoes] == {
        "category_id": shoes,
        "products": 2,
        "in_stock": 1,
        "subtree_products": 3,
        "subtree_in_stock": 2,
    }
    assert counts[boots]["subtree_products"] == 1 and counts[boots]["in_stock"] == 1
    assert counts[empty]["subtree_products"] == 0


async def test_follower_evicts_what_other_writers_change_in_process_cache(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    shoes = await make_category(client, "Shoes")
    async with inproc.cache_follower(runtime):
        assert root_names(await client.get("/api/categories/tree")) == ["Shoes"]
        assert (await client.get("/api/categories/tree")).headers["x-cache"] == "hit"
        await execute(runtime, "UPDATE categories SET name = 'Footwear' WHERE id = :id", id=shoes)

        async def renamed() -> bool:
            return root_names(await client.get("/api/categories/tree")) == ["Footwear"]

        await eventually(renamed, timeout_s=10, what="the follower's eviction")


async def test_invalidation_service_evicts_from_redis_and_reports_its_lag(
    redis_runtime: Runtime,
) -> None:
    rt = redis_runtime
    async with client_of(rt) as http, inproc.services(rt, "cache-invalidation"):

        async def registered() -> bool:
            services = (await http.get("/api/backgroundjobs/background-services")).json()
            (found,) = [s for s in services if s["name"] == "cache-invalidation"]
            return found["last_success"] is not None

        # A new consumer starts at the end of the log: let it register before changing things.
        await eventually(registered, timeout_s=20, what="the service's first step")
        shoes = await make_category(http, "Shoes")
        product = await make_product(http, sku="S1", name="S1", category_id=shoes, price="1")
        product_key = rt.cache.keys.product(product["id"])
        await rt.cache.backend.set(product_key, b"{}", ttl_s=60)
        assert root_names(await http.get("/api/categories/tree")) == ["Shoes"]
        assert (await http.get("/api/categories/tree")).headers["x-cache"] == "hit"
        await execute(rt, "UPDATE categories SET name = 'Footwear' WHERE id = :id", id=shoes)
        await execute(rt, "UPDATE products SET name = 'New' WHERE id = :id", id=product["id"])

        async def evicted() -> bool:
            tree = root_names(await http.get("/api/categories/tree"))
            return tree == ["Footwear"] and await rt.cache.backend.get(product_key) is None

        await eventually(evicted, timeout_s=10, what="the service's eviction")

        async def caught_up() -> bool:
            services = (await http.get("/api/backgroundjobs/background-services")).json()
            (found,) = [s for s in services if s["name"] == "cache-invalidation"]
            return found["lag_rows"] == 0 and found["last_success"] is not None

        await eventually(caught_up, timeout_s=10, what="lag 0 in the service status")


async def test_redis_down_reads_answer_from_postgres_and_writes_succeed(
    make_settings: MakeSettings, database_url: str
) -> None:
    settings = make_settings(redis_url=closed_port_url(), cache_timeout_s=0.2)
    async with open_runtime(settings, database_url) as rt, client_of(rt) as http:
        shoes = await make_category(http, "Shoes")
        product = await make_product(http, sku="S1", name="S1", category_id=shoes, price="1")
        patched = await http.patch(f"/api/products/{product['id']}", json={"name": "S1b"})
        assert patched.status_code == 200
        tree = await http.get("/api/categories/tree")
        assert root_names(tree) == ["Shoes"] and tree.headers["x-cache"] == "miss"
        counts = await http.get("/api/categories/counts")
        assert counts.status_code == 200 and counts.json()["items"][0]["products"] == 1
        status = (await http.get("/api/cache/status")).json()
        assert status["ok"] is False and "redis" in status["error"]


async def test_invalidation_service_status_says_redis_is_down(
    make_settings: MakeSettings, database_url: str
) -> None:
    settings = make_settings(redis_url=closed_port_url(), cache_timeout_s=0.2)
    async with (
        open_runtime(settings, database_url) as rt,
        client_of(rt) as http,
        inproc.services(rt, "cache-invalidation"),
    ):
        await make_category(http, "Shoes")

        async def failing() -> dict[str, Any] | None:
            services = (await http.get("/api/backgroundjobs/background-services")).json()
            (found,) = [s for s in services if s["name"] == "cache-invalidation"]
            return found if found["last_error"] else None

        found = await eventually(failing, timeout_s=15, what="the service's failed step")
        assert "CacheUnavailable" in str(found["last_error"])
        assert "redis" in str(found["last_error"])


def test_invalidation_service_exists_only_with_redis(make_settings: MakeSettings) -> None:
    from catalog.bootstrap import work_registries
    from catalog.work.engine import WorkEngine

    for redis_url, expected in [(None, False), ("redis://127.0.0.1:1/0", True)]:
        settings = make_settings(redis_url=redis_url)
        engine = WorkEngine("postgresql://unused", work_registries(settings), settings=settings)
        assert ("cache-invalidation" in engine.services) is expected


async def test_reads_and_writes_go_on_when_our_own_redis_is_killed(
    make_settings: MakeSettings, database_url: str, tmp_path: Path
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    url = closed_port_url()  # a free port, for a Redis of this test's own
    port = url.rsplit(":", 1)[1].split("/")[0]
    server = subprocess.Popen(
        ["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--dir", tmp_path],
        stdout=subprocess.DEVNULL,
    )
    try:
        settings = make_settings(redis_url=url, cache_timeout_s=0.2, cache_retry_after_s=0)
        async with open_runtime(settings, database_url) as rt, client_of(rt) as http:

            async def up() -> bool:
                return (await rt.cache.check()).ok

            await eventually(up, timeout_s=10, what="our Redis up")
            shoes = await make_category(http, "Shoes")
            assert (await http.get("/api/categories/tree")).headers["x-cache"] == "miss"
            assert (await http.get("/api/categories/tree")).headers["x-cache"] == "hit"
            server.kill()
            server.wait()
            await make_category(http, "Bags", parent_id=None)  # the write succeeds
            renamed = await http.patch(f"/api/categories/{shoes}", json={"name": "Footwear"})
            assert renamed.status_code == 200
            tree = await http.get("/api/categories/tree")
            assert tree.headers["x-cache"] == "miss" and root_names(tree) == ["Bags", "Footwear"]
            assert (await http.get("/api/cache/status")).json()["ok"] is False
    finally:
        server.kill()
        server.wait()
