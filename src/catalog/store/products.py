"""Product queries: create, read, update, soft-delete, and the filtered keyset-paginated list.

Every function runs on the caller's connection and never commits. Statements that can break a
constraint run in a savepoint, so the domain error they become leaves the transaction usable.

Each list order has an index on (key, id), so a page is a short index range scan whatever the
table's size; the name order walks the lower(name) text_pattern_ops index in its own `~<~`
byte order and breaks ties by id with an incremental sort. A category filter is resolved to its
subtree's ids first, and a `q` search runs as two disjoint halves (name match, SKU match) so
that each can use its prefix index: see `list_products_query`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.categories import CategoryId, UnknownCategory
from catalog.domain.errors import DuplicateSku, InvalidInput, ProductNotFound
from catalog.domain.products import (
    INITIAL_STOCK_REASON,
    PATCHABLE_FIELDS,
    NewProduct,
    Product,
    ProductFilter,
    ProductId,
    ProductSort,
    ProductStatus,
    VersionMismatch,
)
from catalog.domain.stock import stock_bounds
from catalog.store import categories as category_store
from catalog.store.stock import insert_movement
from catalog.store.tables import products

_SKU_KEY = "products_sku_live_key"
_CATEGORY_FKEY = "products_category_id_fkey"
# Orders with a (category_id, key, id) index, listed per category and merged.
_CATEGORY_ORDERED_KEYS = frozenset({"id", "price"})
CATEGORY_SPLIT_MAX = 64  # a larger subtree is left to the planner as one = ANY(...) condition
_LIVE_NEEDS_CATEGORY = "products_check"

_ID_ARRAY = ARRAY(sa.BigInteger)

SortValue = Decimal | datetime | str | None


@dataclass(frozen=True)
class Position:
    """Where a sorted list stopped: the last row's sort value (None for the id sort) and id."""

    value: SortValue
    last_id: int


@dataclass(frozen=True)
class ProductPage:
    items: list[Product]
    next: Position | None  # None on the last page


async def insert_product(conn: AsyncConnection, new: NewProduct, *, actor: str) -> Product:
    """Create a product; an initial stock is recorded as its first movement."""
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    sa.insert(products)
                    .values(
                        sku=new.sku,
                        name=new.name,
                        description=new.description,
                        category_id=new.category_id,
                        brand=new.brand,
                        price=new.price,
                        currency=new.currency,
                        stock=new.stock,
                        status=new.status.value,
                        tags=list(new.tags),
                        attributes=dict(new.attributes or {}),
                    )
                    .returning(*products.c)
                )
            ).one()
    except IntegrityError as exc:
        _raise_for(exc, sku=new.sku, category_id=new.category_id)
    product = _product(row)
    if product.stock:
        await insert_movement(
            conn,
            product.id,
            delta=product.stock,
            stock_before=0,
            stock_after=product.stock,
            reason=INITIAL_STOCK_REASON,
            actor=actor,
        )
    return product


async def get_product(conn: AsyncConnection, product_id: ProductId) -> Product:
    """The live product `product_id`; a soft-deleted one is not found."""
    row = (
        await conn.execute(
            sa.select(products).where(products.c.id == product_id, products.c.deleted_at.is_(None))
        )
    ).one_or_none()
    if row is None:
        raise ProductNotFound(product_id)
    return _product(row)


async def get_products(conn: AsyncConnection, product_ids: Sequence[int]) -> list[Product]:
    """The live products among `product_ids`, in one query (missing or deleted ones left out)."""
    rows = await conn.execute(
        sa.select(products).where(
            products.c.id.in_(list(product_ids)), products.c.deleted_at.is_(None)
        )
    )
    return [_product(row) for row in rows]


