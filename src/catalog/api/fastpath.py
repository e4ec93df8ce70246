"""A pure-ASGI fast path for the hottest read: a cached `GET /api/products/{id}`.

A cache hit needs no database and no dependency, yet going through FastAPI costs matching the
request against every route before the product route and resolving the route's dependencies:
most of the time of such a request. This middleware sits innermost (inside the request id,
the HTTP metrics, the body limit and the duplicate-key check, so they all apply as before) and
answers a hit itself, with the very response the route sends (`cached.hit_response`). It
marks the request with the product route, so metrics count it under the route's template.

It steps aside to FastAPI, which then answers exactly as without it, for everything else:
another method or path, an id not written plainly (`007`, `+7`, out of range: FastAPI's
validation answers those), an ASGI `root_path`, catalogue reads that need a key
(`CATALOG_CATALOGUE_READS_NEED_KEY`: the access check stays FastAPI's), and any miss (which
the route looks up again, then builds and fills; a miss costs one more cache lookup).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from catalog.api.cached import hit_response
from catalog.bootstrap import Runtime
from catalog.domain.products import ID_MAX

PRODUCT_ROUTE = "/api/products/{product_id}"
_PREFIX = "/api/products/"
_ID_DIGITS_MAX = len(str(ID_MAX))


def product_route(routes: Sequence[BaseRoute]) -> Route:
    """The route that answers `GET /api/products/{product_id}` (what the router puts in
    `scope["route"]` for it)."""
    for context in iter_route_contexts(routes):
        route = context.original_route
        if (
            isinstance(route, Route)
            and route.path == PRODUCT_ROUTE
            and route.methods is not None
            and "GET" in route.methods
        ):
            return route
    raise LookupError(f"no GET {PRODUCT_ROUTE} route")


def plain_product_id(path: str) -> int | None:
    """The id in `/api/products/<id>` when written as FastAPI would read it the same; else None."""
    if not path.startswith(_PREFIX):
        return None
    digits = path[len(_PREFIX) :]
    if not (0 < len(digits) <= _ID_DIGITS_MAX and digits.isascii() and digits.isdigit()):
        return None
    if digits[0] == "0":
        return None
    product_id = int(digits)
    return product_id if product_id <= ID_MAX else None


class CachedProductReads:
    """Answers `GET /api/products/{id}` cache hits directly; passes every other request on."""

    def __init__(self, app: ASGIApp, *, runtime: Runtime, route: Route) -> None:
        self.app = app
        self.runtime = runtime
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            product_id = plain_product_id(scope["path"])
            if product_id is not None and not self.runtime.settings.catalogue_reads_need_key:
                cache = self.runtime.cache
                found = await cache.lookup(cache.keys.product(product_id))
                if found.value is not None:
                    # What the router would have set: metrics label the request by route.
                    scope["route"] = self.route
                    scope["endpoint"] = self.route.endpoint
                    scope["path_params"] = {"product_id": str(product_id)}
                    await hit_response(found.value)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
