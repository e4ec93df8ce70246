"""Request and response shapes of a product's stock: a change, and the movements it records."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from catalog.api.product_schemas import Reason
from catalog.api.timestamps import Timestamp
from catalog.api.validation import (
    NOT_ZERO,
    no_bad_keys,
    refuse,
    refuse_nulls,
    without_null,
)
from catalog.domain.products import STOCK_MAX, StockMovement
from catalog.domain.stock import StockLevel

_ONE_OF = [{"required": ["delta"]}, {"required": ["set"]}]


class StockChangeIn(BaseModel):
    """Exactly one of `delta` (add; negative removes) or `set` (an absolute count), and why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=without_null(oneOf=_ONE_OF))

    delta: (
        Annotated[StrictInt, Field(ge=-STOCK_MAX, le=STOCK_MAX, json_schema_extra=NOT_ZERO)] | None
    ) = Field(default=None, description="Units to add; negative to remove; not 0")
    set_to: Annotated[StrictInt, Field(ge=0, le=STOCK_MAX)] | None = Field(
        default=None, alias="set", description="The new stock, as counted"
    )
    reason: Reason

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return no_bad_keys(data)

    @model_validator(mode="after")
    def _one_change(self) -> StockChangeIn:
        refuse_nulls(self)
        if (self.delta is None) == (self.set_to is None):
            raise refuse("give exactly one of delta or set")
        if self.delta == 0:
            raise refuse("delta must not be 0; to record a count, use set")
        return self


class StockChangeOut(BaseModel):
    product_id: int
    movement_id: int
    delta: int
    stock_before: int
    stock_after: int
    stock_level: StockLevel
    reason: str
    actor: str
    created_at: Timestamp

    @classmethod
    def of(cls, movement: StockMovement) -> StockChangeOut:
        return cls(
            product_id=movement.product_id,
            movement_id=movement.id,
            delta=movement.delta,
            stock_before=movement.stock_before,
            stock_after=movement.stock_after,
            stock_level=movement.stock_level,
            reason=movement.reason,
            actor=movement.actor,
            created_at=movement.created_at,
        )


class MovementOut(BaseModel):
    id: int
    product_id: int
    delta: int
    stock_before: int
    stock_after: int
    reason: str
    actor: str
    created_at: Timestamp

    @classmethod
    def of(cls, movement: StockMovement) -> MovementOut:
        return cls(
            id=movement.id,
            product_id=movement.product_id,
            delta=movement.delta,
            stock_before=movement.stock_before,
            stock_after=movement.stock_after,
            reason=movement.reason,
            actor=movement.actor,
            created_at=movement.created_at,
        )
