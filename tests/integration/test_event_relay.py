"""The event relay against a real RabbitMQ: confirmed, in order, nothing lost while the broker
is away, duplicates recognisable by id; and the done-when test of issue 7 (cache + events)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest
import sqlalchemy as sa
from aio_pika.abc import AbstractQueue

from catalog.api.app import create_app
from catalog.bootstrap import Runtime, work_registries
from catalog.bootstrap import runtime as open_runtime
from catalog.events import relay
from catalog.store import changelog
from catalog.work.engine import WorkEngine
from tests.integration.test_cache_backends import closed_port_url
from tests.support import inproc
from tests.support.polling import eventually
from tests.support.settings import MakeSettings


@pytest.fixture
def exchange() -> str:
    return f"test-events-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def bound_queue(rabbitmq_url: str, exchange: str) -> AsyncIterator[AbstractQueue]:
    """A queue of the test's own bound to every event of the test's exchange."""
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(declared, routing_key="#")
        yield queue
        await declared.delete()


async def drain(queue: AbstractQueue, *, count: int) -> list[dict[str, Any]]:
    """The next `count` messages of `queue`, as (message id, type, body), awaited."""
    received: list[dict[str, Any]] = []

    async def more() -> bool:
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            body = json.loads(message.body)
            assert body["id"] == message.message_id and body["type"] == message.routing_key
            received.append(body)
        return len(received) >= count

    await eventually(more, timeout_s=20, what=f"{count} events")
    return received


def client_of(rt: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://t")


async def execute(rt: Runtime, sql: str, **params: Any) -> None:
    async with rt.engine.begin() as conn:
        await conn.execute(sa.text(sql), params)


async def relay_status(http: httpx.AsyncClient) -> dict[str, Any]:
    services = (await http.get("/api/backgroundjobs/background-services")).json()
    (found,) = [s for s in services if s["name"] == "event-relay"]
    return dict(found)


def test_relay_is_off_without_a_broker(make_settings: MakeSettings) -> None:
    for url, expected in [(None, False), ("amqp://guest:guest@127.0.0.1:1/", True)]:
        settings = make_settings(rabbitmq_url=url)
        engine = WorkEngine("postgresql://unused", work_registries(settings), settings=settings)
        assert ("event-relay" in engine.services) is expected


async def test_nothing_is_lost_while_the_broker_is_unreachable(
    make_settings: MakeSettings,
    database_url: str,
    rabbitmq_url: str,
    exchange: str,
    bound_queue: AbstractQueue,
) -> None:
    down = closed_port_url().replace("redis://", "amqp://guest:guest@").removesuffix("0")
    settings = make_settings(rabbitmq_url=down, events_exchange=exchange)
    async with (
        open_runtime(settings, database_url) as rt,
        client_of(rt) as http,
        inproc.services(rt, "event-relay"),
    ):

        async def registered_and_failing() -> bool:
            found = await relay_status(http)
            return bool(found["last_error"]) and "EventsUnavailable" in found["last_error"]

        await eventually(registered_and_failing, timeout_s=20, what="the relay failing")
        category = (await http.post("/api/categories", json={"name": "Shoes"})).json()["id"]
        for n in range(3):
            body = {"sku": f"S{n}", "name": f"S{n}", "category_id": category, "price": "1"}
            assert (await http.post("/api/products", json=body)).status_code == 201
        await execute(rt, "UPDATE products SET stock = 7 WHERE sku = 'S1'")

        async def lag_seen() -> bool:
            return ((await relay_status(http))["lag_rows"] or 0) >= 5

        await eventually(lag_seen, timeout_s=20, what="lag while the broker is down")

    # The same database, now with the broker reachable: the relay catches up.
    settings = make_settings(rabbitmq_url=rabbitmq_url, events_exchange=exchange)
    async with open_runtime(settings, database_url) as rt, inproc.services(rt, "event-relay"):
        events = await drain(bound_queue, count=5)
    assert [e["type"] for e in events] == [
        "category.created",
        "product.created",
        "product.created",
        "product.created",
        "stock.changed",
    ]
    assert len({e["id"] for e in events}) == 5
    assert events[-1]["stock_before"] == 0 and events[-1]["stock_after"] == 7


async def test_a_repeated_batch_carries_the_same_event_ids(
    make_settings: MakeSettings,
    database_url: str,
    rabbitmq_url: str,
    exchange: str,
    bound_queue: AbstractQueue,
) -> None:
    settings = make_settings(rabbitmq_url=rabbitmq_url, events_exchange=exchange)
    async with open_runtime(settings, database_url) as rt:
        assert rt.resources.events is not None
        await relay.relay(rt.engine, rt.resources.events, should_stop=lambda: False)
        async with rt.engine.begin() as conn:
            before = await changelog.load_cursor(conn, relay.CONSUMER)
        events = rt.resources.events

        async def relay_both() -> int:
            # The rows are readable once every older transaction on the server has ended (a
            # busy shared server may hold them back a while): relay until both went out.
            published = 0

            async def more() -> bool:
                nonlocal published
                published += await relay.relay(rt.engine, events, should_stop=lambda: False)
                return published >= 2

            await eventually(more, timeout_s=60, what="both changes relayed")
            return published

        await execute(rt, "INSERT INTO categories (name, slug) VALUES ('A', 'a'), ('B', 'b')")
        assert await relay_both() == 2
        # As if the relay had died after publishing and before saving its cursor:
        async with rt.engine.begin() as conn:
            await changelog.save_cursor(conn, relay.CONSUMER, before)
        assert await relay_both() == 2
    events = await drain(bound_queue, count=4)
    ids = [e["id"] for e in events]
    assert ids[:2] == ids[2:] and len(set(ids)) == 2


async def test_an_updated_product_is_evicted_and_published(
    make_settings: MakeSettings,
    database_url: str,
    redis_url: str,
    cache_prefix: str,
    rabbitmq_url: str,
    exchange: str,
    bound_queue: AbstractQueue,
) -> None:
    settings = make_settings(
        redis_url=redis_url,
        cache_prefix=cache_prefix,
        rabbitmq_url=rabbitmq_url,
        events_exchange=exchange,
    )
    async with (
        open_runtime(settings, database_url) as rt,
        client_of(rt) as http,
        inproc.services(rt, "cache-invalidation", "event-relay"),
    ):

        async def both_running() -> bool:
            services = (await http.get("/api/backgroundjobs/background-services")).json()
            ours = [s for s in services if s["name"] in ("cache-invalidation", "event-relay")]
            return len(ours) == 2 and all(s["last_success"] for s in ours)

        await eventually(both_running, timeout_s=20, what="both consumers registered")
        category = (await http.post("/api/categories", json={"name": "Shoes"})).json()["id"]
        body = {"sku": "S1", "name": "Old", "category_id": category, "price": "1"}
        product = (await http.post("/api/products", json=body)).json()
        key = rt.cache.keys.product(product["id"])
        await rt.cache.backend.set(key, b'{"name":"Old"}', ttl_s=300)
        # Changed outside the API, as a job or another process would: only the log knows.
        await execute(rt, "UPDATE products SET name = 'New' WHERE id = :id", id=product["id"])

        async def evicted() -> bool:
            return await rt.cache.backend.get(key) is None

        await eventually(evicted, timeout_s=10, what="the product's eviction")
        events = await drain(bound_queue, count=3)
        await rt.cache.clear()
    assert [e["type"] for e in events] == ["category.created", "product.created", "product.updated"]
    assert events[-1]["entity_id"] == product["id"] and events[-1]["fields"] == ["name"]
