"""The cache backends behave alike: Redis (real server) and the in-process twin."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from catalog.cache.backend import CacheBackend, CacheUnavailable
from catalog.cache.cache_aside import Cache
from catalog.cache.keys import CacheKeys
from catalog.cache.memory import MemoryCache
from catalog.cache.redis_cache import RedisCache


def closed_port_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest, cache_prefix: str) -> AsyncIterator[CacheBackend]:
    made: CacheBackend
    if request.param == "memory":
        made = MemoryCache()
    else:
        made = RedisCache(request.getfixturevalue("redis_url"))
    yield made
    if request.param == "redis":
        await made.delete([key async for key in made.scan(f"{cache_prefix}*")])
    await made.close()


async def test_set_get_and_expiry(backend: CacheBackend, cache_prefix: str) -> None:
    key = f"{cache_prefix}:v1:a"
    assert await backend.get(key) is None
    await backend.set(key, b'{"x":1}', ttl_s=0.2)
    assert await backend.get(key) == b'{"x":1}'
    await asyncio.sleep(0.3)  # the TTL is what is under test
    assert await backend.get(key) is None


async def test_fill_is_refused_once_the_key_was_invalidated_after_the_lookup(
    backend: CacheBackend, cache_prefix: str
) -> None:
    keys = CacheKeys(prefix=cache_prefix)
    key, generation = keys.product(7), keys.generation(keys.product(7))
    slow = await backend.lookup(key, generation_key=generation)  # a reader misses...
    assert slow.value is None
    await backend.invalidate([key], generation_keys=[generation], generation_ttl_s=60)
    # ...read the old row before the change, and fills after the change's invalidation:
    assert not await backend.fill(
        key, b"old", ttl_s=60, generation_key=generation, seen=slow.generation
    )
    assert await backend.get(key) is None
    fresh = await backend.lookup(key, generation_key=generation)  # a reader after the change
    assert await backend.fill(
        key, b"new", ttl_s=60, generation_key=generation, seen=fresh.generation
    )
    assert (await backend.lookup(key, generation_key=generation)).value == b"new"
    assert await backend.invalidate([key], generation_keys=[generation], generation_ttl_s=60) == 1
    assert await backend.get(key) is None


async def test_scan_finds_matching_keys_only_and_delete_counts(
    backend: CacheBackend, cache_prefix: str
) -> None:
    keys = CacheKeys(prefix=cache_prefix)
    for product_id in range(1, 1201):
        await backend.set(keys.product(product_id), b"p", ttl_s=60)
    await backend.set(keys.category_tree, b"t", ttl_s=60)
    found = [key async for key in backend.scan(keys.product_pattern, batch=100)]
    assert sorted({keys.product_id(k) for k in found}) == list(range(1, 1201))
    assert await backend.delete([keys.product(1), keys.product(2), keys.product(99999)]) == 2
    await backend.ping()


async def test_redis_on_a_closed_port_is_unavailable_quickly() -> None:
    backend = RedisCache(closed_port_url(), timeout_s=0.2)
    try:
        with pytest.raises(CacheUnavailable):
            await backend.get("k")
        with pytest.raises(CacheUnavailable):
            await backend.ping()
        with pytest.raises(CacheUnavailable):
            [key async for key in backend.scan("*")]
    finally:
        await backend.close()


async def test_cache_reads_are_misses_while_redis_is_down_and_health_says_why() -> None:
    cache = Cache(RedisCache(closed_port_url(), timeout_s=0.2), retry_after_s=60)
    try:
        assert await cache.read("k") is None
        assert not await cache.fill("k", b"v", ttl_s=10, seen=await cache.lookup("k"))
        await cache.evict(["k"])  # no error
        health = cache.health()
        assert not health.ok and health.backend == "redis"
        assert health.error is not None and "redis" in health.error
        with pytest.raises(CacheUnavailable):
            await cache.invalidate(["k"])
    finally:
        await cache.close()


async def test_cache_recovers_once_redis_answers(redis_url: str, cache_prefix: str) -> None:
    cache = Cache(RedisCache(redis_url), keys=CacheKeys(prefix=cache_prefix), retry_after_s=0)
    try:
        cache._failed(CacheUnavailable("redis: pretend it failed"))
        assert not cache.health().ok
        key = cache.keys.product(1)
        assert await cache.fill(key, b"v", ttl_s=10, seen=await cache.lookup(key))
        assert await cache.read(key) == b"v"
        assert cache.health().ok
        await cache.clear()
    finally:
        await cache.close()
