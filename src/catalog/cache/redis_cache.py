"""The Redis cache, on redis-py's asyncio client (`CATALOG_REDIS_URL`).

Every call is bounded by `timeout_s` and made once (no client-side retries): the cache holds
copies only, so a slow or absent Redis must cost a read a fraction of a second, never more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from catalog.cache.backend import CacheUnavailable, Lookup

DEFAULT_TIMEOUT_S = 0.5
MAX_CONNECTIONS = 64

# KEYS[1] the key, KEYS[2] its generation; ARGV[1] the value, ARGV[2] the TTL in ms,
# ARGV[3] the generation the reader saw ('' for none).
_FILL = """
local current = redis.call('GET', KEYS[2])
if (current or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
# KEYS: n keys to delete, then their generations; ARGV[1] = n, ARGV[2] the generations' TTL (ms).
_INVALIDATE = """
local n = tonumber(ARGV[1])
local deleted = 0
for i = 1, n do deleted = deleted + redis.call('DEL', KEYS[i]) end
for i = n + 1, #KEYS do
    redis.call('INCR', KEYS[i])
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return deleted
"""


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisCache:
    """`CacheBackend` on one Redis database; errors come out as `CacheUnavailable`."""

    name = "redis"

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self._client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), retries=0),
            max_connections=MAX_CONNECTIONS,
            client_name="catalog",
        )
        self._fill = self._client.register_script(_FILL)
        self._invalidate = self._client.register_script(_INVALIDATE)

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._call(self._client.get(key))
        return value

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        await self._call(self._client.set(key, value, px=_ms(ttl_s)))

    async def lookup(self, key: str, *, generation_key: str) -> Lookup:
        value, generation = await self._call(self._client.mget([key, generation_key]))
        return Lookup(value, generation)

    async def fill(
        self, key: str, value: bytes, *, ttl_s: float, generation_key: str, seen: bytes | None
    ) -> bool:
        stored = await self._call(
            self._fill(keys=[key, generation_key], args=[value, _ms(ttl_s), seen or b""])
        )
        return bool(stored)

    async def invalidate(
        self, keys: Sequence[str], *, generation_keys: Sequence[str], generation_ttl_s: float
    ) -> int:
        if not keys and not generation_keys:
            return 0
        deleted = await self._call(
            self._invalidate(
                keys=[*keys, *generation_keys], args=[len(keys), _ms(generation_ttl_s)]
            )
        )
        return int(deleted)

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(await self._call(self._client.delete(*keys)))

    async def scan(self, pattern: str, *, batch: int = 500) -> AsyncIterator[str]:
        try:
            async for key in self._client.scan_iter(match=pattern, count=batch):
                yield key.decode() if isinstance(key, bytes) else str(key)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(f"redis scan failed: {exc}") from exc

    async def ping(self) -> None:
        await self._call(self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(f"redis: {exc}") from exc
