"""Typed errors of the domain; the API maps each family to one HTTP status in one place.

DomainError
├── NotFound          404  (ProductNotFound, CategoryNotFound, JobNotFound, ...)
├── Conflict          409  (DuplicateSku, CategoryInUse, InsufficientStock, IllegalTransition)
└── InvalidInput      422  (a value that passes type checks but breaks a rule)
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can cause and be told about."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The thing asked for does not exist (or no longer does)."""


class Conflict(DomainError):
    """The request is valid but clashes with the current state; nothing was changed."""


class InvalidInput(DomainError):
    """A value breaks a business rule that the schema alone cannot express."""


class ProductNotFound(NotFound):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"product {product_id} not found")
        self.product_id = product_id


class CategoryNotFound(NotFound):
    def __init__(self, category_id: int) -> None:
        super().__init__(f"category {category_id} not found")
        self.category_id = category_id


class DuplicateSku(Conflict):
    def __init__(self, sku: str) -> None:
        super().__init__(f"a product with SKU {sku!r} already exists")
        self.sku = sku


class CategoryInUse(Conflict):
    """A category still has products or subcategories."""


class InsufficientStock(Conflict):
    def __init__(self, product_id: int, stock: int, delta: int) -> None:
        super().__init__(
            f"stock of product {product_id} is {stock}; a change of {delta} would make it negative"
        )
        self.product_id = product_id
        self.stock = stock
        self.delta = delta


class IllegalTransition(Conflict):
    """An operation that the object's current state does not allow (retrying a running job)."""
