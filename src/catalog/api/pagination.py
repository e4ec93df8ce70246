"""Keyset pagination: opaque cursors saying where the previous page stopped, and the page shape.

A cursor is base64url (unpadded) JSON `{"s": sort, "v": last sort value, "i": last id}`. It is
opaque to clients: they pass back what they were given. Anything else, a cursor issued for
another sort included, is refused with 422 and a message saying what to do. Every paged
endpoint of the API decodes its `cursor` here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from catalog.domain.errors import InvalidInput
from catalog.domain.products import ID_MAX, text_problem
from catalog.settings import Settings

CURSOR_MAX_CHARS = 1024  # far above any cursor we issue; bounds the work of decoding
VALUE_MAX_CHARS = 400  # the longest sort value we issue is a lowercased 300-char name

BAD_CURSOR = (422, "Malformed cursor, or one issued for another sort")
CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"  # base64url, unpadded: the alphabet of every cursor issued

# The `cursor` query parameter of every paged endpoint.
CursorQuery = Query(
    min_length=1,
    max_length=CURSOR_MAX_CHARS,
    pattern=CURSOR_PATTERN,
    description="`next_cursor` of the previous page, passed back as it was given.",
)

_KEYS = frozenset({"s", "v", "i"})

ItemT = TypeVar("ItemT")


class InvalidCursor(InvalidInput):
    """A cursor this service did not issue for this listing (422, like any other bad value)."""


@dataclass(frozen=True)
class Cursor:
    sort: str
    value: str | None  # the last row's sort value as text; None when the sort is the id itself
    last_id: int


class Page(BaseModel, Generic[ItemT]):
    """One page of a keyset-paginated list."""

    items: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(cursor: Cursor) -> str:
    payload = {"s": cursor.sort, "v": cursor.value, "i": cursor.last_id}
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, *, sort: str) -> Cursor:
    """The cursor in `token`, which must have been issued for a list sorted by `sort`."""
    if len(token) > CURSOR_MAX_CHARS:
        raise InvalidCursor("malformed cursor: too long; pass back next_cursor as it was given")
    try:
        if not token or not token.isascii():  # "²" or "٣": never in a cursor we issue
            raise ValueError(token)
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeError, ValueError, RecursionError):
        raise InvalidCursor(
            "malformed cursor: not one this service issued; pass back next_cursor as it was given"
        ) from None
    if not isinstance(payload, dict) or set(payload) != _KEYS:
        raise InvalidCursor("malformed cursor: unexpected content")
    issued_for, value, last_id = payload["s"], payload["v"], payload["i"]
    if not isinstance(issued_for, str):
        raise InvalidCursor("malformed cursor: unexpected content")
    if issued_for != sort:
        raise InvalidCursor(
            f"this cursor belongs to a list sorted by {issued_for[:40]!r}, not {sort!r}; "
            "start again without a cursor"
        )
    if isinstance(last_id, bool) or not isinstance(last_id, int) or not 0 < last_id <= ID_MAX:
        raise InvalidCursor("malformed cursor: bad position")
    if value is not None and (
        not isinstance(value, str) or len(value) > VALUE_MAX_CHARS or text_problem(value)
    ):
        raise InvalidCursor("malformed cursor: bad position")
    return Cursor(sort=sort, value=value, last_id=last_id)


def page_size(limit: int | None, settings: Settings) -> int:
    """The page size asked for, or the configured default; never over the configured maximum."""
    if limit is None:
        return min(settings.page_size_default, settings.page_size_max)
    if limit > settings.page_size_max:
        raise InvalidInput(f"limit must be at most {settings.page_size_max}")
    return limit
