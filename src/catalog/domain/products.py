"""Products and their stock movements: the types, the limits and the rules every writer obeys."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType

from catalog.domain.categories import CategoryId
from catalog.domain.errors import Conflict, InsufficientStock
from catalog.domain.stock import StockLevel, level_of

ProductId = NewType("ProductId", int)
MovementId = NewType("MovementId", int)

# Column limits; the CHECKs in migration 0001 agree where they exist.
SKU_MAX = 64
NAME_MAX = 300
DESCRIPTION_MAX = 10_000
BRAND_MAX = 100
TAGS_MAX = 50
TAG_MAX = 50
ATTRIBUTES_MAX_KEYS = 100
ATTRIBUTES_MAX_BYTES = 20_000  # serialized as compact JSON
ATTRIBUTES_MAX_DEPTH = 10  # nesting of objects and arrays below the top-level object
PRICE_MAX_INTEGER_DIGITS = 10  # numeric(12, 2)
PRICE_DECIMALS = 2
REASON_MAX = 500
ACTOR_MAX = 100
DEFAULT_CURRENCY = "USD"
DEFAULT_ACTOR = "api"
INITIAL_STOCK_REASON = "initial stock"

STOCK_MAX = 2**31 - 1  # PostgreSQL integer
ID_MAX = 2**63 - 1  # PostgreSQL bigint
# An id in a JSON body: the largest integer every JSON reader (a double) holds exactly.
JSON_ID_MAX = 2**53 - 1

_CURRENCY = re.compile(r"[A-Z]{3}")
_CENT = Decimal(1).scaleb(-PRICE_DECIMALS)


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class ProductSort(StrEnum):
    """The orders a product list can come in; a leading '-' means descending. Ties break on id."""

    ID = "id"
    ID_DESC = "-id"
    NAME = "name"  # case-insensitive, by code point
    PRICE = "price"
    PRICE_DESC = "-price"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    UPDATED_AT = "updated_at"
    UPDATED_AT_DESC = "-updated_at"

    @property
    def key(self) -> str:
        """The field sorted on."""
        return self.value.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")


# Fields a partial update may change; stock changes only through a stock movement.
PATCHABLE_FIELDS = frozenset(
    {
        "sku",
        "name",
        "description",
        "category_id",
        "brand",
        "price",
        "currency",
        "status",
        "tags",
        "attributes",
    }
)


@dataclass(frozen=True)
class Product:
    id: ProductId
    sku: str
    name: str
    description: str
    category_id: CategoryId | None
    brand: str | None
    price: Decimal
    currency: str
    stock: int
    status: ProductStatus
    tags: tuple[str, ...]
    attributes: Mapping[str, object]
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def stock_level(self) -> StockLevel:
        return level_of(self.stock)


@dataclass(frozen=True)
class NewProduct:
    """What a caller supplies to create a product; the rest is the database's to fill in."""

    sku: str
    name: str
    category_id: CategoryId
    price: Decimal
    description: str = ""
    brand: str | None = None
    currency: str = DEFAULT_CURRENCY
    stock: int = 0
    status: ProductStatus = ProductStatus.ACTIVE
    tags: tuple[str, ...] = ()
    attributes: Mapping[str, object] | None = None


@dataclass(frozen=True)
class ProductFilter:
    """Which live products a list shows; every set field narrows it (levels and statuses OR)."""

    category_id: CategoryId | None = None  # this category and all below it
    brand: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    stock_levels: tuple[StockLevel, ...] = ()
    available: bool | None = None  # True: stock > 0; False: stock == 0
    statuses: tuple[ProductStatus, ...] = ()
    q: str | None = None  # case-insensitive prefix of the name or the SKU


@dataclass(frozen=True)
class StockMovement:
    id: MovementId
    product_id: ProductId
    delta: int
    stock_before: int
    stock_after: int
    reason: str
    actor: str
    created_at: datetime

    @property
    def stock_level(self) -> StockLevel:
        """The product's level right after this movement."""
        return level_of(self.stock_after)


class VersionMismatch(Conflict):
    def __init__(self, product_id: int, *, expected: int, actual: int) -> None:
        super().__init__(
            f"product {product_id} is at version {actual}, not {expected}; "
            "read it again and reapply your change"
        )
        self.product_id = product_id
        self.expected = expected
        self.actual = actual


class StockOverflow(Conflict):
    def __init__(self, product_id: int, stock: int, delta: int) -> None:
        super().__init__(
            f"stock of product {product_id} is {stock}; a change of {delta} would exceed "
            f"the maximum of {STOCK_MAX}"
        )
        self.product_id = product_id
        self.stock = stock
        self.delta = delta


def stock_after(product_id: int, *, stock: int, delta: int) -> int:
    """The stock once `delta` is applied, refusing to go below zero or above STOCK_MAX."""
    after = stock + delta
    if after < 0:
        raise InsufficientStock(product_id, stock, delta)
    if after > STOCK_MAX:
        raise StockOverflow(product_id, stock, delta)
    return after


def text_problem(value: str) -> str | None:
    """Why PostgreSQL cannot store `value` as text, or None if it can."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    # Lone surrogates (from JSON like "\ud800") cannot be encoded as UTF-8.
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "must not contain unpaired surrogate characters"
    return None


def currency_problem(value: str) -> str | None:
    if not _CURRENCY.fullmatch(value):
        return "must be an ISO 4217 code: three uppercase letters such as USD"
    return None


def price_problem(value: Decimal) -> str | None:
    """Why `value` is not a storable price (numeric(12, 2), not negative), or None."""
    if not value.is_finite():
        return "must be a finite number"
    if value < 0:
        return "must not be negative"
    # Magnitude first: quantizing a huge value would overflow the decimal context.
    if value >= Decimal(10) ** PRICE_MAX_INTEGER_DIGITS:
        return f"must have at most {PRICE_MAX_INTEGER_DIGITS} digits before the decimal point"
    if value != value.quantize(_CENT):
        return f"must have at most {PRICE_DECIMALS} decimal places"
    return None


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """`tags` stripped, with empty ones and repeats dropped, first occurrence first."""
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = tag.strip()
        if cleaned:
            seen.setdefault(cleaned, None)
    return tuple(seen)


def attributes_problem(attributes: Mapping[str, object]) -> str | None:
    """Why `attributes` cannot be stored as a product's JSON attributes, or None if it can."""
    if len(attributes) > ATTRIBUTES_MAX_KEYS:
        return f"at most {ATTRIBUTES_MAX_KEYS} keys"
    # Walk without recursion: the depth is what is being checked.
    pending: list[tuple[object, int]] = [(attributes, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > ATTRIBUTES_MAX_DEPTH and isinstance(value, Mapping | list | tuple):
            return f"nested at most {ATTRIBUTES_MAX_DEPTH} levels deep"
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return f"strings {problem}"
        elif isinstance(value, float):
            # JSON has no NaN or Infinity; PostgreSQL's jsonb refuses them.
            if value != value or value in (float("inf"), float("-inf")):
                return "numbers must be finite"
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    return "keys must be strings"
                problem = text_problem(key)
                if problem:
                    return f"keys {problem}"
                pending.append((item, depth + 1))
        elif isinstance(value, list | tuple):
            pending.extend((item, depth + 1) for item in value)
        elif value is not None and not isinstance(value, bool | int):
            return f"values must be JSON; got {type(value).__name__}"
    size = len(json.dumps(attributes, separators=(",", ":"), ensure_ascii=False).encode())
    if size > ATTRIBUTES_MAX_BYTES:
        return f"at most {ATTRIBUTES_MAX_BYTES} bytes as JSON; got {size}"
    return None
