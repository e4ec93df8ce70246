"""The in-process cache: bounded, LRU, expiring on its clock; and the key names."""

from __future__ import annotations

from catalog.cache.keys import KEY_VERSION, CacheKeys
from catalog.cache.memory import MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_least_recently_used_entry_goes_first_when_full() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    assert await cache.get("a") == b"1"  # a is now more recent than b
    await cache.set("c", b"3", ttl_s=60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1" and await cache.get("c") == b"3"
    assert len(cache) == 2


async def test_entries_expire_on_the_clock() -> None:
    clock = Clock()
    cache = MemoryCache(clock=clock)
    await cache.set("a", b"1", ttl_s=10)
    clock.now += 9.9
    assert await cache.get("a") == b"1"
    clock.now += 0.2
    assert await cache.get("a") is None
    assert [k async for k in cache.scan("*")] == []


def test_keys_are_namespaced_and_versioned() -> None:
    keys = CacheKeys(prefix="shop")
    assert keys.product(42) == f"shop:v{KEY_VERSION}:product:42"
    assert keys.product_id(keys.product(42)) == 42
    assert keys.product_id(keys.category_tree) is None
    assert keys.product_id(f"shop:v{KEY_VERSION}:product:\uff14\uff12") is None
    assert keys.generation(keys.product(42)).startswith("shop:gen:")
    old = CacheKeys(prefix="shop", version=KEY_VERSION - 1 if KEY_VERSION > 1 else 99)
    assert keys.is_old_version(old.product(1))
    assert not keys.is_old_version(keys.product(1))
    assert not keys.is_old_version("other:v0:product:1")