async def update_product(
    conn: AsyncConnection,
    product_id: ProductId,
    *,
    changes: Mapping[str, object],
    expected_version: int | None = None,
) -> Product:
    """Apply `changes` (fields of PATCHABLE_FIELDS) and bump the version; `expected_version`,
    if given, must still be current."""
    unknown = set(changes) - PATCHABLE_FIELDS
    if unknown:
        raise ValueError(f"not patchable: {sorted(unknown)}")
    if not changes:
        product = await get_product(conn, product_id)
        if expected_version is not None and product.version != expected_version:
            raise VersionMismatch(product_id, expected=expected_version, actual=product.version)
        return product
    values: dict[str, object] = dict(changes)
    if "status" in values:
        values["status"] = ProductStatus(str(values["status"])).value
    tags = values.get("tags")
    if isinstance(tags, tuple):
        values["tags"] = list(tags)
    query = sa.update(products).where(products.c.id == product_id, products.c.deleted_at.is_(None))
    if expected_version is not None:
        query = query.where(products.c.version == expected_version)
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    query.values(
                        **values, version=products.c.version + 1, updated_at=sa.func.now()
                    ).returning(*products.c)
                )
            ).one_or_none()
    except IntegrityError as exc:
        category_id = changes.get("category_id")
        _raise_for(
            exc,
            sku=str(changes.get("sku")),
            category_id=category_id if isinstance(category_id, int) else None,
        )
    if row is None:
        current = await get_product(conn, product_id)  # raises ProductNotFound
        assert expected_version is not None
        raise VersionMismatch(product_id, expected=expected_version, actual=current.version)
    return _product(row)


async def soft_delete_product(conn: AsyncConnection, product_id: ProductId) -> None:
    """Mark the product deleted; its row stays for the 90-day cleanup and frees its SKU."""
    deleted = await conn.scalar(
        sa.update(products)
        .where(products.c.id == product_id, products.c.deleted_at.is_(None))
        .values(deleted_at=sa.func.now(), updated_at=sa.func.now(), version=products.c.version + 1)
        .returning(products.c.id)
    )
    if deleted is None:
        raise ProductNotFound(product_id)


