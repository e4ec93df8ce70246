"""Products over HTTP: create, read, change, soft-delete, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from catalog.bootstrap import Runtime
from tests.support.catalogue import add_movement

NO_DEMAND = {"daily_demand": 0.0, "days_of_cover": None, "stockout_on": None}


async def make_category(client: httpx.AsyncClient, name: str, parent_id: int | None = None) -> int:
    response = await client.post("/api/categories", json={"name": name, "parent_id": parent_id})
    assert response.status_code == 201, response.text
    category_id: int = response.json()["id"]
    return category_id


async def make_product(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/products", json=fields)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


async def scalar(runtime: Runtime, sql: str, **params: Any) -> Any:
    async with runtime.engine.connect() as conn:
        return await conn.scalar(sa.text(sql), params)


async def test_product_round_trip_create_read_patch_delete(client: httpx.AsyncClient) -> None:
    shoes = await make_category(client, "Shoes")
    created = await make_product(
        client,
        sku="SH-001",
        name="Trail Runner",
        description="Light and grippy.",
        category_id=shoes,
        brand="Acme",
        price="89.90",
        currency="EUR",
        stock=12,
        status="draft",
        tags=["running", "trail"],
        attributes={"color": "red", "sizes": [41, 42]},
    )
    assert created["price"] == "89.90"
    assert created["stock_level"] == "in_stock"
    assert created["version"] == 1
    fetched = (await client.get(f"/api/products/{created['id']}")).json()
    assert fetched == created | {"stock_forecast": NO_DEMAND}  # the detail adds the forecast
    assert set(fetched) == {
        "id", "sku", "name", "description", "category_id", "brand", "price", "currency",
        "stock", "status", "tags", "attributes", "stock_level", "version", "created_at",
        "updated_at", "stock_forecast",
    }  # fmt: skip

    patched = await client.patch(
        f"/api/products/{created['id']}",
        json={"name": "Trail Runner 2", "price": 79.5, "status": "active", "brand": None},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["price"], body["status"], body["brand"]) == (
        "Trail Runner 2",
        "79.50",
        "active",
        None,
    )
    assert body["version"] == 2
    assert body["updated_at"] > created["updated_at"]
    assert body["stock"] == 12 and body["tags"] == ["running", "trail"]
    assert (await client.get(f"/api/products/{created['id']}")).json() == body | {
        "stock_forecast": NO_DEMAND
    }

    deleted = await client.delete(f"/api/products/{created['id']}")
    assert deleted.status_code == 204
    assert (await client.get(f"/api/products/{created['id']}")).status_code == 404
    again = await client.delete(f"/api/products/{created['id']}")
    assert again.status_code == 404
    assert again.json()["detail"] == f"product {created['id']} not found"


async def test_new_product_gets_defaults(client: httpx.AsyncClient) -> None:
    category = await make_category(client, "Misc")
    product = await make_product(client, sku="M-1", name="Thing", category_id=category, price=0)
    assert product["price"] == "0.00"
    assert product["currency"] == "USD"
    assert product["status"] == "active"
    assert product["stock"] == 0 and product["stock_level"] == "out"
    assert product["tags"] == [] and product["attributes"] == {}
    assert product["description"] == "" and product["brand"] is None


async def test_tags_are_stripped_and_deduplicated(client: httpx.AsyncClient) -> None:
    category = await make_category(client, "Misc")
    product = await make_product(
        client, sku="T-1", name="T", category_id=category, price=1, tags=[" a", "b", "a ", "c"]
    )
    assert product["tags"] == ["a", "b", "c"]


async def test_initial_stock_is_recorded_as_a_movement(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    category = await make_category(client, "Misc")
    response = await client.post(
        "/api/products",
        json={"sku": "S-1", "name": "S", "category_id": category, "price": 1, "stock": 7},
        headers={"X-Actor": "importer"},
    )
    product = response.json()
    movements = (await client.get(f"/api/products/{product['id']}/stock-movements")).json()
    recorded = [
        (m["delta"], m["stock_before"], m["stock_after"], m["actor"]) for m in movements["items"]
    ]
    assert recorded == [(7, 0, 7, "importer")]
    zero = await make_product(client, sku="S-0", name="S0", category_id=category, price=1)
    count = "SELECT count(*) FROM stock_movements WHERE product_id = :id"
    assert await scalar(runtime, count, id=zero["id"]) == 0


async def test_duplicate_sku_among_live_products_is_a_conflict(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    category = await make_category(client, "Misc")
    first = await make_product(client, sku="DUP", name="A", category_id=category, price=1)
    response = await client.post(
        "/api/products", json={"sku": "DUP", "name": "B", "category_id": category, "price": 1}
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "a product with SKU 'DUP' already exists"
    other = await make_product(client, sku="OTHER", name="C", category_id=category, price=1)
    patch = await client.patch(f"/api/products/{other['id']}", json={"sku": "DUP"})
    assert patch.status_code == 409
    assert (await client.get(f"/api/products/{other['id']}")).json()["sku"] == "OTHER"
    assert await scalar(runtime, "SELECT count(*) FROM products") == 2

    # Soft-deleting frees the SKU.
    assert (await client.delete(f"/api/products/{first['id']}")).status_code == 204
    await make_product(client, sku="DUP", name="B", category_id=category, price=1)


async def test_unknown_category_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/products", json={"sku": "X", "name": "X", "category_id": 999, "price": 1}
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "category 999 does not exist"
    category = await make_category(client, "Misc")
    product = await make_product(client, sku="X", name="X", category_id=category, price=1)
    patch = await client.patch(f"/api/products/{product['id']}", json={"category_id": 999})
    assert patch.status_code == 404
    assert patch.json()["detail"] == "category 999 does not exist"


async def test_patch_refuses_stock_and_points_to_the_stock_endpoint(
    client: httpx.AsyncClient,
) -> None:
    category = await make_category(client, "Misc")
    product = await make_product(client, sku="P", name="P", category_id=category, price=1)
    response = await client.patch(f"/api/products/{product['id']}", json={"stock": 5})
    assert response.status_code == 422
    assert "/stock" in response.json()["detail"]
    assert "movement" in response.json()["detail"]
    assert (await client.get(f"/api/products/{product['id']}")).json() == product | {
        "stock_forecast": NO_DEMAND
    }


async def test_patch_with_stale_expected_version_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    category = await make_category(client, "Misc")
    product = await make_product(client, sku="V", name="V", category_id=category, price=1)
    ok = await client.patch(
        f"/api/products/{product['id']}", json={"name": "V2", "expected_version": 1}
    )
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = await client.patch(
        f"/api/products/{product['id']}", json={"name": "V3", "expected_version": 1}
    )
    assert stale.status_code == 409
    assert "version 2, not 1" in stale.json()["detail"]
    assert (await client.get(f"/api/products/{product['id']}")).json()["name"] == "V2"


async def test_empty_patch_changes_nothing(client: httpx.AsyncClient) -> None:
    category = await make_category(client, "Misc")
    product = await make_product(client, sku="E", name="E", category_id=category, price=1)
    response = await client.patch(f"/api/products/{product['id']}", json={})
    assert response.status_code == 200
    assert response.json() == product


async def test_patch_and_delete_of_missing_or_deleted_product_are_not_found(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.patch("/api/products/12345", json={"name": "x"})).status_code == 404
    category = await make_category(client, "Misc")
    product = await make_product(client, sku="D", name="D", category_id=category, price=1)
    await client.delete(f"/api/products/{product['id']}")
    response = await client.patch(f"/api/products/{product['id']}", json={"name": "x"})
    assert response.status_code == 404


async def test_writes_reach_the_change_log(client: httpx.AsyncClient, runtime: Runtime) -> None:
    category = await make_category(client, "Misc")
    product = await make_product(client, sku="L", name="L", category_id=category, price=1)
    await client.patch(f"/api/products/{product['id']}", json={"price": "2.00"})
    await client.delete(f"/api/products/{product['id']}")
    async with runtime.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT op, fields FROM change_log WHERE entity = 'product' "
                    "AND entity_id = :id ORDER BY id"
                ),
                {"id": product["id"]},
            )
        ).all()
    assert [row.op for row in rows] == ["insert", "update", "delete"]
    assert rows[1].fields == ["price"]


async def test_openapi_describes_the_catalogue_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [
        ("/api/products", "post"),
        ("/api/products", "get"),
        ("/api/products/{product_id}", "patch"),
        ("/api/products/{product_id}/stock", "post"),
        ("/api/products/{product_id}/stock-movements", "get"),
        ("/api/categories/tree", "get"),
        ("/api/categories/{category_id}", "delete"),
    ]:
        assert paths[path][method]["summary"], (path, method)


async def test_product_detail_shows_its_stock_out_forecast(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    category_id = await make_category(client, "Forecast")
    steady = await make_product(
        client, sku="STEADY", name="Steady", price="1", stock=20, category_id=category_id
    )
    idle = await make_product(
        client, sku="IDLE", name="Idle", price="1", stock=5, category_id=category_id
    )
    today = datetime.now(UTC).date()
    async with runtime.engine.begin() as conn:
        for k in range(1, 29):  # 2 units a day for the whole 28-day window, ending yesterday
            at = datetime.combine(today - timedelta(days=k), time(12), tzinfo=UTC)
            await add_movement(conn, steady["id"], delta=-2, at=at)

    shown = (await client.get(f"/api/products/{steady['id']}")).json()["stock_forecast"]
    assert shown == {
        "daily_demand": 2.0,  # a steady series smooths to itself
        "days_of_cover": 10.0,
        "stockout_on": (today + timedelta(days=10)).isoformat(),
    }
    assert (await client.get(f"/api/products/{idle['id']}")).json()["stock_forecast"] == {
        "daily_demand": 0.0,
        "days_of_cover": None,
        "stockout_on": None,
    }


async def test_what_the_openapi_fuzz_test_found_in_product_bodies(
    client: httpx.AsyncClient,
) -> None:
    category = await make_category(client, "Fuzz")
    product = await make_product(
        client, sku="FUZZ-1", name="Fuzzed", category_id=category, price="5.00"
    )
    url = f"/api/products/{product['id']}"
    # Fields that cannot be null say so in the schema and refuse an explicit null.
    for name in ("status", "name", "price", "tags"):
        response = await client.patch(url, json={name: None})
        assert response.status_code == 422 and f"{name} cannot be null" in response.text
    assert (await client.patch(url, json={"brand": None})).status_code == 200  # clears it
    # expected_version past 2**53 - 1 cannot be read exactly from JSON: refused by its bound.
    big = await client.patch(url, json={"name": "n", "expected_version": 2**63 + 192})
    assert big.status_code == 422 and "expected_version" in big.json()["detail"]
    # The currency pattern is in the schema.
    document = (await client.get("/openapi.json")).json()
    currency = document["components"]["schemas"]["ProductIn"]["properties"]["currency"]
    assert currency["pattern"] == "^[A-Z]{3}$"
    assert (await client.patch(url, json={"currency": "³"})).status_code == 422
    # A price as a JSON number with cents is taken; a negative one is refused.
    assert (await client.patch(url, json={"price": 19.99})).json()["price"] == "19.99"
    assert (await client.patch(url, json={"price": -1})).status_code == 422
