"""Request-validation pieces shared by the catalogue's routers, and their documented errors."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from catalog.domain.products import text_problem

Responses = dict[int | str, dict[str, Any]]


class ErrorOut(BaseModel):
    detail: str


def refuse(message: str) -> PydanticCustomError:
    """A validation error with exactly `message`."""
    # The message goes through the context so that braces in it are never read as placeholders.
    return PydanticCustomError("invalid", "{message}", {"message": message})


def check_price_range(low: Decimal | None, high: Decimal | None) -> None:
    """Refuse a price range whose minimum is above its maximum."""
    if low is not None and high is not None and low > high:
        raise refuse("min_price must not exceed max_price")


def storable(value: str) -> str:
    """`value`, if PostgreSQL can store it as text (no NUL character, say)."""
    problem = text_problem(value)
    if problem:
        raise refuse(problem)
    return value


def no_bad_keys(data: Any) -> Any:
    """Refuse a body whose keys PostgreSQL could not store, before they are echoed in errors.

    A field given as a whole float (38698.0) comes back as the integer it is: JSON Schema and
    JavaScript hold 38698.0 to be an integer, so strict integer fields take it too."""
    if isinstance(data, dict):
        for key in data:
            if isinstance(key, str) and text_problem(key):
                raise refuse(f"field names {text_problem(key)}")
        return {key: _integral(value) for key, value in data.items()}
    return data


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


def documented_errors(*documented: tuple[int, str]) -> Responses:
    """OpenAPI entries for error statuses a route answers with, each a `{"detail": ...}`."""
    return {code: {"model": ErrorOut, "description": text} for code, text in documented}


SchemaEdit = Callable[[dict[str, Any]], None]
NOT_ZERO: dict[str, Any] = {"not": {"const": 0}}  # json_schema_extra of a number never 0


def without_null(*nullable: str, **extra: Any) -> SchemaEdit:
    """A `json_schema_extra` saying what `refuse_nulls` enforces: optional fields may be left
    out, but only those in `nullable` may be sent as null. `extra` is merged in as it is (a
    `not`/`oneOf` saying which fields go together, say)."""

    def edit(schema: dict[str, Any]) -> None:
        for name, prop in schema.get("properties", {}).items():
            if name in nullable:
                continue
            options = prop.pop("anyOf", None)
            if options is not None:
                rest = [option for option in options if option.get("type") != "null"]
                if len(rest) == 1:
                    prop.update(rest[0])
                else:
                    prop["anyOf"] = rest
            if "default" in prop and prop["default"] is None:
                del prop["default"]
        schema.update(extra)

    return edit


def refuse_nulls(model: BaseModel, *nullable: str) -> None:
    """Refuse an explicit null for any field given but those in `nullable`."""
    for name in sorted(model.model_fields_set - set(nullable)):
        if getattr(model, name) is None:
            field = type(model).model_fields[name]
            raise refuse(f"{field.alias or name} cannot be null; leave it out instead")
