"""Products: the `/api/products` routes other than stock (see api/stock.py).

Routes validate, call the store, and commit; errors are domain errors mapped in api/errors.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.api.cached import cached_json
from catalog.api.deps import RuntimeDep, SessionDep
from catalog.api.pagination import (
    BAD_CURSOR,
    Cursor,
    InvalidCursor,
    Page,
    decode_cursor,
    encode_cursor,
    page_size,
)
from catalog.api.product_schemas import (
    PRODUCT_NOT_FOUND,
    Actor,
    ProductIdPath,
    ProductIn,
    ProductOut,
    ProductPatch,
    ProductQuery,
)
from catalog.api.stock_forecast import ProductDetailOut, details_of
from catalog.api.validation import documented_errors
from catalog.cache.cache_aside import Cache
from catalog.domain.categories import CategoryId
from catalog.domain.products import (
    DEFAULT_ACTOR,
    NewProduct,
    ProductId,
    ProductSort,
    price_problem,
)
from catalog.store import products as product_store
from catalog.store.products import Position, SortValue

router = APIRouter(prefix="/api/products", tags=["products"])

_UNKNOWN_CATEGORY = (404, "No such category")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a product",
    responses=documented_errors((409, "SKU in use"), _UNKNOWN_CATEGORY),
)
async def create_product(
    body: ProductIn, session: SessionDep, actor: Actor = DEFAULT_ACTOR
) -> ProductOut:
    """Create a product in an existing category. A non-zero initial `stock` is recorded as the
    product's first stock movement, by the `X-Actor` header's actor."""
    conn = await session.connection()
    product = await product_store.insert_product(
        conn,
        NewProduct(
            sku=body.sku,
            name=body.name,
            description=body.description,
            category_id=CategoryId(body.category_id),
            brand=body.brand,
            price=body.price,
            currency=body.currency,
            stock=body.stock,
            status=body.status,
            tags=tuple(body.tags),
            attributes=body.attributes,
        ),
        actor=actor,
    )
    await session.commit()
    return ProductOut.of(product)


@router.get(
    "",
    summary="List products",
    responses=documented_errors(BAD_CURSOR, _UNKNOWN_CATEGORY),
)
async def list_products(
    query: Annotated[ProductQuery, Query()], runtime: RuntimeDep, session: SessionDep
) -> Page[ProductOut]:
    """Live products matching every filter given, one page at a time. Pass `next_cursor` back
    as `cursor` with the same `sort` to get the next page; it is null on the last page."""
    limit = page_size(query.limit, runtime.settings)
    after = None
    if query.cursor is not None:
        after = _position(decode_cursor(query.cursor, sort=query.sort.value), query.sort)
    conn = await session.connection()
    page = await product_store.list_products(
        conn, query.filters(), sort=query.sort, after=after, limit=limit
    )
    next_cursor = None
    if page.next is not None:
        next_cursor = encode_cursor(
            Cursor(
                sort=query.sort.value,
                value=_sort_text(page.next.value),
                last_id=page.next.last_id,
            )
        )
    return Page[ProductOut](
        items=[ProductOut.of(product) for product in page.items], next_cursor=next_cursor
    )


@router.get(
    "/{product_id}",
    summary="Get a product",
    response_model=ProductDetailOut,
    responses=documented_errors(PRODUCT_NOT_FOUND),
)
async def get_product(product_id: ProductIdPath, runtime: RuntimeDep) -> Response:
    """The product with its stock-out forecast, unless it does not exist or was deleted (cached;
    a stock change evicts it)."""

    async def build() -> ProductDetailOut:
        async with runtime.sessions() as session:
            return await product_answer(await session.connection(), ProductId(product_id))

    cache = runtime.cache
    return await cached_json(
        cache, cache.keys.product(product_id), ttl_s=cache.ttls.product_s, build=build
    )


async def product_answer(conn: AsyncConnection, product_id: ProductId) -> ProductDetailOut:
    """`GET /api/products/{id}`'s answer; raises ProductNotFound (a 404, never cached)."""
    (detail,) = await details_of(conn, [await product_store.get_product(conn, product_id)])
    return detail


@router.patch(
    "/{product_id}",
    summary="Change a product",
    responses=documented_errors(
        PRODUCT_NOT_FOUND, (409, "SKU in use, or not at expected_version"), _UNKNOWN_CATEGORY
    ),
)
async def update_product(
    product_id: ProductIdPath, body: ProductPatch, session: SessionDep, runtime: RuntimeDep
) -> ProductOut:
    """Change the fields given and bump `version`. `stock` is refused here (422): change it
    with `POST /api/products/{id}/stock`, which records a movement."""
    conn = await session.connection()
    product = await product_store.update_product(
        conn,
        ProductId(product_id),
        changes=body.changes(),
        expected_version=body.expected_version,
    )
    await session.commit()
    await evict_product(runtime.cache, product_id)
    return ProductOut.of(product)


@router.delete(
    "/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a product",
    responses=documented_errors(PRODUCT_NOT_FOUND),
)
async def delete_product(
    product_id: ProductIdPath, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Soft-delete the product: it disappears at once and frees its SKU; the row is purged by
    the monthly cleanup after 90 days."""
    conn = await session.connection()
    await product_store.soft_delete_product(conn, ProductId(product_id))
    await session.commit()
    await evict_product(runtime.cache, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def evict_product(cache: Cache, product_id: int) -> None:
    """The writer's own eviction of the product's copy, so that its next read sees the change
    (the change-log invalidation follows in any case, for every process and every writer)."""
    await cache.evict([cache.keys.product(product_id)])


def _position(cursor: Cursor, sort: ProductSort) -> Position:
    """The typed position in `cursor`, checked as strictly as any other input."""
    raw = cursor.value
    value: SortValue
    if sort.key == "id":
        if raw is not None:
            raise InvalidCursor("malformed cursor: bad position")
        return Position(value=None, last_id=cursor.last_id)
    if raw is None:
        raise InvalidCursor("malformed cursor: bad position")
    if sort.key == "name":
        value = raw
    elif sort.key == "price":
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise InvalidCursor("malformed cursor: bad position") from None
        if price_problem(value):
            raise InvalidCursor("malformed cursor: bad position")
    else:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidCursor("malformed cursor: bad position") from None
        if value.tzinfo is None:
            raise InvalidCursor("malformed cursor: bad position")
    return Position(value=value, last_id=cursor.last_id)


def _sort_text(value: SortValue) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)
