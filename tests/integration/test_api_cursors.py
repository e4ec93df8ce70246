"""Every paged endpoint in /openapi.json refuses a cursor it did not issue with a clear 422.

The endpoints are read from the OpenAPI document (every GET with a `cursor` query parameter), so
a paged endpoint added later is covered without touching this module.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from catalog.api.pagination import Cursor, decode_cursor, encode_cursor


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _token(**payload: Any) -> str:
    return _b64(json.dumps({"s": "-id", "v": None, "i": 1} | payload).encode())


BAD_CURSORS = [
    "²",  # str.isdigit() says yes, int() says no: this was a 500 on the jobs list
    "٣",  # Arabic-Indic three: int() reads 3, so it used to be taken as a position
    "\uff13",  # fullwidth three
    "3",
    "-1",
    str(2**63),
    str(10**100),
    "garbage!",
    "%%%",
    "",
    "x" * 2000,
    _b64(b"not json"),
    _b64("²".encode()),
    _token(i=0),
    _token(i=-1),
    _token(i=2**63),
    _token(i=10**100),
    _token(i="٣"),
    _token(s="another sort"),
]


async def _paged_endpoints(client: httpx.AsyncClient) -> list[str]:
    """Every GET path in the document taking a `cursor`, its path parameters filled in."""
    category = (await client.post("/api/categories", json={"name": "Probes"})).json()["id"]
    created = await client.post(
        "/api/products",
        json={"sku": "CUR-1", "name": "Cursor probe", "category_id": category, "price": "1"},
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    document = (await client.get("/openapi.json")).json()
    paths = []
    for path, operations in document["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if any(p["name"] == "cursor" and p["in"] == "query" for p in parameters):
            filled = path
            for p in parameters:
                if p["in"] == "path":
                    filled = filled.replace("{" + p["name"] + "}", str(product_id))
            paths.append(filled)
    return paths


async def test_every_paged_endpoint_refuses_a_foreign_cursor_with_422(
    client: httpx.AsyncClient,
) -> None:
    paths = await _paged_endpoints(client)
    # The ones known today; more may come, none may go unnoticed.
    assert {
        "/api/backgroundjobs/jobs",
        "/api/products",
        "/api/inventory/alerts",
        "/api/reports",
    } <= set(paths)
    assert any(path.endswith("/stock-movements") for path in paths)
    for path in paths:
        for cursor in BAD_CURSORS:
            response = await client.get(path, params={"cursor": cursor})
            assert response.status_code == 422, (path, cursor, response.text)
            detail = response.json()["detail"]
            assert isinstance(detail, str) and "cursor" in detail, (path, cursor, detail)


async def test_every_paged_endpoint_takes_back_its_own_next_cursor(
    client: httpx.AsyncClient,
) -> None:
    for n in range(3):
        response = await client.post(
            "/api/backgroundjobs/jobs", json={"task": "job-retention", "delay_s": 3600 + n}
        )
        assert response.status_code == 201, response.text
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        page = (await client.get("/api/backgroundjobs/jobs", params=params)).json()
        seen += [job["id"] for job in page["items"]]
        if page["next_cursor"] is None:
            break
        assert decode_cursor(page["next_cursor"], sort="-id").last_id == seen[-1]
        params["cursor"] = page["next_cursor"]
    assert len(seen) == 3 and seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("cursor", ["²", "٣", "", "MQ"])
def test_the_codec_refuses_what_it_did_not_issue(cursor: str) -> None:
    with pytest.raises(Exception, match="cursor"):
        decode_cursor(cursor, sort="-id")


def test_the_codec_reads_back_what_it_issued() -> None:
    token = encode_cursor(Cursor(sort="-id", value=None, last_id=2**63 - 1))
    assert decode_cursor(token, sort="-id").last_id == 2**63 - 1
