"""Stored reports: one per kind and period start (a re-run replaces it), and their CSV form."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.domain.errors import NotFound
from catalog.store.tables import reports


class ReportKind(StrEnum):
    DAILY_ANALYTICS = "daily-analytics"
    WEEKLY_INVENTORY = "weekly-inventory"


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"  # the daily report of a month's first day; cleanup keeps it


@dataclass(frozen=True)
class Report:
    id: int
    kind: ReportKind
    period: Period
    period_start: date
    created_at: datetime | str  # a string when read back from the cache
    body: dict[str, Any]


class ReportNotFound(NotFound):
    """No such report, or none of a kind yet."""


def _report(row: Any) -> Report:
    return Report(
        id=row.id,
        kind=ReportKind(row.kind),
        period=Period(row.period),
        period_start=row.period_start,
        created_at=row.created_at,
        body=row.body,
    )


async def save_report(
    conn: AsyncConnection,
    kind: ReportKind,
    *,
    period: Period,
    period_start: date,
    body: dict[str, Any],
) -> Report:
    """Store the report of `kind` for the period starting `period_start`, replacing any."""
    statement = insert(reports).values(
        kind=str(kind), period=str(period), period_start=period_start, body=body
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[reports.c.kind, reports.c.period_start],
        set_={"body": statement.excluded.body, "created_at": sa.func.now()},
    ).returning(*reports.c)
    return _report((await conn.execute(upsert)).one())


async def get_report(conn: AsyncConnection, report_id: int) -> Report:
    row = (await conn.execute(sa.select(reports).where(reports.c.id == report_id))).one_or_none()
    if row is None:
        raise ReportNotFound(f"report {report_id} not found")
    return _report(row)


async def latest_report(conn: AsyncConnection, kind: ReportKind) -> Report:
    """The most recent report of `kind` by the period it covers."""
    row = (
        await conn.execute(
            sa.select(reports)
            .where(reports.c.kind == str(kind))
            .order_by(reports.c.period_start.desc(), reports.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        raise ReportNotFound(f"no {kind} report yet: its job has not run")
    return _report(row)


@dataclass(frozen=True)
class ReportSummary:
    id: int
    kind: ReportKind
    period: Period
    period_start: date
    created_at: datetime


async def list_reports(
    conn: AsyncConnection, *, kind: ReportKind | None, before_id: int | None, limit: int
) -> list[ReportSummary]:
    """Reports newest first (without their bodies), below `before_id` (keyset paging)."""
    t = reports
    query = (
        sa.select(t.c.id, t.c.kind, t.c.period, t.c.period_start, t.c.created_at)
        .order_by(t.c.id.desc())
        .limit(limit)
    )
    if kind is not None:
        query = query.where(t.c.kind == str(kind))
    if before_id is not None:
        query = query.where(t.c.id < before_id)
    return [
        ReportSummary(
            id=row.id,
            kind=ReportKind(row.kind),
            period=Period(row.period),
            period_start=row.period_start,
            created_at=row.created_at,
        )
        for row in await conn.execute(query)
    ]


ANALYTICS_COLUMNS = ("category_id", "category", "products", "stock_units", "currency", "value")
INVENTORY_COLUMNS = (
    "section",
    "category_id",
    "category",
    "product_id",
    "sku",
    "name",
    "stock",
    "currency",
    "value",
    "net_change",
    "daily_demand",
    "days_of_cover",
    "stockout_on",
)


def to_csv(report: Report) -> str:
    """The report as one CSV table (header first)."""
    out = io.StringIO()
    if report.kind is ReportKind.DAILY_ANALYTICS:
        writer = csv.DictWriter(out, ANALYTICS_COLUMNS, lineterminator="\n")
        writer.writeheader()
        body = report.body
        for c in body["categories"]:
            for currency, value in c["inventory_value"].items() or [("", "0.00")]:
                writer.writerow(
                    {
                        "category_id": c["id"],
                        "category": c["name"],
                        "products": c["products"],
                        "stock_units": c["stock_units"],
                        "currency": currency,
                        "value": value,
                    }
                )
        for currency, value in body["inventory_value"].items():
            writer.writerow(
                {
                    "category": "TOTAL",
                    "products": body["products"]["total"],
                    "stock_units": body["stock_units"],
                    "currency": currency,
                    "value": value,
                }
            )
        return out.getvalue()
    writer = csv.DictWriter(out, INVENTORY_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in inventory_rows(report.body):
        writer.writerow(row)
    return out.getvalue()


def inventory_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The weekly report's sections as CSV rows, each tagged with its section."""
    rows: list[dict[str, Any]] = []
    for c in body["categories"]:
        for currency, value in c["inventory_value"].items() or [("", "0.00")]:
            rows.append(
                {
                    "section": "category",
                    "category_id": c["id"],
                    "category": c["name"],
                    "stock": c["stock_units"],
                    "currency": currency,
                    "value": value,
                }
            )
    for level in ("out", "critical", "low"):
        rows.extend({"section": level, **item} for item in body["stock_levels"][level]["items"])
    rows.extend({"section": "mover", **item} for item in body["movers"])
    rows.extend({"section": "forecast", **item} for item in body["forecast"]["items"])
    return rows


def _iso(moment: datetime | str) -> str:
    return moment if isinstance(moment, str) else moment.astimezone(UTC).isoformat()


def body_bytes(report: Report) -> bytes:
    """The report as the API's JSON body (what the cache holds)."""
    return json.dumps(
        {
            "id": report.id,
            "kind": str(report.kind),
            "period": str(report.period),
            "period_start": report.period_start.isoformat(),
            "created_at": _iso(report.created_at),
            "body": report.body,
        },
        separators=(",", ":"),
    ).encode()
