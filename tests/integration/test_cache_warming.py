"""Cache warming on the in-process cache and on Redis: exactly the expected keys, the bytes a
read-through stores, a flush detected by the missing marker, the trigger endpoint and job."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.api.answers import API_ANSWERS
from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from catalog.cache import warming
from catalog.cache.warming import Reason, WarmReport
from catalog.jobs.cache_warming import WARM_EVERY_S, cache_warming
from catalog.settings import Settings
from catalog.work.services.context import ServiceContext, Trigger
from catalog.work.supervisor import run_background_work
from tests.integration.test_cache_backends import closed_port_url
from tests.integration.test_cache_reads import client_of
from tests.support import inproc
from tests.support.catalogue import add_category, add_product
from tests.support.jobstate import wait_for_status
from tests.support.polling import eventually
from tests.support.settings import MakeSettings

SERVICES = "/api/backgroundjobs/background-services"
TRIGGER = "/api/backgroundjobs/trigger-cache-warmup"


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> Settings:
    """Each test on the in-process cache and on Redis (a key prefix of its own)."""
    if request.param == "redis":
        return make_settings(
            redis_url=request.getfixturevalue("redis_url"),
            cache_prefix=request.getfixturevalue("cache_prefix"),
            cache_warm_products=3,
        )
    return make_settings(cache_warm_products=3)


@pytest.fixture
async def catalogue(runtime: Runtime) -> AsyncIterator[dict[str, int]]:
    """Two categories and six products with known popularity: the top 3 are p5, p3, p1."""
    async with runtime.engine.begin() as conn:
        tools = await add_category(conn, "Tools")
        saws = await add_category(conn, "Saws", parent_id=tools)
        ids = {
            f"p{n}": await add_product(conn, f"P{n}", category_id=saws if n % 2 else tools, stock=n)
            for n in range(1, 7)
        }
        scores = {"p1": 2.0, "p2": 1.0, "p3": 3.0, "p4": 0.0, "p5": 5.0, "p6": 9.0}
        for name, score in scores.items():
            await conn.execute(
                sa.text("INSERT INTO product_popularity (product_id, popularity) VALUES (:id, :s)"),
                {"s": score, "id": ids[name]},
            )
        # The most popular of all is deleted: never warmed.
        await conn.execute(
            sa.text("UPDATE products SET deleted_at = now() WHERE id = :id"), {"id": ids["p6"]}
        )
    yield ids
    await runtime.cache.clear()  # the shared Redis keeps nothing of the test


async def namespace_keys(rt: Runtime) -> set[str]:
    return {key async for key in rt.cache.backend.scan(f"{rt.cache.keys.base}:*")}


def step_context(rt: Runtime, trigger: Trigger = Trigger.INTERVAL) -> ServiceContext:
    return ServiceContext(
        resources=rt.resources,
        name="cache-warming",
        instance="test-host:1",
        trigger=trigger,
        interval_s=30.0,
        log=logging.getLogger("test.cache-warming"),
        _should_stop=lambda: False,
    )


async def step(rt: Runtime, trigger: Trigger = Trigger.INTERVAL) -> dict[str, Any] | None:
    """Run one step of `cache-warming` as its loop would; the details it reported."""
    ctx = step_context(rt, trigger)
    await cache_warming(ctx)
    return ctx.details


async def test_a_warm_writes_the_most_popular_products_the_tree_and_the_counts(
    runtime: Runtime, catalogue: dict[str, int]
) -> None:
    cache = runtime.cache
    report = await warming.warm(
        cache, runtime.engine, API_ANSWERS, top_products=3, reason=Reason.TRIGGER
    )
    expected = {cache.keys.product(catalogue[p]) for p in ("p5", "p3", "p1")}
    expected |= {cache.keys.category_tree, cache.keys.category_counts, cache.keys.sentinel}
    assert await namespace_keys(runtime) == expected
    assert (report.products, report.category_tree, report.category_counts) == (3, 1, 1)
    assert await warming.read_marker(cache) == report
    assert report.reason is Reason.TRIGGER


async def test_batches_cover_every_product_asked_for(
    runtime: Runtime, catalogue: dict[str, int]
) -> None:
    cache = runtime.cache
    report = await warming.warm(
        cache, runtime.engine, API_ANSWERS, top_products=10, reason=Reason.FLUSH, batch_size=2
    )
    warmed = {cache.keys.product_id(k) for k in await namespace_keys(runtime)} - {None}
    # Every live product with a popularity above 0, over three batches of two.
    assert warmed == {catalogue[p] for p in ("p1", "p2", "p3", "p5")} and report.products == 4


async def test_warmed_entries_are_hits_with_the_bytes_a_read_through_stores(
    runtime: Runtime, client: httpx.AsyncClient, catalogue: dict[str, int]
) -> None:
    await warming.warm(
        runtime.cache, runtime.engine, API_ANSWERS, top_products=3, reason=Reason.TRIGGER
    )
    paths = [f"/api/products/{catalogue['p5']}", "/api/categories/tree", "/api/categories/counts"]
    warmed = {}
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200 and response.headers["x-cache"] == "hit", path
        warmed[path] = response.content
    assert b'"sku":"P5"' in warmed[paths[0]] and b'"in_stock"' in warmed[paths[2]]

    await runtime.cache.clear()
    for path in paths:
        unwarmed = await client.get(path)
        assert unwarmed.headers["x-cache"] == "miss", path
        assert unwarmed.content == warmed[path], path
        key = runtime.cache.keys.product(catalogue["p5"]) if "products" in path else None
        if key is not None:  # what the read-through stored is the warmed bytes too
            assert await runtime.cache.backend.get(key) == warmed[path]
    # A product outside the top 3 was not warmed: its first read is a miss.
    assert (await client.get(f"/api/products/{catalogue['p2']}")).headers["x-cache"] == "miss"


class InvalidatingAnswers:
    """The API's answers, with a committed change's eviction of the tree while it is read."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def products(self, conn: AsyncConnection, product_ids: Sequence[int]) -> dict[int, bytes]:
        return await API_ANSWERS.products(conn, product_ids)

    async def category_tree(self, conn: AsyncConnection) -> bytes:
        body = await API_ANSWERS.category_tree(conn)
        await self.rt.cache.invalidate([self.rt.cache.keys.category_tree])
        return body

    async def category_counts(self, conn: AsyncConnection) -> bytes:
        return await API_ANSWERS.category_counts(conn)


