"""Operations endpoints: /metrics (Prometheus), /health/live and /health/ready."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from catalog.api import access
from catalog.api.deps import RuntimeDep
from catalog.api.validation import documented_errors
from catalog.observability import health, work_metrics
from catalog.observability.http_metrics import HttpMetrics

router = APIRouter(tags=["operations"])


async def _metrics_access(request: Request, runtime: RuntimeDep) -> None:
    """A scrape token (CATALOG_METRICS_TOKEN) lets a scraper in; otherwise a viewer."""
    token = runtime.settings.metrics_token
    if token:
        secret = access.bearer_secret(request)
        if secret is not None and hmac.compare_digest(secret.encode(), token.encode()):
            return
    await access.authorize(runtime, request, access.Role.VIEWER)


@router.get(
    "/metrics",
    summary="Prometheus metrics: background work (read at scrape time) and this process's HTTP",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}},
        **documented_errors(
            (401, "No key, or an unknown or revoked one (or a wrong scrape token)"),
            (403, "The key's role is too low, or the client is not local"),
        ),
    },
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    await _metrics_access(request, runtime)
    async with runtime.work.pool.connection() as conn:
        families = await work_metrics.collect(
            conn,
            services=runtime.work.services,
            worker_stalled_after_s=runtime.settings.worker_stalled_after_s,
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(work_metrics.Snapshot(families))
    http: HttpMetrics = request.app.state.http_metrics
    body = generate_latest(registry) + generate_latest(http.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/health/live", summary="The process is up and serving")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    summary="Each dependency's status and latency; 503 when one this process needs is down",
    responses={503: {"description": "A dependency this process needs is down"}},
)
async def ready(runtime: RuntimeDep) -> JSONResponse:
    checks = await health.readiness(runtime.resources)
    ok = all(check.ok for check in checks if check.required)
    body: dict[str, Any] = {
        "status": "ok" if ok else "unavailable",
        "checks": {
            check.name: {
                "ok": check.ok,
                "required": check.required,
                "latency_ms": check.latency_ms,
                "error": check.error,
            }
            for check in checks
        },
    }
    return JSONResponse(body, status_code=200 if ok else 503)
