"""The one timestamp format of every API answer: ISO 8601, in UTC, with an explicit offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# 2025-03-30T01:30:00.123456+00:00, whatever zone the database session or value carries.
Timestamp = Annotated[
    datetime,
    PlainSerializer(_utc_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
