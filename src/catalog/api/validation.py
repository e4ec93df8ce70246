"""Request-validation pieces shared by the catalogue's routers, and their documented errors."""

from __future__ import annotations

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


def storable(value: str) -> str:
    """`value`, if PostgreSQL can store it as text (no NUL character, say)."""
    problem = text_problem(value)
    if problem:
        raise refuse(problem)
    return value


def no_bad_keys(data: Any) -> Any:
    """Refuse a body whose keys PostgreSQL could not store, before they are echoed in errors."""
    if isinstance(data, dict):
        for key in data:
            if isinstance(key, str) and text_problem(key):
                raise refuse(f"field names {text_problem(key)}")
    return data


def documented_errors(*documented: tuple[int, str]) -> Responses:
    """OpenAPI entries for error statuses a route answers with, each a `{"detail": ...}`."""
    return {code: {"model": ErrorOut, "description": text} for code, text in documented}
