"""Cache warming: preload the hot answers, and tell a flushed cache from a warm one.

One warm writes, as the exact bytes a read-through would store (rendered by the API's own
code, handed in as `Answers`): the most popular products' `GET /api/products/{id}`, the
category tree and the category counts (which carry the in-stock counts). Each entry is filled
like a read-through fills it: its generation is looked up before the database is read, and the
copy is stored only if no invalidation came in between, so warming never puts back a copy that
a committed change has made stale.

Last it writes the marker (`CacheKeys.sentinel`), holding this warm's report. A cache without
the marker was flushed (or is new, or a warm was cut short): the next check rewarms it.

Everything here goes to `cache.backend`, whose `CacheUnavailable` reaches the caller: a warm
with the cache down fails, visibly, while reads keep answering from PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog.cache.cache_aside import Cache
from catalog.store import popularity

PRODUCT_BATCH_SIZE = 250  # products read per query (and filled per round)
# The marker outlives any warm interval by far; a cache that loses it anyway (an LRU evicting
# it) is simply warmed again.
MARKER_TTL_S = 30 * 86400.0


StopCheck = Callable[[], None]  # raises to stop a warm between batches


class Reason(StrEnum):
    """Why a warm ran."""

    SCHEDULE = "schedule"  # the warm interval passed since the last warm
    FLUSH = "flush"  # the marker was missing: the cache was flushed, or is new
    TRIGGER = "trigger"  # an operator asked (trigger endpoint, `cache-warmup` job)


class Answers(Protocol):
    """The API's cached answers, rendered from the database as the routes send them."""

    async def products(self, conn: AsyncConnection, product_ids: Sequence[int]) -> dict[int, bytes]:
        """`GET /api/products/{id}`'s body for each live product among `product_ids`."""
        ...

    async def category_tree(self, conn: AsyncConnection) -> bytes: ...

    async def category_counts(self, conn: AsyncConnection) -> bytes: ...


@dataclass(frozen=True)
class WarmReport:
    """What one warm did; stored as the marker, and shown in the service's details."""

    warmed_at: datetime
    reason: Reason
    products: int  # product entries written
    category_tree: int  # 1 if written
    category_counts: int  # 1 if written
    duration_s: float

    def encode(self) -> bytes:
        return json.dumps(self.details()).encode()

    @classmethod
    def decode(cls, raw: bytes) -> WarmReport | None:
        """The report a marker holds; None for one this code cannot read (treated as absent)."""
        try:
            data = json.loads(raw)
            entries = data["entries"]
            return cls(
                warmed_at=datetime.fromisoformat(data["last_warm_at"]),
                reason=Reason(data["reason"]),
                products=int(entries["products"]),
                category_tree=int(entries["category_tree"]),
                category_counts=int(entries["category_counts"]),
                duration_s=float(data["duration_s"]),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def details(self) -> dict[str, Any]:
        return {
            "last_warm_at": self.warmed_at.isoformat(),
            "reason": str(self.reason),
            "entries": {
                "products": self.products,
                "category_tree": self.category_tree,
                "category_counts": self.category_counts,
            },
            "duration_s": self.duration_s,
        }

    def summary(self) -> str:
        return (
            f"warmed ({self.reason}): {self.products} products, {self.category_tree} category "
            f"tree, {self.category_counts} category counts in {self.duration_s:.2f} s"
        )


def due(marker: WarmReport | None, *, now: datetime, every_s: float) -> Reason | None:
    """Why a warm is due now (None: it is not), given the marker found in the cache."""
    if marker is None:
        return Reason.FLUSH
    if (now - marker.warmed_at).total_seconds() >= every_s:
        return Reason.SCHEDULE
    return None


async def read_marker(cache: Cache) -> WarmReport | None:
    """The last warm's report, None when the marker is absent; raises `CacheUnavailable`."""
    raw = await cache.backend.get(cache.keys.sentinel)
    return None if raw is None else WarmReport.decode(raw)


async def warm(
    cache: Cache,
    db: AsyncEngine,
    answers: Answers,
    *,
    top_products: int,
    reason: Reason,
    batch_size: int = PRODUCT_BATCH_SIZE,
    check_stop: StopCheck = lambda: None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> WarmReport:
    """Preload the `top_products` most popular products, the tree and the counts; then mark."""
    started, began = clock(), time.monotonic()
    keys, ttls = cache.keys, cache.ttls
    async with db.connect() as conn:
        tree = await _fill(cache, keys.category_tree, ttls.category_s, answers.category_tree, conn)
        counts = await _fill(
            cache, keys.category_counts, ttls.category_s, answers.category_counts, conn
        )
        ids = await popularity.most_popular_ids(conn, limit=top_products)
        await conn.rollback()
        written = 0
        for start in range(0, len(ids), batch_size):
            check_stop()
            written += await _fill_products(cache, conn, answers, ids[start : start + batch_size])
            await conn.rollback()  # no transaction held open between batches
    report = WarmReport(
        warmed_at=started,
        reason=reason,
        products=written,
        category_tree=int(tree),
        category_counts=int(counts),
        duration_s=round(time.monotonic() - began, 3),
    )
    await cache.backend.set(keys.sentinel, report.encode(), ttl_s=MARKER_TTL_S)
    return report


async def _fill(
    cache: Cache,
    key: str,
    ttl_s: float,
    render: Callable[[AsyncConnection], Awaitable[bytes]],
    conn: AsyncConnection,
) -> bool:
    generation_key = cache.keys.generation(key)
    seen = await cache.backend.lookup(key, generation_key=generation_key)
    body = await render(conn)
    await conn.rollback()
    return await cache.backend.fill(
        key, body, ttl_s=ttl_s, generation_key=generation_key, seen=seen.generation
    )


async def _fill_products(
    cache: Cache, conn: AsyncConnection, answers: Answers, product_ids: Sequence[int]
) -> int:
    keys = cache.keys
    seen = {}
    for pid in product_ids:
        key = keys.product(pid)
        seen[pid] = await cache.backend.lookup(key, generation_key=keys.generation(key))
    bodies = await answers.products(conn, product_ids)
    written = 0
    for pid, body in bodies.items():
        key = keys.product(pid)
        written += await cache.backend.fill(
            key,
            body,
            ttl_s=cache.ttls.product_s,
            generation_key=keys.generation(key),
            seen=seen[pid].generation,
        )
    return written
