"""Cache-aside answers: ready-to-send JSON bytes from the cache, or built and then cached.

A hit costs one cache round trip and no database connection. `X-Cache` says which it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Response
from pydantic import BaseModel

from catalog.cache.cache_aside import Cache

JSON = "application/json"
HIT = {"X-Cache": "hit"}
MISS = {"X-Cache": "miss"}


def hit_response(body: bytes) -> Response:
    """The answer of a cache hit: the cached bytes, as JSON, with `X-Cache: hit`."""
    return Response(body, media_type=JSON, headers=HIT)


def json_bytes(model: BaseModel) -> bytes:
    """The model as the API sends it (the same bytes FastAPI would send for it)."""
    return model.__pydantic_serializer__.to_json(model)


async def cached_json(
    cache: Cache, key: str, *, ttl_s: float, build: Callable[[], Awaitable[BaseModel]]
) -> Response:
    """The bytes under `key`, or `build()`'s model rendered, cached for `ttl_s`, and sent."""
    found = await cache.lookup(key)
    if found.value is not None:
        return hit_response(found.value)
    body = json_bytes(await build())
    await cache.fill(key, body, ttl_s=ttl_s, seen=found)
    return Response(body, media_type=JSON, headers=MISS)
