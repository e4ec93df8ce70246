"""A product's stock-out forecast as `GET /api/products/{id}` shows it (catalog.store.forecast)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.api.product_schemas import ProductOut
from catalog.domain.products import Product
from catalog.store import forecast


class StockForecastOut(BaseModel):
    daily_demand: float = Field(
        description="Forecast units a day: exponential smoothing of the last 28 days' outflow."
    )
    days_of_cover: float | None = Field(description="stock / daily_demand; null: no demand.")
    stockout_on: date | None = Field(description="Predicted stock-out day (UTC); null: none.")


async def stock_forecast_of(
    conn: AsyncConnection, product_id: int, *, stock: int
) -> StockForecastOut:
    """The forecast of a product holding `stock`, from its movements, as of today (UTC)."""
    found = await forecast.product_forecast(
        conn, product_id, stock=stock, today=datetime.now(UTC).date()
    )
    return StockForecastOut(
        daily_demand=round(found.daily_demand, 4),
        days_of_cover=None if found.days_of_cover is None else round(found.days_of_cover, 2),
        stockout_on=found.stockout_on,
    )


class ProductDetailOut(ProductOut):
    """One product as `GET /api/products/{id}` shows it: with its stock-out forecast."""

    stock_forecast: StockForecastOut = Field(
        description="Demand forecast from the last 28 days' stock movements, as of today (UTC)."
    )

    @classmethod
    def with_forecast(cls, product: Product, forecast: StockForecastOut) -> ProductDetailOut:
        return cls(**ProductOut.of(product).model_dump(), stock_forecast=forecast)
