"""Dashboard pages of the catalogue's work: open inventory alerts, and reports with charts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from catalog.dashboard import render
from catalog.dashboard.pages import html_errors, runtime_of
from catalog.dashboard.session import visitor
from catalog.domain.errors import NotFound
from catalog.domain.stock import StockLevel
from catalog.store import alerts, reports
from catalog.store.reports import ReportKind

router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE_SIZE = 50


@router.get("/alerts")
@html_errors
async def open_alerts(
    request: Request,
    level: StockLevel | None = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Open inventory alerts, newest first, by keyset pages."""
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    where = alerts.AlertFilter(open=True, level=level)
    async with runtime.engine.connect() as conn:
        found = await alerts.list_alerts(conn, where, before_id=before, limit=PAGE_SIZE + 1)
    items = found[:PAGE_SIZE]
    context = {
        "alerts": items,
        "level": level,
        "levels": [lvl for lvl in StockLevel if lvl is not StockLevel.IN_STOCK],
        "next_before": items[-1].id if len(found) > PAGE_SIZE else None,
    }
    return await render.page(request, runtime, who, "alerts.html", context)


def _bars(pairs: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Rows of a bar chart drawn with <meter>: label, value and the largest value as max."""
    top = max((value for _, value in pairs), default=0.0) or 1.0
    return [{"label": label, "value": value, "max": top} for label, value in pairs]


def analytics_charts(body: dict[str, Any]) -> dict[str, Any]:
    """Inventory value per category (per currency) and products per stock level."""
    currencies = sorted(body.get("inventory_value", {}))
    by_currency = {
        currency: _bars(
            [
                (c["name"], float(Decimal(c["inventory_value"].get(currency, "0"))))
                for c in body.get("categories", [])
            ]
        )
        for currency in currencies
    }
    levels = body.get("products", {}).get("by_stock_level", {})
    return {
        "value_per_category": by_currency,
        "stock_levels": _bars([(level, float(n)) for level, n in levels.items()]),
        "as_of": body.get("as_of"),
    }


@router.get("/reports")
@html_errors
async def report_list(request: Request) -> Response:
    """The latest analytics as charts, and the stored reports with CSV downloads."""
    runtime = runtime_of(request)
    who = await visitor(request, runtime)
    async with runtime.engine.connect() as conn:
        listed = await reports.list_reports(conn, kind=None, before_id=None, limit=PAGE_SIZE)
        try:
            latest = await reports.latest_report(conn, ReportKind.DAILY_ANALYTICS)
        except NotFound:
            latest = None
    context = {
        "reports": listed,
        "latest": latest,
        "charts": analytics_charts(latest.body) if latest else None,
    }
    return await render.page(request, runtime, who, "reports.html", context)
