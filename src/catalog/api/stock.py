"""A product's stock: changing it (each change a recorded movement) and listing its movements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from catalog.api.deps import RuntimeDep, SessionDep
from catalog.api.pagination import (
    BAD_CURSOR,
    Cursor,
    CursorQuery,
    Page,
    decode_cursor,
    encode_cursor,
    page_size,
)
from catalog.api.product_schemas import (
    PRODUCT_NOT_FOUND,
    Actor,
    ProductIdPath,
)
from catalog.api.products import evict_product
from catalog.api.stock_schemas import MovementOut, StockChangeIn, StockChangeOut
from catalog.api.validation import documented_errors
from catalog.domain.products import DEFAULT_ACTOR, ProductId
from catalog.store import stock as stock_store

router = APIRouter(prefix="/api/products", tags=["products"])

_MOVEMENTS_SORT = "-id"  # the only order of a movement list: newest first


@router.post(
    "/{product_id}/stock",
    summary="Change a product's stock",
    responses=documented_errors(
        PRODUCT_NOT_FOUND, (409, "Stock would go below 0; nothing changed")
    ),
)
async def change_stock(
    product_id: ProductIdPath,
    body: StockChangeIn,
    session: SessionDep,
    runtime: RuntimeDep,
    actor: Actor = DEFAULT_ACTOR,
) -> StockChangeOut:
    """Add `delta` units (negative removes) or `set` the counted stock, with a `reason`; the
    change and its movement record commit together. Stock never goes below 0 (409). Concurrent
    changes to one product queue up: none is lost."""
    conn = await session.connection()
    if body.delta is not None:
        movement = await stock_store.adjust_stock(
            conn, ProductId(product_id), delta=body.delta, reason=body.reason, actor=actor
        )
    else:
        assert body.set_to is not None
        movement = await stock_store.set_stock(
            conn, ProductId(product_id), stock=body.set_to, reason=body.reason, actor=actor
        )
    await session.commit()
    await evict_product(runtime.cache, product_id)
    return StockChangeOut.of(movement)


@router.get(
    "/{product_id}/stock-movements",
    summary="List a product's stock movements",
    responses=documented_errors(PRODUCT_NOT_FOUND, BAD_CURSOR),
)
async def list_stock_movements(
    product_id: ProductIdPath,
    runtime: RuntimeDep,
    session: SessionDep,
    cursor: Annotated[str | None, CursorQuery] = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size")] = None,
) -> Page[MovementOut]:
    """The product's stock movements, newest first, one page at a time."""
    size = page_size(limit, runtime.settings)
    before_id = None
    if cursor is not None:
        before_id = decode_cursor(cursor, sort=_MOVEMENTS_SORT).last_id
    conn = await session.connection()
    movements = await stock_store.list_movements(
        conn, ProductId(product_id), before_id=before_id, limit=size + 1
    )
    next_cursor = None
    if len(movements) > size:
        next_cursor = encode_cursor(
            Cursor(sort=_MOVEMENTS_SORT, value=None, last_id=movements[size - 1].id)
        )
    return Page[MovementOut](
        items=[MovementOut.of(m) for m in movements[:size]], next_cursor=next_cursor
    )
