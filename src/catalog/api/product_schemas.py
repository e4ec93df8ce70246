"""Request and response shapes of the `/api/products` routes (products and their stock)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Header, Path
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from catalog.api.pagination import CURSOR_MAX_CHARS, CURSOR_PATTERN
from catalog.api.timestamps import Timestamp
from catalog.api.validation import (
    check_price_range,
    no_bad_keys,
    refuse,
    refuse_nulls,
    storable,
    without_null,
)
from catalog.domain.categories import CategoryId
from catalog.domain.products import (
    ACTOR_MAX,
    ATTRIBUTES_MAX_BYTES,
    ATTRIBUTES_MAX_KEYS,
    BRAND_MAX,
    DEFAULT_CURRENCY,
    DESCRIPTION_MAX,
    ID_MAX,
    JSON_ID_MAX,
    NAME_MAX,
    REASON_MAX,
    SKU_MAX,
    STOCK_MAX,
    TAG_MAX,
    TAGS_MAX,
    Product,
    ProductFilter,
    ProductSort,
    ProductStatus,
    attributes_problem,
    currency_problem,
    normalize_tags,
    price_problem,
)
from catalog.domain.stock import StockLevel

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
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "exclusiveMaximum": 1e10, "multipleOf": 0.01},
                {"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$"},
            ],
            "examples": ["19.99"],
        }
    ),
]
Currency = Annotated[
    str,
    Field(description="ISO 4217 code", examples=["USD"], pattern="^[A-Z]{3}$"),
    AfterValidator(_currency),
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
CategoryRef = Annotated[StrictInt, Field(gt=0, le=JSON_ID_MAX, description="An existing category")]
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
_NULLABLE = ("brand", "expected_version")


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

    model_config = ConfigDict(extra="forbid", json_schema_extra=without_null(*_NULLABLE))

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
        le=JSON_ID_MAX,
        description="If given, the change applies only if the product is still at this "
        "version (409 otherwise)",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_stock(cls, data: Any) -> Any:
        data = no_bad_keys(data)
        if isinstance(data, dict) and "stock" in data:
            raise refuse(
                "stock cannot be changed with PATCH: use POST /api/products/<id>/stock with a "
                "delta or set and a reason, so that the change is recorded as a stock movement"
            )
        return data

    @model_validator(mode="after")
    def _no_nulls(self) -> ProductPatch:
        refuse_nulls(self, *_NULLABLE)
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
    cursor: str | None = Field(
        default=None,
        min_length=1,
        max_length=CURSOR_MAX_CHARS,
        pattern=CURSOR_PATTERN,
        description="next_cursor of the previous page, passed back as it was given",
    )
    limit: int | None = Field(
        default=None, ge=1, description="Page size; defaults and maximum are configured"
    )

    @model_validator(mode="after")
    def _check(self) -> ProductQuery:
        check_price_range(self.min_price, self.max_price)
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


PRODUCT_NOT_FOUND = (404, "No such live product")
