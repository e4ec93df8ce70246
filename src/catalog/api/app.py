"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from catalog.api import (
    access,
    backgroundjobs,
    cache,
    categories,
    errors,
    inventory,
    products,
    recurring,
    reports,
    services,
    triggers,
)
from catalog.bootstrap import Runtime


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
    errors.install(app)
    access.install(app)
    app.add_middleware(errors.BodySizeLimit, max_bytes=runtime.settings.max_body_bytes)

    # Deny by default: roles per route, or this machine only while no key exists.
    for management in (
        backgroundjobs.router,
        recurring.router,
        services.router,
        cache.router,
        triggers.router,
    ):
        app.include_router(management, dependencies=[Depends(access.management_access)])
    for catalogue in (categories.router, products.router, inventory.router, reports.router):
        app.include_router(catalogue, dependencies=[Depends(access.catalogue_access)])

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