async def list_products(
    conn: AsyncConnection,
    filters: ProductFilter,
    *,
    sort: ProductSort,
    after: Position | None,
    limit: int,
) -> ProductPage:
    """Up to `limit` live products matching `filters` in `sort` order, after `after` if set."""
    category_ids = None
    if filters.category_id is not None:
        category_ids = await category_store.subtree_of(conn, filters.category_id)
        if not category_ids:
            raise UnknownCategory(filters.category_id)
    query = list_products_query(
        filters, sort=sort, after=after, limit=limit + 1, category_ids=category_ids
    )
    rows = (await conn.execute(query)).all()
    items = [_product(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return ProductPage(items=items, next=None)
    last = rows[limit - 1]
    value = None if sort.key == "id" else last.sort_key
    return ProductPage(items=items, next=Position(value=value, last_id=last.id))


def list_products_query(
    filters: ProductFilter,
    *,
    sort: ProductSort,
    after: Position | None,
    limit: int,
    category_ids: Sequence[CategoryId] | None,
) -> sa.Select[tuple[object, ...]] | sa.CompoundSelect[tuple[object, ...]]:
    """The SELECT behind `list_products`, exposed so that tests can EXPLAIN it.

    `category_ids` is the subtree of `filters.category_id`, resolved beforehand: as literal
    values the planner can estimate how many products they hold, which a recursive CTE hides.
    """
    if (filters.category_id is None) != (category_ids is None):
        raise ValueError("category_ids must be the resolved subtree of filters.category_id")
    key = _sort_key(sort)
    where = [products.c.deleted_at.is_(None), *_conditions(filters)]
    split_by_category = (
        category_ids is not None
        and not filters.q
        and sort.key in _CATEGORY_ORDERED_KEYS
        and len(category_ids) <= CATEGORY_SPLIT_MAX
    )
    if category_ids is not None and not split_by_category:
        where.append(products.c.category_id == sa.any_(sa.literal(list(category_ids), _ID_ARRAY)))
    if after is not None:
        where.append(_after(sort, key, after))

    def page(*extra: sa.ColumnElement[bool]) -> sa.Select[tuple[object, ...]]:
        query = sa.select(products, key.label("sort_key")).where(*where, *extra)
        return _ordered(query, sort, key, products.c.id, name_key="lower(products.name)")

    if split_by_category:
        assert category_ids is not None
        # One ordered range scan of the (category_id, key, id) index per category, merged:
        # walking the whole key index and filtering by category would read past every other
        # category's products first (a department priced above min_price, say).
        if len(category_ids) == 1:
            return page(products.c.category_id == category_ids[0]).limit(limit)
        parts = [page(products.c.category_id == c).limit(limit) for c in category_ids]
        # Ordered and limited as a whole, without a subquery: building a subquery's column
        # proxies for every part costs more CPU than the query takes to run.
        key_column: sa.ColumnElement[object] = sa.literal_column("sort_key")
        id_column: sa.ColumnElement[object] = sa.literal_column("id")
        if sort.descending:
            key_column, id_column = key_column.desc(), id_column.desc()
        return sa.union_all(*parts).order_by(key_column, id_column).limit(limit)
    if not filters.q:
        return page().limit(limit)
    # A match on the name or on the SKU, as two disjoint halves merged: each half can use its
    # own prefix index, and with sort=name the name half is one range of the name index. As one
    # OR the planner would, for the name order, walk that index from the start.
    pattern = sa.func.lower(_escape_like(filters.q) + "%")  # lower() as the indexes hold it
    name_matches = sa.func.lower(products.c.name).like(pattern)
    sku_matches = sa.func.lower(products.c.sku).like(pattern)
    matches = sa.union_all(
        page(name_matches).limit(limit), page(sku_matches, sa.not_(name_matches)).limit(limit)
    ).subquery("matches")
    merged = sa.select(matches)
    return _ordered(
        merged, sort, matches.c.sort_key, matches.c.id, name_key="matches.sort_key"
    ).limit(limit)


def _ordered(
    query: sa.Select[tuple[object, ...]],
    sort: ProductSort,
    key: sa.ColumnElement[object],
    id_: sa.ColumnElement[object],
    *,
    name_key: str,
) -> sa.Select[tuple[object, ...]]:
    if sort is ProductSort.NAME:
        # USING ~<~ is the order of the text_pattern_ops index, which can then supply it.
        return query.order_by(sa.literal_column(f"{name_key} USING ~<~"), id_)
    if sort.descending:
        return query.order_by(key.desc(), id_.desc())
    return query.order_by(key, id_)


def _conditions(filters: ProductFilter) -> list[sa.ColumnElement[bool]]:
    """The conditions of the filters but the category's and q (see list_products_query)."""
    where: list[sa.ColumnElement[bool]] = []
    if filters.brand is not None:
        where.append(products.c.brand == filters.brand)
    if filters.min_price is not None:
        where.append(products.c.price >= filters.min_price)
    if filters.max_price is not None:
        where.append(products.c.price <= filters.max_price)
    if filters.stock_levels:
        ranges = []
        for level in dict.fromkeys(filters.stock_levels):
            low, high = stock_bounds(level)
            ranges.append(
                products.c.stock >= low if high is None else products.c.stock.between(low, high)
            )
        where.append(sa.or_(*ranges))
    if filters.available is not None:
        where.append(products.c.stock > 0 if filters.available else products.c.stock == 0)
    if filters.statuses:
        where.append(products.c.status.in_([s.value for s in dict.fromkeys(filters.statuses)]))
    return where


def _sort_key(sort: ProductSort) -> sa.ColumnElement[object]:
    return {
        "id": products.c.id,
        "name": sa.func.lower(products.c.name),
        "price": products.c.price,
        "created_at": products.c.created_at,
        "updated_at": products.c.updated_at,
    }[sort.key]


def _after(
    sort: ProductSort, key: sa.ColumnElement[object], after: Position
) -> sa.ColumnElement[bool]:
    """Rows strictly past `after` in `sort` order (the sort key, then id)."""
    if sort.key == "id":
        return products.c.id < after.last_id if sort.descending else products.c.id > after.last_id
    if sort is ProductSort.NAME:
        # The first condition bounds the index scan; the second drops the ties already shown.
        return sa.and_(
            key.op("~>=~")(after.value),
            sa.or_(key.op("~>~")(after.value), products.c.id > after.last_id),
        )
    position = sa.tuple_(
        sa.literal(after.value, key.type), sa.literal(after.last_id, sa.BigInteger)
    )
    row = sa.tuple_(key, products.c.id)
    return row < position if sort.descending else row > position


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _raise_for(exc: IntegrityError, *, sku: str, category_id: int | None) -> NoReturn:
    """Raise the domain error for the constraint `exc` violated (or `exc` itself)."""
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if constraint == _SKU_KEY:
        raise DuplicateSku(sku) from None
    if constraint == _CATEGORY_FKEY and category_id is not None:
        raise UnknownCategory(category_id) from None
    if constraint == _LIVE_NEEDS_CATEGORY:
        raise InvalidInput("a product needs a category") from None
    raise exc


def _product(row: sa.Row[tuple[object, ...]]) -> Product:
    return Product(
        id=ProductId(row.id),
        sku=row.sku,
        name=row.name,
        description=row.description,
        category_id=None if row.category_id is None else CategoryId(row.category_id),
        brand=row.brand,
        price=row.price,
        currency=row.currency,
        stock=row.stock,
        status=ProductStatus(row.status),
        tags=tuple(row.tags),
        attributes=row.attributes,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
