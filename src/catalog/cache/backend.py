"""The cache seam: what a cache server must do for us, and the one error it raises."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol


class CacheUnavailable(Exception):
    """The cache server could not be reached or failed; the cache holds copies only, so callers
    on a read path answer from the database instead."""


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

    async def fill(self, key: str, value: bytes, *, ttl_s: float, unless: str) -> bool:
        """Store `value` under `key` unless the key `unless` exists, atomically; True if stored.

        Cache-aside fills use it with the key's invalidation hold, so that a reader that read
        the database before a change cannot put the old copy back after the change evicted it.
        """
        ...

    async def invalidate(self, keys: Sequence[str], *, holds: Sequence[str], hold_s: float) -> int:
        """Delete `keys` and set every key of `holds` for `hold_s` seconds; the number deleted."""
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
