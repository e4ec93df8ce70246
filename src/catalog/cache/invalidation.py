"""What a change makes stale, and keeping a cache in step with the change log.

A product's cached body depends on its row only; the category tree on the categories; the
category counts on categories and on products' category, stock and liveness. Either the
`cache-invalidation` service (a shared cache: one instance for the whole cluster) or, for the
in-process cache, `follow` in every API process, applies these rules to each committed change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.cache.backend import CacheUnavailable
from catalog.cache.cache_aside import Cache
from catalog.cache.keys import CacheKeys
from catalog.store import changelog

log = logging.getLogger(__name__)

BATCH_SIZE = 1000  # change-log rows per read
FOLLOW_POLL_S = 1.0  # a wake-up may be missed (see changelog.listen_for_changes): look anyway
FOLLOW_RETRY_S = 2.0

# Product columns the category counts depend on.
_COUNTED_FIELDS = frozenset({"category_id", "stock", "deleted_at"})


def stale_keys(keys: CacheKeys, changes: Iterable[changelog.Change]) -> list[str]:
    """The keys the given changes make stale, each once, in first-seen order."""
    stale: dict[str, None] = {}
    for change in changes:
        if change.entity == "product":
            stale[keys.product(change.entity_id)] = None
            if change.op != "update" or _COUNTED_FIELDS.intersection(change.fields or ()):
                stale[keys.category_counts] = None
        else:
            stale[keys.category_tree] = None
            stale[keys.category_counts] = None
    return list(stale)


async def follow(
    engine: AsyncEngine,
    database_url: str,
    cache: Cache,
    stop: asyncio.Event,
    *,
    ready: asyncio.Event | None = None,
) -> None:
    """Evict from this process's `cache` what every change committed from now on makes stale.

    For the in-process cache, which no other process can reach: its cursor lives in memory and
    starts at the end of the log (the cache starts empty); `ready` is set once it is placed.
    After a lost connection it starts again at the end, clearing the cache (changes made while
    it was away are unknown). Returns when `stop` is set.
    """
    first = True
    while not stop.is_set():
        try:
            if not first:
                await cache.clear()
            first = False
            await _follow_once(engine, database_url, cache, stop, ready)
        except (psycopg.Error, OSError, CacheUnavailable) as exc:
            log.warning("cache follower: %s; retrying in %.0f s", exc, FOLLOW_RETRY_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=FOLLOW_RETRY_S)


async def _follow_once(
    engine: AsyncEngine,
    database_url: str,
    cache: Cache,
    stop: asyncio.Event,
    ready: asyncio.Event | None,
) -> None:
    async with changelog.listen_for_changes(database_url) as listener, engine.connect() as conn:
        async with conn.begin():
            cursor = await changelog.end_of_log(conn)
        if ready is not None:
            ready.set()
        while not stop.is_set():
            async with conn.begin():
                changes = await changelog.read_changes(conn, after=cursor, limit=BATCH_SIZE)
            if changes:
                await cache.invalidate(stale_keys(cache.keys, changes))
                cursor = changelog.advance(cursor, changes)
                continue
            waiting = asyncio.create_task(listener.wait(timeout_s=FOLLOW_POLL_S))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            else:
                waiting.result()
