"""Cursors: what we issue decodes to itself; anything else is refused as InvalidCursor."""

from __future__ import annotations

import base64
import json

import pytest

from catalog.api.errors import status_of
from catalog.api.pagination import (
    CURSOR_MAX_CHARS,
    Cursor,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
)


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(sort="id", value=None, last_id=1),
        Cursor(sort="-price", value="19.99", last_id=2**63 - 1),
        Cursor(sort="name", value="crème brûlée 😀 / + =", last_id=42),
        Cursor(sort="created_at", value="2025-01-01T00:00:00.123456+00:00", last_id=7),
    ],
)
def test_cursor_round_trip(cursor: Cursor) -> None:
    token = encode_cursor(cursor)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode_cursor(token, sort=cursor.sort) == cursor


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


GOOD = {"s": "price", "v": "1.00", "i": 5}


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!!",
        "abc",  # not a whole number of base64 characters
        "a" * (CURSOR_MAX_CHARS + 1),
        _token(GOOD)[:-2],
        _token(GOOD) + "+/",  # standard base64 alphabet, not url-safe
        base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
        _token([1, 2]),
        _token("price"),
        _token({"s": "price", "v": "1.00"}),
        _token({**GOOD, "x": 1}),
        _token({**GOOD, "s": 1}),
        _token({**GOOD, "i": "5"}),
        _token({**GOOD, "i": 0}),
        _token({**GOOD, "i": -5}),
        _token({**GOOD, "i": 2**63}),
        _token({**GOOD, "i": True}),
        _token({**GOOD, "i": 5.0}),
        _token({**GOOD, "v": 1.0}),
        _token({**GOOD, "v": ["1"]}),
        _token({**GOOD, "v": "x" * 1000}),
        _token({**GOOD, "v": "1\u0000"}),
        base64.urlsafe_b64encode(b"[" * 700).decode(),
    ],
)
def test_malformed_cursors_are_refused(token: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(token, sort="price")
    assert "cursor" in refused.value.message


def test_cursor_of_another_sort_is_refused_with_a_hint() -> None:
    token = encode_cursor(Cursor(sort="price", value="1.00", last_id=5))
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(token, sort="-price")
    assert refused.value.message == (
        "this cursor belongs to a list sorted by 'price', not '-price'; "
        "start again without a cursor"
    )


def test_invalid_cursor_maps_to_422() -> None:
    assert status_of(InvalidCursor("x")) == 422
