"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from catalog.api import (
    access,
    backgroundjobs,
    cache,
    categories,
    errors,
    fastpath,
    inventory,
    json_body,
    keys,
    meta,
    openapi,
    products,
    recurring,
    reports,
    search,
    services,
    stock,
    triggers,
)
from catalog.bootstrap import Runtime
from catalog.dashboard import wiring as dashboard
from catalog.observability.http_metrics import HttpMetrics, HttpMetricsMiddleware
from catalog.observability.logs import RequestContext


def create_app(runtime: Runtime) -> FastAPI:
    """The HTTP API over an already opened `runtime` (its owner closes it)."""
    app = FastAPI(
        title="Product Catalog Service",
        summary="Products, categories and stock, with reliable background work.",
        version="0.1.0",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.runtime = runtime
    app.state.category_labels = search.CategoryLabels()
    openapi.install(app)
    errors.install(app)
    access.install(app)

    # Deny by default: roles per route, or this machine only while no key exists.
    for management in (
        backgroundjobs.router,
        recurring.router,
        services.router,
        cache.router,
        triggers.router,
        keys.router,
    ):
        app.include_router(management, dependencies=[Depends(access.management_access)])
    for catalogue in (
        categories.router,
        products.router,
        stock.router,
        inventory.router,
        reports.router,
        search.router,
    ):
        app.include_router(catalogue, dependencies=[Depends(access.catalogue_access)])

    app.include_router(meta.router)
    dashboard.install(app, login_attempts_per_min=runtime.settings.login_attempts_per_min)

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # Innermost first: cache hits of GET /api/products/{id} skip routing and dependencies.
    app.add_middleware(
        fastpath.CachedProductReads, runtime=runtime, route=fastpath.product_route(app.routes)
    )
    app.add_middleware(json_body.RefuseDuplicateKeys)  # inside the size limit
    app.add_middleware(errors.BodySizeLimit, max_bytes=runtime.settings.max_body_bytes)
    app.state.http_metrics = HttpMetrics()
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.http_metrics)
    app.add_middleware(RequestContext)  # outermost: the request id covers everything

    return app
