"""Stored reports (daily analytics, weekly inventory), as JSON or CSV, under /api/reports.

A report's JSON is read through the cache (filled by the job that made it, or here on a miss);
CSV is rendered from it.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from catalog import report_cache
from catalog.api.deps import RuntimeDep
from catalog.api.pagination import (
    BAD_CURSOR,
    Cursor,
    CursorQuery,
    Page,
    decode_cursor,
    encode_cursor,
    page_size,
)
from catalog.api.timestamps import Timestamp
from catalog.api.validation import documented_errors
from catalog.bootstrap import Runtime
from catalog.store import reports
from catalog.store.reports import Period, ReportKind

router = APIRouter(prefix="/api/reports", tags=["reports"])

REPORT_SORT = "-id"
ReportId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The report's id.")]


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


FormatQuery = Annotated[ReportFormat, Query(alias="format", description="json or csv")]


class ReportSummaryOut(BaseModel):
    id: int
    kind: ReportKind
    period: Period
    period_start: date
    created_at: Timestamp


class ReportOut(ReportSummaryOut):
    body: dict[str, Any]


_REPORT: dict[int | str, dict[str, Any]] = {
    200: {"model": ReportOut, "content": {"text/csv": {}}},
    **documented_errors((404, "No such report")),
}


@router.get(
    "",
    summary="Stored reports, newest first",
    responses=documented_errors(BAD_CURSOR),
)
async def list_reports(
    rt: RuntimeDep,
    kind: ReportKind | None = None,
    cursor: Annotated[str | None, CursorQuery] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[ReportSummaryOut]:
    """Reports without their bodies; pass `next_cursor` back as `cursor` for more."""
    size = page_size(limit, rt.settings)
    before = decode_cursor(cursor, sort=REPORT_SORT).last_id if cursor is not None else None
    async with rt.engine.connect() as conn:
        found = await reports.list_reports(conn, kind=kind, before_id=before, limit=size + 1)
    items = [ReportSummaryOut.model_validate(r, from_attributes=True) for r in found[:size]]
    next_cursor = None
    if len(found) > size:
        next_cursor = encode_cursor(Cursor(sort=REPORT_SORT, value=None, last_id=items[-1].id))
    return Page[ReportSummaryOut](items=items, next_cursor=next_cursor)


def _answer(body: bytes, fmt: ReportFormat) -> Response:
    if fmt is ReportFormat.JSON:
        return Response(body, media_type="application/json")
    data = json.loads(body)
    report = reports.Report(
        id=data["id"],
        kind=ReportKind(data["kind"]),
        period=Period(data["period"]),
        period_start=date.fromisoformat(data["period_start"]),
        created_at=data["created_at"],
        body=data["body"],
    )
    name = f"{report.kind}-{report.period_start.isoformat()}-{report.id}.csv"
    return Response(
        reports.to_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _latest(rt: Runtime, kind: ReportKind) -> bytes:
    cache = rt.cache
    key = report_cache.latest_key(cache, kind)
    found = await cache.lookup(key)
    if found.value is not None:
        return found.value
    async with rt.engine.connect() as conn:
        report = await reports.latest_report(conn, kind)
    body = reports.body_bytes(report)
    await cache.fill(key, body, ttl_s=report_cache.TTL_S[kind], seen=found)
    return body


@router.get(
    "/analytics/latest",
    summary="The latest daily analytics report",
    response_class=Response,
    responses=_REPORT,
)
async def latest_analytics(rt: RuntimeDep, fmt: FormatQuery = ReportFormat.JSON) -> Response:
    """Counts, inventory value per currency and per category; 404 until the first run."""
    return _answer(await _latest(rt, ReportKind.DAILY_ANALYTICS), fmt)


@router.get(
    "/inventory/latest",
    summary="The latest weekly inventory report",
    response_class=Response,
    responses=_REPORT,
)
async def latest_inventory(rt: RuntimeDep, fmt: FormatQuery = ReportFormat.JSON) -> Response:
    """Stock and value per category, low/critical/out lists, movers, stock-out forecast."""
    return _answer(await _latest(rt, ReportKind.WEEKLY_INVENTORY), fmt)


@router.get(
    "/{report_id}",
    summary="A report, as JSON or CSV",
    response_class=Response,
    responses=_REPORT,
)
async def get_report(
    rt: RuntimeDep, report_id: ReportId, fmt: FormatQuery = ReportFormat.JSON
) -> Response:
    """The report with its body (`?format=csv`: one CSV table, downloadable)."""
    cache = rt.cache
    key = report_cache.report_key(cache, report_id)
    found = await cache.lookup(key)
    if found.value is not None:
        return _answer(found.value, fmt)
    async with rt.engine.connect() as conn:
        report = await reports.get_report(conn, report_id)
    body = reports.body_bytes(report)
    await cache.fill(key, body, ttl_s=report_cache.TTL_S[report.kind], seen=found)
    return _answer(body, fmt)
