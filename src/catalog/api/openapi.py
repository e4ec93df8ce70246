"""The OpenAPI document says every status a route can answer, with the body it answers.

Routes document what is theirs (404 for their resource, 409 for their conflicts) with
`responses=`; what every route of a kind can answer is added here, in one place, so that a new
route is documented as soon as it exists:

- 401 and 403 on every route behind an access guard (a dependency marked `guards_access`);
- 400 (a body that is not JSON) and 413 (a body over the configured size) where a body is read;
- 422 in the shape the API really sends, `{"detail": "...", "errors": [...]}`;
- 503 (the database is unavailable; retry) on every route but the liveness probes;
- the configured maximum page size as the `maximum` of every `limit` that has none of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from pydantic import BaseModel, Field

from catalog.api.validation import ErrorOut

_NO_DATABASE = frozenset({"/healthz", "/health/live"})
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")

F = TypeVar("F", bound=Callable[..., Any])


class ProblemOut(BaseModel):
    loc: list[str | int] = Field(description="Where: body, query, path or header, then names.")
    msg: str
    field: str = Field(description="`loc` joined with dots, e.g. body.price.")


class ValidationErrorOut(BaseModel):
    """A request the API refuses: `detail` says why in one line; `errors` lists each problem
    when the request failed validation (absent when a business rule refused it)."""

    detail: str
    errors: list[ProblemOut] = Field(default_factory=list)


def guards_access(dependency: F) -> F:
    """Mark `dependency` as one that can answer 401 or 403 (documented on its routes)."""
    dependency.guards_access = True  # type: ignore[attr-defined]
    return dependency


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }


def _validation(description: str = "The request is not one the API accepts") -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/ValidationErrorOut"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _add(responses: dict[str, Any], status: int, entry: dict[str, Any]) -> None:
    responses.setdefault(str(status), entry)


def _page_limit(operation: dict[str, Any], page_size_max: int) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "query" or parameter.get("name") != "limit":
            continue
        schema = parameter.get("schema", {})
        for option in [schema, *schema.get("anyOf", [])]:
            if option.get("type") == "integer" and "maximum" not in option:
                option["maximum"] = page_size_max


def _document(
    path: str, method: str, operation: dict[str, Any], route: RouteContext | None
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    dependant = getattr(route, "dependant", None)
    guarded = isinstance(dependant, Dependant) and any(
        getattr(call, "guards_access", False) for call in _calls(dependant)
    )
    if guarded:
        _add(responses, 401, _error("No API key, or an unknown or revoked one"))
        _add(responses, 403, _error("The key's role is too low, or the client is not local"))
    if "requestBody" in operation:
        _add(responses, 400, _error("The body is not JSON"))
        _add(responses, 413, _error("The body is larger than the configured maximum"))
    if "422" in responses:
        responses["422"] = _validation(responses["422"].get("description", ""))
    elif operation.get("parameters") or "requestBody" in operation:
        responses["422"] = _validation()
    if path not in _NO_DATABASE:
        _add(responses, 503, _error("The database is unavailable; retry shortly"))


def _components(doc: dict[str, Any]) -> None:
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    for model in (ErrorOut, ValidationErrorOut):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema


def build(app: FastAPI) -> dict[str, Any]:
    page_size_max: int = app.state.runtime.settings.page_size_max
    doc = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    routes = {
        (route.path_format, method.lower()): route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        for method in route.methods or ()
    }
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            _document(path, method, operation, routes.get((path, method)))
            _page_limit(operation, page_size_max)
    _components(doc)
    return doc


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
