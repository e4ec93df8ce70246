"""Issue 7's done-when test: a product updated through the API is found in search by its new
name, its cached copy is evicted by the `cache-invalidation` service, and `product.updated`
reaches a RabbitMQ queue bound to the events exchange, all with real components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from aio_pika.abc import AbstractQueue

from catalog.bootstrap import runtime as open_runtime
from tests.integration.test_cache_backends import closed_port_url
from tests.integration.test_event_relay import bound_queue, client_of, drain, exchange
from tests.support import inproc
from tests.support.polling import eventually
from tests.support.settings import MakeSettings

__all__ = ["bound_queue", "exchange"]  # fixtures shared with the relay's tests

SERVICES = ("search-sync", "cache-invalidation", "event-relay")


async def search_ids(http: httpx.AsyncClient, text: str) -> list[int]:
    answer = await http.get("/api/search", params={"q": text})
    assert answer.status_code == 200, answer.text
    return [hit["id"] for hit in answer.json()["hits"]]


async def test_an_update_is_searchable_evicted_and_published(
    make_settings: MakeSettings,
    database_url: str,
    tmp_path: Path,
    redis_url: str,
    cache_prefix: str,
    rabbitmq_url: str,
    exchange: str,
    bound_queue: AbstractQueue,
) -> None:
    shared = {"cache_prefix": cache_prefix, "events_exchange": exchange, "data_dir": tmp_path}
    # The reader: an API process on the shared Redis, running the three consumers.
    reader_settings = make_settings(redis_url=redis_url, rabbitmq_url=rabbitmq_url, **shared)
    # The writer: another API process whose Redis is out of reach, so that its own best-effort
    # eviction after the commit evicts nothing: only the change log can.
    writer_settings = make_settings(redis_url=closed_port_url(), cache_timeout_s=0.2, **shared)
    async with (
        open_runtime(reader_settings, database_url) as reader,
        open_runtime(writer_settings, database_url) as writer,
        client_of(reader) as api,
        client_of(writer) as writer_api,
        inproc.services(reader, *SERVICES),
    ):

        async def all_running() -> bool:
            listed = (await api.get("/api/backgroundjobs/background-services")).json()
            ours = [s for s in listed if s["name"] in SERVICES]
            return len(ours) == len(SERVICES) and all(s["last_success"] for s in ours)

        await eventually(all_running, timeout_s=30, what="the three services running")
        category = (await api.post("/api/categories", json={"name": "Shoes"})).json()["id"]
        created = await api.post(
            "/api/products",
            json={"sku": "S1", "name": "Walking boot", "category_id": category, "price": "50"},
        )
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        path = f"/api/products/{product_id}"
        await eventually(
            lambda: search_ids(api, "walking"), timeout_s=20, what="the product indexed"
        )

        first, again = await api.get(path), await api.get(path)
        assert (first.headers["x-cache"], again.headers["x-cache"]) == ("miss", "hit")
        assert again.json()["name"] == "Walking boot"

        patched = await writer_api.patch(path, json={"name": "Trail runner"})
        assert patched.status_code == 200, patched.text
        assert writer.cache.health().ok is False  # its own eviction did not reach Redis

        async def fresh_read() -> httpx.Response | None:
            answer = await api.get(path)
            assert answer.status_code == 200, answer.text
            return answer if answer.headers["x-cache"] == "miss" else None

        evicted: httpx.Response = await eventually(
            fresh_read, timeout_s=20, what="the cached copy evicted"
        )
        assert evicted.json()["name"] == "Trail runner" and evicted.json()["version"] == 2
        assert (await api.get(path)).headers["x-cache"] == "hit"  # refilled with the new data

        assert await eventually(
            lambda: search_ids(api, "runner"), timeout_s=20, what="the new name searchable"
        ) == [product_id]
        assert await search_ids(api, "walking") == []

        events = await drain(bound_queue, count=3)
        await reader.cache.clear()
    updated: list[dict[str, Any]] = [e for e in events if e["type"] == "product.updated"]
    assert [e["type"] for e in events] == ["category.created", "product.created", "product.updated"]
    assert updated[0]["entity_id"] == product_id and "name" in updated[0]["fields"]
