"""The cache seam: what a cache server must do for us, and the one error it raises."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol


class CacheUnavailable(Exception):
    """The cache server could not be reached or failed; the cache holds copies only, so callers
    on a read path answer from the database instead."""


@dataclass(frozen=True)
class Lookup:
    """A cache-aside read: the cached value (None: a miss) and the generation to fill with."""

    value: bytes | None
    generation: bytes | None


class CacheBackend(Protocol):
    """Bytes under string keys, each with a time to live. Every method raises
    `CacheUnavailable` (and nothing else) when the server fails."""

    name: str  # "redis" or "memory", as shown in status

    async def get(self, key: str) -> bytes | None:
        """The value under `key`, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        """Store `value` under `key` for `ttl_s` seconds."""
        ...

    async def lookup(self, key: str, *, generation_key: str) -> Lookup:
        """The value under `key` and the current value of its generation counter, at once."""
        ...

    async def fill(
        self, key: str, value: bytes, *, ttl_s: float, generation_key: str, seen: bytes | None
    ) -> bool:
        """Store `value` under `key` only if its generation is still `seen`, atomically.

        Cache-aside: look up (miss, generation g), read the database, fill with g. Any
        invalidation in between changed the generation, so a copy read before a change can
        never be stored after that change evicted the key. True if stored.
        """
        ...

    async def invalidate(
        self, keys: Sequence[str], *, generation_keys: Sequence[str], generation_ttl_s: float
    ) -> int:
        """Delete `keys` and bump their generation counters (kept `generation_ttl_s`, which
        must outlast any read in flight); the number of keys deleted."""
        ...

    async def delete(self, keys: Sequence[str]) -> int:
        """Delete `keys`; the number that existed."""
        ...

    def scan(self, pattern: str, *, batch: int = 500) -> AsyncIterator[str]:
        """Every key matching the glob `pattern`, incrementally (Redis SCAN, never KEYS).

        A key added or removed during the scan may or may not be returned.
        """
        ...

    async def ping(self) -> None:
        """Return if the server answers; raise `CacheUnavailable` otherwise."""
        ...

    async def close(self) -> None: ...
