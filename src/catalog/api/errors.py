"""Map domain errors and malformed requests to HTTP responses, in one place."""

from __future__ import annotations

import logging

import psycopg
import psycopg_pool
import sqlalchemy.exc
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from catalog.search.backend import SearchUnavailable

log = logging.getLogger(__name__)

SEARCH_RETRY_AFTER_S = 5
_STATUS = ((NotFound, 404), (Conflict, 409), (InvalidInput, 422))


def status_of(error: DomainError) -> int:
    for family, status in _STATUS:
        if isinstance(error, family):
            return status
    return 400


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse({"detail": exc.message}, status_code=status_of(exc))


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        problems.append({"loc": error.get("loc"), "msg": error.get("msg"), "field": location})
    summary = "; ".join(f"{p['field']}: {p['msg']}" for p in problems) or "invalid request"
    return JSONResponse({"detail": summary, "errors": problems}, status_code=422)


def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database restarting or unreachable: the client may retry; the broken connection has
    # been dropped from the pool already.
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def _search_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("search unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": f"search is unavailable: {exc}; retry shortly"},
        status_code=503,
        headers={"Retry-After": str(SEARCH_RETRY_AFTER_S)},
    )


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error; see the server log"}, status_code=500)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=headers or None
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    path = request.url.path
    for route in iter_route_contexts(request.app.routes):
        if route.path is not None and route.methods and compile_path(route.path)[0].match(path):
            methods |= set(route.methods)
    return sorted(methods)


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unavailable in (
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.InterfaceError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
        psycopg_pool.PoolTimeout,
    ):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(SearchUnavailable, _search_unavailable)
    app.add_exception_handler(Exception, _unexpected_error)


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413 before anything reads them whole."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            # bytes.isdigit() is ASCII-only (unlike str.isdigit(), which takes "²").
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self._refuse(send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body larger than {self.max_bytes} bytes"}, status_code=413
        )
        await response({"type": "http"}, _no_receive, send)


class _BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI's body parsing lets HTTP exceptions through unchanged."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