async def test_a_warm_never_stores_a_copy_an_invalidation_made_stale(
    runtime: Runtime, catalogue: dict[str, int]
) -> None:
    cache = runtime.cache
    report = await warming.warm(
        cache, runtime.engine, InvalidatingAnswers(runtime), top_products=3, reason=Reason.FLUSH
    )
    assert report.category_tree == 0 and report.category_counts == 1
    assert await cache.backend.get(cache.keys.category_tree) is None


async def test_the_service_rewarms_after_a_flush_and_otherwise_waits_six_hours(
    runtime: Runtime, catalogue: dict[str, int]
) -> None:
    cache = runtime.cache
    first = await step(runtime, Trigger.TAKEOVER)  # a new cache has no marker
    assert first is not None and first["reason"] == "flush"
    assert first["entries"] == {"products": 3, "category_tree": 1, "category_counts": 1}
    p5 = cache.keys.product(catalogue["p5"])

    # The marker is there and 6 h have not passed: a step writes nothing.
    await cache.backend.delete([p5])
    assert await step(runtime) == first
    assert await cache.backend.get(p5) is None

    # The namespace is flushed (the marker with it): the next step warms again.
    await cache.clear()
    again = await step(runtime)
    assert again is not None and again["reason"] == "flush"
    assert again["last_warm_at"] > first["last_warm_at"]
    assert await cache.backend.get(p5) is not None

    # Only the marker goes: that is a flush too.
    await cache.backend.delete([cache.keys.sentinel, p5])
    assert (await step(runtime) or {})["reason"] == "flush"
    assert await cache.backend.get(p5) is not None

    # The last warm is 6 h old: a scheduled warm.
    marker = await warming.read_marker(cache)
    assert marker is not None
    old = WarmReport(**{**marker.__dict__, "warmed_at": marker.warmed_at - timedelta(hours=6)})
    await cache.backend.set(cache.keys.sentinel, old.encode(), ttl_s=60)
    assert (await step(runtime) or {})["reason"] == "schedule"

    # An operator's wake-up warms at once.
    assert (await step(runtime, Trigger.WAKE) or {})["reason"] == "trigger"


