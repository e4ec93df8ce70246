"""Building a whole generation from PostgreSQL and swapping it in, while searches keep answering.

A rebuild (the `search-reindex` job, `catalog reindex`, and `search-sync` itself when no
generation is live yet):

1. records `start`, the end of the change log as a reader sees it now. Every change after it
   belongs to a transaction that had not finished, so everything the build reads afterwards
   includes every change up to `start`;
2. fills a new generation from PostgreSQL in id order, `batch_size` products at a time
   (bounded memory), reporting progress, and commits it. Searches go on answering from the
   live generation meanwhile; `search-sync` goes on writing to that one;
3. takes the index lock (`catalog.search.sync.INDEX_LOCK_KEY`), which waits for a batch of
   `search-sync` in flight to finish, then activates the new generation (one atomic step) and
   moves the `search-sync` cursor back to `start` if it is ahead of it, then lets go. The
   changes made during the build are after `start`, so `search-sync` applies them again, now to
   the new generation. A batch of `search-sync` reads the live generation and its cursor under
   the same lock, so it runs wholly before the swap (on the old generation, its cursor then moved
   back) or wholly after it (on the new one): no change is missed. A cursor behind `start`
   stays where it is: applying a change twice is harmless (it re-indexes the product as it is);
4. drops the old generation. Readers open the new one at their next search.

A rebuild stopped part-way (cancelled, killed) drops, or leaves behind, a generation that was
never live; the live one is untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.search.backend import SearchBackend
from catalog.search.documents import count_live_products, iter_documents
from catalog.search.sync import CONSUMER, index_lock, saved_cursor
from catalog.store import changelog

BUILD_BATCH = 2000  # products read and written at a time

Progress = Callable[[int, int], Awaitable[None]]  # (done, total)


@dataclass(frozen=True)
class RebuildReport:
    generation: str
    replaced: str | None  # the generation that was live before, now dropped
    documents: int
    start: changelog.Cursor  # search-sync re-applies the changes after this


async def _no_progress(done: int, total: int) -> None:
    return None


async def rebuild(
    db: AsyncEngine,
    search: SearchBackend,
    *,
    batch_size: int = BUILD_BATCH,
    progress: Progress = _no_progress,
    check_stop: Callable[[], None] = lambda: None,
) -> RebuildReport:
    """Build a fresh generation, swap it in and drop the old one; see the module docstring.

    `check_stop` is called between batches and may raise to abandon the build (the new
    generation is then dropped; the live one is untouched).
    """
    async with db.connect() as conn:
        async with conn.begin():
            start = await changelog.end_of_log(conn)
            total = await count_live_products(conn)
        generation = await search.create_generation()
        done = 0
        try:
            await progress(0, total)
            async for batch in iter_documents(conn, batch_size=batch_size):
                check_stop()
                await search.upsert(generation, batch)
                done += len(batch)
                await progress(done, max(total, done))
            await search.commit(generation)
            # Let go of the writer: from now on `search-sync` (maybe in another process)
            # writes this generation.
            await search.release(generation)
            async with index_lock(conn):
                # Cursor first: should the swap then fail, the old generation merely gets some
                # changes again. A consumer not registered yet starts at `start`.
                async with conn.begin():
                    current = await saved_cursor(conn)
                    back = start if current is None else min(current, start)
                    await changelog.save_cursor(conn, CONSUMER, back)
                replaced = await search.activate(generation)
        except BaseException:
            await search.release(generation)
            if await search.live_generation() != generation:
                await search.drop(generation)
            raise
        await progress(done, done)
    if replaced is not None and replaced != generation:
        await search.drop(replaced)
    return RebuildReport(generation=generation, replaced=replaced, documents=done, start=start)
