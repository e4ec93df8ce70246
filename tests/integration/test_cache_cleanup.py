"""The `cache-cleanup` job: deleted products' and older key versions' entries go, with SCAN."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from catalog.cache.keys import KEY_VERSION, CacheKeys
from catalog.store.demo import load_demo_if_empty
from catalog.work.policy import Overlap, Queue
from catalog.work.supervisor import run_background_work
from tests.support.jobstate import job_runs, wait_for_status
from tests.support.settings import MakeSettings


@pytest.fixture
async def redis_worker(
    make_settings: MakeSettings, database_url: str, redis_url: str, cache_prefix: str
) -> AsyncIterator[Runtime]:
    settings = make_settings(redis_url=redis_url, cache_prefix=cache_prefix)
    async with open_runtime(settings, database_url) as rt:
        stop = asyncio.Event()
        task = asyncio.create_task(run_background_work(rt.resources, stop))
        yield rt
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        await rt.cache.clear()


def test_cleanup_is_declared_every_six_hours_with_two_retries(runtime: Runtime) -> None:
    definition = runtime.work.definition("cache-cleanup")
    assert definition.schedule is not None
    assert (definition.schedule.cron, definition.schedule.tz) == ("0 */6 * * *", "UTC")
    assert definition.policy.retry.attempts == 3  # 1 run + 2 retries
    assert definition.policy.queue == Queue.CACHE and definition.policy.overlap is Overlap.SKIP


async def test_cleanup_removes_deleted_products_and_old_versions_only(
    redis_worker: Runtime, cache_prefix: str
) -> None:
    rt = redis_worker
    await load_demo_if_empty(rt.engine, products=30)
    async with rt.engine.begin() as conn:
        ids = list(await conn.scalars(sa.text("SELECT id FROM products ORDER BY id")))
        deleted = ids[:5]
        await conn.execute(
            sa.text("UPDATE products SET deleted_at = now() WHERE id = ANY(:ids)"), {"ids": deleted}
        )
    keys, old = rt.cache.keys, CacheKeys(prefix=cache_prefix, version=KEY_VERSION + 1000)
    backend = rt.cache.backend
    for product_id in ids:
        await backend.set(keys.product(product_id), b"{}", ttl_s=300)
    await backend.set(keys.product(999_999_999), b"{}", ttl_s=300)  # never existed (purged)
    for n in range(700):  # more than one SCAN batch
        await backend.set(old.product(n), b"{}", ttl_s=300)
    await backend.set(keys.category_tree, b"{}", ttl_s=300)
    other = f"{cache_prefix}x:v0:product:1"  # another namespace sharing the server
    await backend.set(other, b"{}", ttl_s=300)

    job = await rt.work.enqueue("cache-cleanup")
    await wait_for_status(rt, job.job_id, "succeeded", timeout_s=30)
    (run,) = await job_runs(rt, job.job_id)
    assert "removed 700 old-version keys and 6 keys of deleted products" in str(run["result"])

    remaining = {key async for key in backend.scan(f"{cache_prefix}*")}
    assert {keys.product(i) for i in ids[5:]} <= remaining
    assert not {keys.product(i) for i in deleted} & remaining
    assert not any(keys.is_old_version(key) for key in remaining)
    assert keys.category_tree in remaining and other in remaining
    await backend.delete([other])