def test_a_warm_is_due_when_the_marker_is_missing_or_six_hours_old() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def marker(age: timedelta) -> WarmReport:
        return WarmReport(now - age, Reason.SCHEDULE, 1, 1, 1, 0.1)

    assert warming.due(None, now=now, every_s=WARM_EVERY_S) is Reason.FLUSH
    assert (
        warming.due(marker(timedelta(hours=5, minutes=59)), now=now, every_s=WARM_EVERY_S) is None
    )
    assert warming.due(marker(timedelta(hours=6)), now=now, every_s=WARM_EVERY_S) is Reason.SCHEDULE
    assert WarmReport.decode(b"not json") is None and WarmReport.decode(b'{"a": 1}') is None
    assert WarmReport.decode(marker(timedelta(0)).encode()) == marker(timedelta(0))


async def test_the_service_is_listed_with_its_last_warm(
    runtime: Runtime, client: httpx.AsyncClient, catalogue: dict[str, int]
) -> None:
    async with inproc.services(runtime, "cache-warming"):

        async def warmed() -> dict[str, Any] | None:
            services = (await client.get(SERVICES)).json()
            (found,) = [s for s in services if s["name"] == "cache-warming"]
            return found if found["details"] and found["last_success"] else None

        found = await eventually(warmed, timeout_s=20, what="the first warm in the status")
    assert found["interval_s"] == 30 and found["last_error"] is None
    details = found["details"]
    assert details["reason"] == "flush" and details["entries"]["products"] == 3
    assert set(details) == {"last_warm_at", "reason", "entries", "duration_s"}
    hit = await client.get(f"/api/products/{catalogue['p3']}")
    assert hit.headers["x-cache"] == "hit"


async def test_the_trigger_answers_202_with_the_job_and_the_same_job_while_it_waits(
    runtime: Runtime, client: httpx.AsyncClient, catalogue: dict[str, int]
) -> None:
    first = await client.post(TRIGGER)
    assert first.status_code == 202, first.text
    answer = first.json()
    assert answer["task"] == "cache-warmup" and answer["already_running"] is False
    assert answer["job_url"] == f"/api/backgroundjobs/jobs/{answer['job_id']}"
    assert first.headers["location"] == answer["job_url"]
    again = await client.post(TRIGGER)
    assert again.status_code == 202
    assert again.json()["job_id"] == answer["job_id"] and again.json()["already_running"] is True

    stop = asyncio.Event()
    work = asyncio.create_task(run_background_work(runtime.resources, stop))
    try:
        await wait_for_status(runtime, answer["job_id"], "succeeded", "failed", timeout_s=30)
    finally:
        stop.set()
        await asyncio.wait_for(work, timeout=30)
    job = (await client.get(answer["job_url"])).json()
    assert job["state"] == "succeeded", job
    marker = await warming.read_marker(runtime.cache)
    assert marker is not None and marker.reason is Reason.TRIGGER and marker.products == 3
    assert (await client.get("/api/categories/tree")).headers["x-cache"] == "hit"


async def test_with_redis_down_the_step_fails_visibly_and_reads_still_answer(
    make_settings: MakeSettings, database_url: str
) -> None:
    settings = make_settings(redis_url=closed_port_url(), cache_timeout_s=0.2)
    async with open_runtime(settings, database_url) as rt, client_of(rt) as http:
        async with rt.engine.begin() as conn:
            tools = await add_category(conn, "Tools")
            product = await add_product(conn, "P1", category_id=tools)
        async with inproc.services(rt, "cache-warming"):

            async def failing() -> dict[str, Any] | None:
                services = (await http.get(SERVICES)).json()
                (found,) = [s for s in services if s["name"] == "cache-warming"]
                return found if found["last_error"] else None

            found = await eventually(failing, timeout_s=15, what="the failed warm in the status")
        assert "CacheUnavailable" in str(found["last_error"]) and "redis" in found["last_error"]
        read = await http.get(f"/api/products/{product}")
        assert read.status_code == 200 and read.headers["x-cache"] == "miss"
        assert (await http.get("/api/categories/tree")).status_code == 200
