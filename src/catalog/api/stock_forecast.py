"""A product's stock-out forecast as `GET /api/products/{id}` shows it (catalog.store.forecast)."""

from __future__ import annotations

from collections.abc import Sequence
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


class ProductDetailOut(ProductOut):
    """One product as `GET /api/products/{id}` shows it: with its stock-out forecast."""

    stock_forecast: StockForecastOut = Field(
        description="Demand forecast from the last 28 days' stock movements, as of today (UTC)."
    )

    @classmethod
    def with_forecast(cls, product: Product, forecast: StockForecastOut) -> ProductDetailOut:
        return cls(**ProductOut.of(product).model_dump(), stock_forecast=forecast)


def _shown(found: forecast.Forecast) -> StockForecastOut:
    return StockForecastOut(
        daily_demand=round(found.daily_demand, 4),
        days_of_cover=None if found.days_of_cover is None else round(found.days_of_cover, 2),
        stockout_on=found.stockout_on,
    )


async def details_of(conn: AsyncConnection, products: Sequence[Product]) -> list[ProductDetailOut]:
    """Each product with its forecast as of today (UTC), from one query over movements."""
    stocks: dict[int, int] = {product.id: product.stock for product in products}
    found = await forecast.product_forecasts(conn, stocks, today=datetime.now(UTC).date())
    return [ProductDetailOut.with_forecast(p, _shown(found[p.id])) for p in products]
