"""The API's errors and its OpenAPI document agree: what schemathesis found, kept as plain tests.

Each test here is one distinct failure tests/e2e/test_openapi_fuzz.py found, fixed in the product.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


async def test_a_422_is_documented_in_the_shape_the_api_sends(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # FastAPI's shape, which is not what we send
    assert schemas["ValidationErrorOut"]["required"] == ["detail"]
    refused = await client.get("/api/backgroundjobs/jobs", params={"limit": 0})
    assert refused.status_code == 422
    body = refused.json()
    assert isinstance(body["detail"], str) and body["errors"][0]["field"] == "query.limit"
    for path, method, operation in _operations(document):
        if "422" in operation["responses"]:
            schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ValidationErrorOut"}, (path, method)


async def test_every_guarded_route_documents_401_and_403(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    for path, method, operation in _operations(document):
        if path.startswith(("/api/", "/metrics")):
            assert {"401", "403"} <= set(operation["responses"]), (path, method)
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= set(operation["responses"]), (path, method)
    public = document["paths"]["/health/live"]["get"]["responses"]
    assert "401" not in public and "503" not in public


async def test_every_limit_says_its_configured_maximum(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "limit":
                schema = parameter["schema"]
                options = [schema, *schema.get("anyOf", [])]
                assert any("maximum" in option for option in options), (path, method)
    over = await client.get("/api/reports", params={"limit": 10_000})
    assert over.status_code == 422 and "limit" in over.json()["detail"]  # was clamped silently


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("OPTIONS", "/api/backgroundjobs/jobs", "GET, POST"),
        ("PUT", "/api/products", "GET, POST"),
        ("OPTIONS", "/api/products/1", "DELETE, GET, PATCH"),
        ("PATCH", "/api/categories/counts", "GET"),  # was taken for /api/categories/{id}: 422
        ("DELETE", "/api/categories/tree", "GET"),
    ],
)
async def test_405_names_every_method_the_path_takes(
    client: httpx.AsyncClient, method: str, path: str, allowed: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed  # Starlette named only the first route's


@pytest.mark.parametrize(
    "path",
    [
        "/api/backgroundjobs/jobs/{n}",
        "/api/categories/{n}",
        "/api/products/{n}",
        "/api/reports/{n}",
        "/api/products/{n}/stock-movements",
    ],
)
@pytest.mark.parametrize("n", ["²", "٣", "-1", "0", str(2**63), str(10**100), "1.5", "1e3"])
async def test_odd_integers_in_a_path_get_a_clear_4xx(
    client: httpx.AsyncClient, path: str, n: str
) -> None:
    response = await client.get(path.format(n=n))
    assert response.status_code in {404, 422}, response.text
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize("value", ["²", "٣", str(2**63), str(10**100), "-1", "0", "1.5"])
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/products", "limit"),
        ("/api/products", "category_id"),
        ("/api/reports", "limit"),
        ("/api/inventory/alerts", "limit"),
        ("/api/inventory/alerts", "product_id"),
        ("/api/backgroundjobs/jobs", "limit"),
        ("/api/products/1/stock-movements", "limit"),
    ],
)
async def test_odd_integers_in_a_query_get_a_clear_4xx(
    client: httpx.AsyncClient, path: str, name: str, value: str
) -> None:
    response = await client.get(path, params={name: value})
    assert response.status_code in {404, 422}, (path, name, value, response.text)
    assert isinstance(response.json()["detail"], str)
    if path != "/api/products/1/stock-movements":  # there product 1 may not exist: 404 first
        assert response.status_code == 422, (path, name, value, response.text)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"task": "job-retention", "task": "job-retention"}',
        b'{"task": "job-retention", "args": {"a": 1, "a": 2}}',
        b'{"task": "job-retention", "delay_s": 5, "delay_s": 6}',
    ],
)
async def test_a_key_given_twice_is_refused_with_422(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(
        "/api/backgroundjobs/jobs", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert "appears twice" in response.json()["detail"]
    listed = (await client.get("/api/backgroundjobs/jobs")).json()
    assert listed["items"] == []  # nothing was enqueued


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", 422),
        (b"{", 422),
        (b"\xff\xfe", 422),
        (b"[]", 422),
        (b'"a string"', 422),
        (b'{"task": 5}', 422),
        (b'{"task": "job-retention", "delay_s": "soon"}', 422),
        (b'{"task": "job-retention", "delay_s": 5, "run_at": "2030-01-01T00:00:00Z"}', 422),
        (b'{"task": "job-retention", "run_at": null}', 422),  # was a 500 on the way here
        (b'{"task": "job-retention", "delay_s": null}', 422),
        (b'{"task": "job-retention", "priority": 1e400}', 422),
    ],
)
async def test_odd_bodies_get_a_clear_4xx(
    client: httpx.AsyncClient, raw: bytes, status: int
) -> None:
    response = await client.post(
        "/api/backgroundjobs/jobs", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, (raw, response.text)
    assert isinstance(response.json()["detail"], str)
