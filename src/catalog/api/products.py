"""Products and their stock: the `/api/products` routes and their request and response shapes.

Routes validate, call the store, and commit; errors are domain errors mapped in api/errors.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response, status
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from catalog.api.deps import RuntimeDep, SessionDep
from catalog.api.pagination import Cursor, InvalidCursor, Page, decode_cursor, encode_cursor
from catalog.api.timestamps import Timestamp
from catalog.api.validation import documented_errors, no_bad_keys, refuse, storable
from catalog.domain.categories import CategoryId
from catalog.domain.errors import InvalidInput
from catalog.domain.products import (
    ACTOR_MAX,
    ATTRIBUTES_MAX_BYTES,
    ATTRIBUTES_MAX_KEYS,
    BRAND_MAX,
    DEFAULT_ACTOR,
    DEFAULT_CURRENCY,
    DESCRIPTION_MAX,
    ID_MAX,
    NAME_MAX,
    REASON_MAX,
    SKU_MAX,
    STOCK_MAX,
    TAG_MAX,
    TAGS_MAX,
    NewProduct,
    Product,
    ProductFilter,
    ProductId,
    ProductSort,
    ProductStatus,
    StockMovement,
    attributes_problem,
    currency_problem,
    normalize_tags,
    price_problem,
)
from catalog.domain.stock import StockLevel
from catalog.settings import Settings
from catalog.store import products as product_store
from catalog.store import stock as stock_store
from catalog.store.products import Position, SortValue

router = APIRouter(prefix="/api/products", tags=["products"])

_MOVEMENTS_SORT = "-id"  # the only order of a movement list: newest first

Q_MAX = 100  # a search prefix longer than any name or SKU worth typing


def _price(value: Decimal) -> Decimal:
    problem = price_problem(value)
    if problem:
        raise refuse(f"price {problem}")
    return value


def _currency(value: str) -> str:
    problem = currency_problem(value)
    if problem:
        raise refuse(problem)
    return value


def _attributes(value: dict[str, Any]) -> dict[str, Any]:
    problem = attributes_problem(value)
    if problem:
        raise refuse(f"attributes: {problem}")
    return value


def _tags(value: list[str]) -> list[str]:
    return list(normalize_tags(value))


Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=SKU_MAX),
    AfterValidator(storable),
]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(storable),
]
Description = Annotated[
    str, StringConstraints(max_length=DESCRIPTION_MAX), AfterValidator(storable)
]
Brand = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=BRAND_MAX),
    AfterValidator(storable),
]
Price = Annotated[
    Decimal,
    Field(
        description="At least 0, at most 2 decimal places and 10 digits before the point; "
        'a string such as "19.99" keeps it exact',
        examples=["19.99"],
    ),
    AfterValidator(_price),
]
Currency = Annotated[
    str, Field(description="ISO 4217 code", examples=["USD"]), AfterValidator(_currency)
]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_MAX),
    AfterValidator(storable),
]
Tags = Annotated[
    list[Tag],
    Field(max_length=TAGS_MAX, description="Repeats are dropped, first occurrence kept"),
    AfterValidator(_tags),
]
Attributes = Annotated[
    dict[str, Any],
    Field(
        description=f"A free-form JSON object: at most {ATTRIBUTES_MAX_KEYS} keys and "
        f"{ATTRIBUTES_MAX_BYTES} bytes",
        examples=[{"color": "red", "sizes": [38, 39, 40]}],
    ),
    AfterValidator(_attributes),
]
Stock = Annotated[StrictInt, Field(ge=0, le=STOCK_MAX)]
CategoryRef = Annotated[StrictInt, Field(gt=0, le=ID_MAX, description="An existing category")]
ProductIdPath = Annotated[int, Path(gt=0, le=ID_MAX, description="The product's id")]
Actor = Annotated[
    str,
    Header(
        alias="X-Actor",
        min_length=1,
        max_length=ACTOR_MAX,
        description="Who makes the change, recorded with stock movements",
    ),
    AfterValidator(storable),
]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX),
    AfterValidator(storable),
]

_STRICT = ConfigDict(extra="forbid")


class ProductIn(BaseModel):
    """A new product."""

    model_config = _STRICT

    sku: Sku = Field(description="Unique among live products")
    name: Name
    description: Description = ""
    category_id: CategoryRef
    brand: Brand | None = None
    price: Price
    currency: Currency = DEFAULT_CURRENCY
    stock: Stock = Field(default=0, description="Initial stock, recorded as the first movement")
    status: ProductStatus = ProductStatus.ACTIVE
    tags: Tags = []
    attributes: Attributes = {}

    @model_validator(mode="before")
    @classmethod
    def _keys(cls, data: Any) -> Any:
        return no_bad_keys(data)


class ProductPatch(BaseModel):
    """Changes to a product: only the fields given change. Stock changes through its own
    endpoint, so that every change of stock is a recorded movement."""

    model_config = _STRICT

    sku: Sku | None = None
    name: Name | None = None
    description: Description | None = None
    category_id: CategoryRef | None = None
    brand: Brand | None = Field(default=None, description="null clears the brand")
    price: Price | None = None
    currency: Currency | None = None
    status: ProductStatus | None = None
    tags: Tags | None = None
    attributes: Attributes | None = Field(default=None, description="Replaces the whole object")
    expected_version: StrictInt | None = Field(
        default=None,
        ge=1,
        le=ID_MAX,
        description="If given, the change applies only if the product is still at this "
        "version (409 otherwise)",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_stock(cls, data: Any) -> Any:
        no_bad_keys(data)
        if isinstance(data, dict) and "stock" in data:
            raise refuse(
                "stock cannot be changed with PATCH: use POST /api/products/<id>/stock with a "
                "delta or set and a reason, so that the change is recorded as a stock movement"
            )
        return data

    @model_validator(mode="after")
    def _no_nulls(self) -> ProductPatch:
        for name in self.model_fields_set - {"brand", "expected_version"}:
            if getattr(self, name) is None:
                raise refuse(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, object]:
        return {
            name: getattr(self, name)
            for name in self.model_fields_set
            if name != "expected_version"
        }


class ProductOut(BaseModel):
    id: int
    sku: str
    name: str
    description: str
    category_id: int | None
    brand: str | None
    price: str = Field(examples=["19.99"])
    currency: str
    stock: int
    status: ProductStatus
    tags: list[str]
    attributes: dict[str, Any]
    stock_level: StockLevel
    version: int
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            category_id=product.category_id,
            brand=product.brand,
            price=f"{product.price:.2f}",
            currency=product.currency,
            stock=product.stock,
            status=product.status,
            tags=list(product.tags),
            attributes=dict(product.attributes),
            stock_level=product.stock_level,
            version=product.version,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ProductQuery(BaseModel):
    """Filters, order and page of a product list."""

    model_config = _STRICT

    category_id: Annotated[int, Field(gt=0, le=ID_MAX)] | None = Field(
        default=None, description="This category and all its subcategories"
    )
    brand: Brand | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    stock_level: list[StockLevel] = Field(
        default=[], description="Repeat to match any of several levels"
    )
    available: bool | None = Field(
        default=None, description="true: in stock (stock > 0); false: out of stock"
    )
    status: list[ProductStatus] = Field(default=[], description="Repeat to match any of several")
    q: (
        Annotated[str, StringConstraints(min_length=1, max_length=Q_MAX), AfterValidator(storable)]
        | None
    ) = Field(default=None, description="Case-insensitive prefix of the name or the SKU")
    sort: ProductSort = Field(
        default=ProductSort.ID,
        description="A leading '-' means descending; ties break on id. name sorts "
        "case-insensitively, by code point",
    )
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")
    limit: int | None = Field(
        default=None, ge=1, description="Page size; defaults and maximum are configured"
    )

    @model_validator(mode="after")
    def _check(self) -> ProductQuery:
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise refuse("min_price must not exceed max_price")
        return self

    def filters(self) -> ProductFilter:
        return ProductFilter(
            category_id=None if self.category_id is None else CategoryId(self.category_id),
            brand=self.brand,
            min_price=self.min_price,
            max_price=self.max_price,
            stock_levels=tuple(self.stock_level),
            available=self.available,
            statuses=tuple(self.status),
            q=self.q,
        )


class StockChangeIn(BaseModel):
    """Exactly one of `delta` (add; negative removes) or `set` (an absolute count), and why."""

    model_config = _STRICT

    delta: Annotated[StrictInt, Field(ge=-STOCK_MAX, le=STOCK_MAX)] | None = Field(
        default=None, description="Units to add; negative to remove; not 0"
    )
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


_NOT_FOUND = (404, "No such live product")
_UNKNOWN_CATEGORY = (422, "Invalid input, or an unknown category")
_BAD_CURSOR = (400, "Malformed cursor, or one issued for another sort")


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
    responses=documented_errors(_BAD_CURSOR, _UNKNOWN_CATEGORY),
)
async def list_products(
    query: Annotated[ProductQuery, Query()], runtime: RuntimeDep, session: SessionDep
) -> Page[ProductOut]:
    """Live products matching every filter given, one page at a time. Pass `next_cursor` back
    as `cursor` with the same `sort` to get the next page; it is null on the last page."""
    limit = _page_size(query.limit, runtime.settings)
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


@router.get("/{product_id}", summary="Get a product", responses=documented_errors(_NOT_FOUND))
async def get_product(product_id: ProductIdPath, session: SessionDep) -> ProductOut:
    """The product, unless it does not exist or was deleted."""
    conn = await session.connection()
    return ProductOut.of(await product_store.get_product(conn, ProductId(product_id)))


@router.patch(
    "/{product_id}",
    summary="Change a product",
    responses=documented_errors(
        _NOT_FOUND, (409, "SKU in use, or not at expected_version"), _UNKNOWN_CATEGORY
    ),
)
async def update_product(
    product_id: ProductIdPath, body: ProductPatch, session: SessionDep
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
    return ProductOut.of(product)


@router.delete(
    "/{product_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a product",
    responses=documented_errors(_NOT_FOUND),
)
async def delete_product(product_id: ProductIdPath, session: SessionDep) -> Response:
    """Soft-delete the product: it disappears at once and frees its SKU; the row is purged by
    the monthly cleanup after 90 days."""
    conn = await session.connection()
    await product_store.soft_delete_product(conn, ProductId(product_id))
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{product_id}/stock",
    summary="Change a product's stock",
    responses=documented_errors(_NOT_FOUND, (409, "Stock would go below 0; nothing changed")),
)
async def change_stock(
    product_id: ProductIdPath,
    body: StockChangeIn,
    session: SessionDep,
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
    return StockChangeOut.of(movement)


@router.get(
    "/{product_id}/stock-movements",
    summary="List a product's stock movements",
    responses=documented_errors(_NOT_FOUND, _BAD_CURSOR),
)
async def list_stock_movements(
    product_id: ProductIdPath,
    runtime: RuntimeDep,
    session: SessionDep,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size")] = None,
) -> Page[MovementOut]:
    """The product's stock movements, newest first, one page at a time."""
    size = _page_size(limit, runtime.settings)
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


def _page_size(limit: int | None, settings: Settings) -> int:
    if limit is None:
        return min(settings.page_size_default, settings.page_size_max)
    if limit > settings.page_size_max:
        raise InvalidInput(f"limit must be at most {settings.page_size_max}")
    return limit


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
