"""Inventory alerts raised by the inventory monitor, under /api/inventory."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from catalog.api.deps import RuntimeDep
from catalog.api.pagination import (
    BAD_CURSOR,
    Cursor,
    CursorQuery,
    Page,
    decode_cursor,
    encode_cursor,
    page_size,
)
from catalog.api.timestamps import Timestamp
from catalog.api.validation import documented_errors
from catalog.domain.products import ID_MAX
from catalog.domain.stock import StockLevel
from catalog.store import alerts

router = APIRouter(prefix="/api/inventory", tags=["inventory"])

ALERT_SORT = "-id"  # newest first; the only order, named in the cursor


class AlertState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class AlertKind(StrEnum):
    LEVEL = "level"  # the stock level changed
    FORECAST = "forecast"  # predicted to run out soon


class AlertOut(BaseModel):
    id: int
    product_id: int
    kind: AlertKind
    level: StockLevel = Field(description="The level the product entered.")
    previous_level: StockLevel | None
    stock: int = Field(description="The stock when the alert was raised.")
    stockout_on: date | None = Field(description="Forecast alerts: the predicted stock-out day.")
    raised_at: Timestamp
    resolved_at: Timestamp | None = Field(description="When the level changed again; null: open")


@router.get(
    "/alerts",
    summary="Inventory alerts, newest first",
    responses=documented_errors(BAD_CURSOR),
)
async def list_alerts(
    rt: RuntimeDep,
    state: AlertState | None = None,
    level: StockLevel | None = None,
    kind: AlertKind | None = None,
    product_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    cursor: Annotated[str | None, CursorQuery] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[AlertOut]:
    """One alert per change of a product's stock level into low, critical or out of stock; it is
    resolved when the level changes again. Pass `next_cursor` back as `cursor` for more."""
    settings = rt.settings
    size = page_size(limit, settings)
    before = decode_cursor(cursor, sort=ALERT_SORT).last_id if cursor is not None else None
    where = alerts.AlertFilter(
        open=None if state is None else state is AlertState.OPEN,
        level=level,
        kind=kind,
        product_id=product_id,
    )
    async with rt.engine.connect() as conn:
        found = await alerts.list_alerts(conn, where, before_id=before, limit=size + 1)
    items = [AlertOut.model_validate(a, from_attributes=True) for a in found[:size]]
    next_cursor = None
    if len(found) > size:
        next_cursor = encode_cursor(Cursor(sort=ALERT_SORT, value=None, last_id=items[-1].id))
    return Page[AlertOut](items=items, next_cursor=next_cursor)
