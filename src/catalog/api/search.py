"""`GET /api/search`: full-text product search with filters, facets, sorts and pages.

The index is kept in step with the catalogue by the `search-sync` service (a commit is
searchable within about a second). Before its first build, and while the search server is
down, the route answers 503 with `Retry-After`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.functional_validators import AfterValidator
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.api.deps import RuntimeDep
from catalog.api.pagination import page_size
from catalog.api.product_schemas import Brand, Price
from catalog.api.validation import check_price_range, documented_errors, storable
from catalog.domain.errors import InvalidInput
from catalog.domain.products import ID_MAX, ProductStatus
from catalog.domain.stock import StockLevel
from catalog.search.query import (
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_QUERY_CHARS,
    FacetValue,
    SearchQuery,
    SearchSort,
)
from catalog.store.tables import categories

router = APIRouter(prefix="/api/search", tags=["search"])

BRANDS_MAX = 20  # brands one query may ask for


class SearchParams(BaseModel):
    """What to search for, how to filter and order the hits, and which page."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, StringConstraints(max_length=MAX_QUERY_CHARS), AfterValidator(storable)] = (
        Field(
            default="",
            description="Words to find (a word found in the name weighs more than one in the "
            "description; words of 5 letters or more match with one typo), or an exact SKU. "
            "Empty: every product.",
        )
    )
    category: Annotated[int, Field(gt=0, le=ID_MAX)] | None = Field(
        default=None, description="This category and all its subcategories"
    )
    brand: list[Brand] = Field(
        default=[], max_length=BRANDS_MAX, description="Repeat to match any of several (exact)"
    )
    min_price: Price | None = None
    max_price: Price | None = None
    stock_level: list[StockLevel] = Field(
        default=[], description="Repeat to match any of several levels"
    )
    status: list[ProductStatus] = Field(default=[], description="Repeat to match any of several")
    sort: SearchSort = Field(
        default=SearchSort.RELEVANCE,
        description="relevance (best first; newest first when q is empty), price (cheapest "
        "first), -price, popularity (most popular first), newest",
    )
    page: int = Field(default=1, ge=1, le=MAX_OFFSET, description="1 for the first page")
    page_size: int | None = Field(
        default=None, ge=1, description="Hits per page; defaults and maximum are configured"
    )

    @model_validator(mode="after")
    def _check(self) -> SearchParams:
        check_price_range(self.min_price, self.max_price)
        return self


class SearchHit(BaseModel):
    id: int
    score: float | None = Field(description="Relevance; null unless sorted by relevance")
    sku: str
    name: str
    description: str
    brand: str | None
    category_id: int | None
    category_ids: list[int] = Field(description="The category's path from the root")
    category_names: list[str]
    price: Decimal
    currency: str
    stock: int
    stock_level: StockLevel
    status: ProductStatus
    tags: list[str]
    popularity: float
    created_at: str
    updated_at: str


class FacetBucket(BaseModel):
    value: str = Field(description="A category id, brand, stock level or price band ('10-50')")
    count: int
    label: str | None = Field(default=None, description="A category's name")


class SearchFacets(BaseModel):
    category: list[FacetBucket] = Field(description="Hits per (direct) category, top 20")
    brand: list[FacetBucket]
    stock_level: list[FacetBucket]
    price: list[FacetBucket] = Field(description="Hits per price band, '*' an open end")


class SearchPage(BaseModel):
    hits: list[SearchHit]
    total: int = Field(description="Every hit, across all pages")
    page: int
    page_size: int
    facets: SearchFacets = Field(description="Counts over every hit, whatever the page")


class CategoryLabels:
    """The category facet's labels (category names), kept between searches while the index
    stays the same: a rename reaches the index by re-indexing the category's products, so a
    new index version is the cue to read the names again. A backend that reports no version
    gets them read on every search."""

    def __init__(self) -> None:
        self._version: str | None = None
        self._names: dict[str, str | None] = {}

    async def of(
        self, engine: AsyncEngine, version: str | None, buckets: list[FacetValue]
    ) -> dict[str, str]:
        wanted = [bucket.value for bucket in buckets if bucket.value.isdigit()]
        if version is None or version != self._version:
            self._version, self._names = version, {}
        kept = self._names
        missing = [value for value in wanted if value not in kept]
        found: dict[str, str | None] = {}
        if missing:
            async with engine.connect() as conn:
                rows = await conn.execute(
                    sa.select(categories.c.id, categories.c.name).where(
                        categories.c.id.in_([int(value) for value in missing])
                    )
                )
                found = dict.fromkeys(missing) | {str(row.id): row.name for row in rows}
            if version is not None and kept is self._names:
                # Kept unless a newer version started over meanwhile (this read may predate it).
                kept.update(found)
        names = kept | found  # every wanted value is in one or the other
        return {value: name for value in wanted if (name := names[value]) is not None}


@router.get(
    "",
    summary="Search products",
    responses=documented_errors(
        (422, "Malformed parameters, a query over 500 characters, or a page past hit 10,000"),
        (503, "The search index is not built yet, or its server is down; see Retry-After"),
    ),
)
async def search_products(
    params: Annotated[SearchParams, Query()], rt: RuntimeDep, request: Request
) -> SearchPage:
    """Live products matching the words and every filter, with facet counts over all hits.
    Everything in the catalogue is found when `q` is empty."""
    largest = min(rt.settings.page_size_max, MAX_LIMIT)
    if params.page_size is not None and params.page_size > largest:
        raise InvalidInput(f"page_size must be at most {largest}")
    limit = min(page_size(params.page_size, rt.settings), largest)
    offset = (params.page - 1) * limit
    if offset + limit > MAX_OFFSET:
        raise InvalidInput(
            f"page {params.page} of {limit} hits reaches past hit {MAX_OFFSET:,}:"
            " narrow the search instead"
        )
    result = await rt.search.search(
        SearchQuery(
            text=params.q,
            category_id=params.category,
            brands=tuple(params.brand),
            min_price=params.min_price,
            max_price=params.max_price,
            stock_levels=tuple(level.value for level in params.stock_level),
            statuses=tuple(status.value for status in params.status),
            sort=params.sort,
            offset=offset,
            limit=limit,
        )
    )
    labels: CategoryLabels = request.app.state.category_labels
    category_labels = await labels.of(rt.engine, result.version, result.facets.get("category", []))

    def buckets(name: str) -> list[FacetBucket]:
        return [
            FacetBucket(value=f.value, count=f.count, label=f.label or category_labels.get(f.value))
            if name == "category"
            else FacetBucket(value=f.value, count=f.count, label=f.label)
            for f in result.facets.get(name, [])
        ]

    return SearchPage(
        hits=[
            SearchHit.model_validate({**hit.source, "id": hit.id, "score": hit.score})
            for hit in result.hits
        ],
        total=result.total,
        page=params.page,
        page_size=limit,
        facets=SearchFacets(
            category=buckets("category"),
            brand=buckets("brand"),
            stock_level=buckets("stock_level"),
            price=buckets("price"),
        ),
    )
