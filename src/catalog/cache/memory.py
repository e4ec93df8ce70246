"""The in-process cache: the embedded default, when no Redis is configured.

Each process has its own: `catalog serve` (one process) keeps it fresh with its own
`cache-invalidation` service; separate API processes without Redis each follow the change log
themselves (`catalog.cache.invalidation.follow`).
"""

from __future__ import annotations

import fnmatch
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence

from catalog.cache.backend import Lookup

DEFAULT_MAX_ENTRIES = 50_000


class MemoryCache:
    """A bounded LRU of bytes with per-entry expiry; never unavailable."""

    name = "memory"

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, *, ttl_s: float) -> None:
        self._store(key, value, ttl_s)

    async def lookup(self, key: str, *, generation_key: str) -> Lookup:
        return Lookup(self._live(key), self._live(generation_key, touch=False))

    async def fill(
        self, key: str, value: bytes, *, ttl_s: float, generation_key: str, seen: bytes | None
    ) -> bool:
        if self._live(generation_key, touch=False) != seen:
            return False
        self._store(key, value, ttl_s)
        return True

    async def invalidate(
        self, keys: Sequence[str], *, generation_keys: Sequence[str], generation_ttl_s: float
    ) -> int:
        deleted = await self.delete(keys)
        for generation_key in generation_keys:
            current = self._live(generation_key, touch=False)
            bumped = int(current or b"0") + 1
            self._store(generation_key, str(bumped).encode(), generation_ttl_s)
        return deleted

    async def delete(self, keys: Sequence[str]) -> int:
        deleted = 0
        for key in keys:
            if self._live(key) is not None:
                deleted += 1
            self._entries.pop(key, None)
        return deleted

    async def scan(self, pattern: str, *, batch: int = 500) -> AsyncIterator[str]:
        # A snapshot of the names, so that deleting while scanning is safe (as with SCAN).
        for key in list(self._entries):
            if fnmatch.fnmatchcase(key, pattern) and self._live(key, touch=False) is not None:
                yield key

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()

    def _live(self, key: str, *, touch: bool = True) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None
        if touch:
            self._entries.move_to_end(key)
        return value

    def _store(self, key: str, value: bytes, ttl_s: float) -> None:
        if ttl_s <= 0:
            self._entries.pop(key, None)
            return
        self._entries[key] = (self._clock() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
