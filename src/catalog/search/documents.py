"""Search documents: one per live product, built from PostgreSQL in a few set-based queries.

A document carries what search filters, sorts, facets and shows: the product's own fields, its
category with the path above it (ids and names, so that a category filter takes subcategories
and a hit shows where it sits), its stock level and a digest of everything, which reconcile
compares to find stale documents without comparing field by field.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.stock import level_of
from catalog.store.tables import categories, product_popularity, products

MAX_PATH_DEPTH = 64  # a walk up the tree stops here, whatever the data says


@dataclass(frozen=True)
class ProductDocument:
    """What the search index holds of one live product."""

    id: int
    sku: str
    name: str
    description: str
    brand: str | None
    category_id: int | None
    category_ids: tuple[int, ...]  # the path from the root down to the category itself
    category_names: tuple[str, ...]
    price: Decimal
    currency: str
    stock: int
    stock_level: str
    status: str
    tags: tuple[str, ...]
    popularity: float
    created_at: datetime
    updated_at: datetime

    @property
    def digest(self) -> int:
        """A 63-bit fingerprint of the whole document: equal digests, equal documents."""
        raw = hashlib.blake2b(self.to_json().encode(), digest_size=8).digest()
        return int.from_bytes(raw, "big") >> 1

    def to_source(self) -> dict[str, object]:
        """The document as JSON-able values (what a hit shows)."""
        # Field by field, not `dataclasses.asdict`: that deep-copies every value and cost more
        # than the whole index write of a document during a rebuild.
        source: dict[str, object] = {name: getattr(self, name) for name in _FIELD_NAMES}
        source["price"] = f"{self.price:.2f}"
        source["category_ids"] = list(self.category_ids)
        source["category_names"] = list(self.category_names)
        source["tags"] = list(self.tags)
        source["created_at"] = self.created_at.isoformat()
        source["updated_at"] = self.updated_at.isoformat()
        return source

    def to_json(self) -> str:
        return self._json

    @cached_property
    def _json(self) -> str:
        # Computed once: the digest and the stored source both need it.
        return json.dumps(self.to_source(), sort_keys=True, separators=(",", ":"))


_FIELD_NAMES = tuple(f.name for f in fields(ProductDocument))


@dataclass(frozen=True)
class CategoryPaths:
    """Every category's path from the root, computed once from the whole (small) tree."""

    parents: Mapping[int, int | None]
    names: Mapping[int, str]

    def path(self, category_id: int | None) -> tuple[tuple[int, ...], tuple[str, ...]]:
        if category_id is None or category_id not in self.names:
            return (), ()
        ids: list[int] = []
        node: int | None = category_id
        while node is not None and node in self.names and len(ids) < MAX_PATH_DEPTH:
            ids.append(node)
            node = self.parents.get(node)
        ids.reverse()
        return tuple(ids), tuple(self.names[i] for i in ids)


async def load_category_paths(conn: AsyncConnection) -> CategoryPaths:
    rows = (
        await conn.execute(sa.select(categories.c.id, categories.c.parent_id, categories.c.name))
    ).all()
    return CategoryPaths(
        parents={row.id: row.parent_id for row in rows}, names={row.id: row.name for row in rows}
    )


_COLUMNS = (
    products.c.id,
    products.c.sku,
    products.c.name,
    products.c.description,
    products.c.brand,
    products.c.category_id,
    products.c.price,
    products.c.currency,
    products.c.stock,
    products.c.status,
    products.c.tags,
    # Scores live in their own table (catalog.store.popularity); a product without one has 0.
    sa.func.coalesce(
        sa.select(product_popularity.c.popularity)
        .where(product_popularity.c.product_id == products.c.id)
        .scalar_subquery(),
        0,
    ).label("popularity"),
    products.c.created_at,
    products.c.updated_at,
)


def build_document(row: Any, paths: CategoryPaths) -> ProductDocument:
    """The document of a row of `_COLUMNS` (a SQLAlchemy row)."""
    ids, names = paths.path(row.category_id)
    return ProductDocument(
        id=row.id,
        sku=row.sku,
        name=row.name,
        description=row.description,
        brand=row.brand,
        category_id=row.category_id,
        category_ids=ids,
        category_names=names,
        price=row.price,
        currency=row.currency,
        stock=row.stock,
        stock_level=level_of(row.stock).value,
        status=row.status,
        tags=tuple(row.tags),
        popularity=float(row.popularity or 0),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def load_documents(
    conn: AsyncConnection, product_ids: Iterable[int], *, paths: CategoryPaths | None = None
) -> dict[int, ProductDocument]:
    """The documents of those of `product_ids` that are live; the others are to be deleted."""
    wanted = sorted(set(product_ids))
    if not wanted:
        return {}
    if paths is None:
        paths = await load_category_paths(conn)
    rows = await conn.execute(
        sa.select(*_COLUMNS).where(products.c.id.in_(wanted), products.c.deleted_at.is_(None))
    )
    return {row.id: build_document(row, paths) for row in rows}


async def products_in_categories(conn: AsyncConnection, category_ids: Sequence[int]) -> list[int]:
    """Every product (live or not) filed under any of `category_ids` or below them."""
    if not category_ids:
        return []
    down = (
        sa.select(categories.c.id)
        .where(categories.c.id.in_(list(category_ids)))
        .cte("subtree", recursive=True)
    )
    child = categories.alias("child")
    down = down.union(sa.select(child.c.id).where(child.c.parent_id == down.c.id))
    rows = await conn.execute(
        sa.select(products.c.id).where(products.c.category_id.in_(sa.select(down.c.id)))
    )
    return [row.id for row in rows]


async def iter_documents(
    conn: AsyncConnection, *, batch_size: int, paths: CategoryPaths | None = None
) -> AsyncIterator[list[ProductDocument]]:
    """Every live product's document, in id order, `batch_size` at a time (keyset paging).

    Unless the caller holds a transaction on `conn`, each page is read in a transaction of its
    own: a read open for a whole catalogue (a rebuild or reconcile of a million products takes
    minutes) would hold back every change-log reader on the server until it ends
    (catalog.store.changelog). A page may then see changes made after an earlier one; the change
    log replays those.
    """

    def page_transaction() -> contextlib.AbstractAsyncContextManager[object]:
        return contextlib.nullcontext() if conn.in_transaction() else conn.begin()

    if paths is None:
        async with page_transaction():
            paths = await load_category_paths(conn)
    after = 0
    while True:
        async with page_transaction():
            rows = (
                await conn.execute(
                    sa.select(*_COLUMNS)
                    .where(products.c.id > after, products.c.deleted_at.is_(None))
                    .order_by(products.c.id)
                    .limit(batch_size)
                )
            ).all()
        if not rows:
            return
        yield [build_document(row, paths) for row in rows]
        after = rows[-1].id


async def count_live_products(conn: AsyncConnection) -> int:
    count = await conn.scalar(
        sa.select(sa.func.count()).select_from(products).where(products.c.deleted_at.is_(None))
    )
    return int(count or 0)
