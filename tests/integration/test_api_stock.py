"""Stock changes over HTTP: deltas, counts, refusals, the movement ledger, and concurrency."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from catalog.bootstrap import Runtime
from catalog.domain.products import STOCK_MAX
from catalog.settings import Settings
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    # Up to 8 connections, so concurrent requests really run side by side on separate ones.
    return make_settings(
        db_pool_size=4,
        db_max_overflow=4,
        page_size_default=3,
    )


async def make_product(client: httpx.AsyncClient, *, stock: int = 0, sku: str = "S-1") -> int:
    categories = (await client.get("/api/categories")).json()["items"]
    if categories:
        category_id = categories[0]["id"]
    else:
        category_id = (await client.post("/api/categories", json={"name": "Stock"})).json()["id"]
    response = await client.post(
        "/api/products",
        json={"sku": sku, "name": "Widget", "category_id": category_id, "price": 1, "stock": stock},
    )
    assert response.status_code == 201, response.text
    product_id: int = response.json()["id"]
    return product_id


async def stock_of(client: httpx.AsyncClient, product_id: int) -> int:
    stock: int = (await client.get(f"/api/products/{product_id}")).json()["stock"]
    return stock


async def movements(runtime: Runtime, product_id: int) -> list[Any]:
    async with runtime.engine.connect() as conn:
        result = await conn.execute(
            sa.text(
                "SELECT delta, stock_before, stock_after, reason, actor FROM stock_movements "
                "WHERE product_id = :id ORDER BY id"
            ),
            {"id": product_id},
        )
        return list(result.all())


async def change(
    client: httpx.AsyncClient, product_id: int, actor: str | None = None, **body: Any
) -> httpx.Response:
    headers = {"X-Actor": actor} if actor else {}
    return await client.post(f"/api/products/{product_id}/stock", json=body, headers=headers)


async def test_delta_adds_and_removes_and_records_a_movement(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    product = await make_product(client)
    added = await change(client, product, actor="warehouse-7", delta=12, reason="delivery")
    assert added.status_code == 200, added.text
    body = added.json()
    assert {k: body[k] for k in ("delta", "stock_before", "stock_after", "stock_level")} == {
        "delta": 12,
        "stock_before": 0,
        "stock_after": 12,
        "stock_level": "in_stock",
    }
    assert body["product_id"] == product and body["movement_id"] > 0
    assert body["actor"] == "warehouse-7" and body["reason"] == "delivery"

    removed = (await change(client, product, delta=-7, reason="order 17")).json()
    assert (removed["stock_before"], removed["stock_after"], removed["stock_level"]) == (
        12,
        5,
        "critical",
    )
    assert await stock_of(client, product) == 5
    assert [tuple(m) for m in await movements(runtime, product)] == [
        (12, 0, 12, "delivery", "warehouse-7"),
        (-7, 12, 5, "order 17", "api"),
    ]


async def test_stock_change_bumps_version(client: httpx.AsyncClient) -> None:
    product = await make_product(client)
    before = (await client.get(f"/api/products/{product}")).json()
    await change(client, product, delta=1, reason="r")
    after = (await client.get(f"/api/products/{product}")).json()
    assert after["version"] == before["version"] + 1
    assert after["updated_at"] > before["updated_at"]


async def test_set_records_the_difference(client: httpx.AsyncClient, runtime: Runtime) -> None:
    product = await make_product(client, stock=10)
    counted = await change(client, product, set=4, reason="stocktake")
    assert counted.status_code == 200
    assert (counted.json()["delta"], counted.json()["stock_after"]) == (-6, 4)
    same = await change(client, product, set=4, reason="recount")
    assert (same.json()["delta"], same.json()["stock_after"]) == (0, 4)
    assert await stock_of(client, product) == 4
    assert [
        (m.delta, m.stock_before, m.stock_after) for m in await movements(runtime, product)
    ] == [
        (10, 0, 10),
        (-6, 10, 4),
        (0, 4, 4),
    ]


async def test_going_negative_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    product = await make_product(client, stock=3)
    before = (await client.get(f"/api/products/{product}")).json()
    response = await change(client, product, delta=-4, reason="order")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"stock of product {product} is 3; a change of -4 would make it negative"
    )
    assert (await client.get(f"/api/products/{product}")).json() == before
    assert len(await movements(runtime, product)) == 1  # the initial stock only


async def test_going_past_the_integer_range_is_refused(client: httpx.AsyncClient) -> None:
    product = await make_product(client, stock=STOCK_MAX - 1)
    response = await change(client, product, delta=2, reason="too many")
    assert response.status_code == 409
    assert "maximum" in response.json()["detail"]
    assert await stock_of(client, product) == STOCK_MAX - 1
    assert (await change(client, product, delta=1, reason="just fits")).status_code == 200


async def test_stock_of_missing_or_deleted_product_is_not_found(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    assert (await change(client, 999, delta=1, reason="x")).status_code == 404
    assert (await change(client, 999, set=1, reason="x")).status_code == 404
    product = await make_product(client, stock=2)
    await client.delete(f"/api/products/{product}")
    assert (await change(client, product, delta=1, reason="x")).status_code == 404
    assert (await change(client, product, set=1, reason="x")).status_code == 404
    listing = await client.get(f"/api/products/{product}/stock-movements")
    assert listing.status_code == 404
    assert len(await movements(runtime, product)) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "r"},
        {"delta": 1, "set": 1, "reason": "r"},
        {"delta": 0, "reason": "r"},
        {"delta": 1},
        {"delta": 1, "reason": ""},
        {"delta": 1, "reason": "   "},
        {"delta": 1, "reason": "x" * 501},
        {"delta": 1.5, "reason": "r"},
        {"delta": "1", "reason": "r"},
        {"delta": True, "reason": "r"},
        {"delta": 2**31, "reason": "r"},
        {"delta": -(2**31), "reason": "r"},
        {"set": -1, "reason": "r"},
        {"set": 2**31, "reason": "r"},
        {"delta": 1, "reason": "r", "by": "me"},
        {"delta": 1, "reason": "nul\u0000"},
    ],
)
async def test_malformed_stock_changes_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any]
) -> None:
    product = await make_product(client, stock=5)
    response = await change(client, product, **body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert await stock_of(client, product) == 5
    assert len(await movements(runtime, product)) == 1


async def test_actor_header_is_bounded(client: httpx.AsyncClient) -> None:
    product = await make_product(client, stock=5)
    response = await change(client, product, actor="a" * 101, delta=1, reason="r")
    assert response.status_code == 422
    assert await stock_of(client, product) == 5


async def test_movements_are_listed_newest_first_in_pages(client: httpx.AsyncClient) -> None:
    product = await make_product(client)
    for n in range(1, 8):
        await change(client, product, delta=n, reason=f"delivery {n}")
    seen: list[int] = []
    cursor = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        page = (await client.get(f"/api/products/{product}/stock-movements", params=params)).json()
        seen.extend(item["delta"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    bad = await client.get(f"/api/products/{product}/stock-movements", params={"cursor": "zz"})
    assert bad.status_code == 422


async def test_forty_concurrent_removals_from_twenty_five_leave_zero(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    product = await make_product(client, stock=25)

    responses = await asyncio.gather(
        *(change(client, product, delta=-1, reason=f"order {n}") for n in range(40))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 25
    assert statuses.count(409) == 15
    assert await stock_of(client, product) == 0
    ledger = await movements(runtime, product)
    assert len(ledger) == 26  # the initial stock and 25 removals
    assert sorted(m.stock_after for m in ledger[1:]) == list(range(25))


async def test_concurrent_sets_and_deltas_keep_a_consistent_ledger(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    product = await make_product(client, stock=50)
    rng = random.Random(7)
    requests = []
    for n in range(40):
        if n % 5 == 0:
            requests.append(change(client, product, set=rng.randint(0, 30), reason="count"))
        else:
            requests.append(change(client, product, delta=rng.randint(-9, 9) or 1, reason="r"))

    responses = await asyncio.gather(*requests)

    assert all(r.status_code in (200, 409) for r in responses)
    ledger = await movements(runtime, product)
    # Every movement starts where the previous one ended, and the last one is the stock.
    for previous, current in itertools.pairwise(ledger):
        assert current.stock_before == previous.stock_after
        assert current.stock_after == current.stock_before + current.delta
    assert ledger[-1].stock_after == await stock_of(client, product)
    assert len(ledger) == 1 + sum(r.status_code == 200 for r in responses)


async def test_what_the_openapi_fuzz_test_found_in_stock_changes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schema = document["components"]["schemas"]["StockChangeIn"]
    assert schema["oneOf"] == [{"required": ["delta"]}, {"required": ["set"]}]
    assert schema["properties"]["delta"]["not"] == {"const": 0}
    category = (await client.post("/api/categories", json={"name": "Stock fuzz"})).json()["id"]
    created = await client.post(
        "/api/products", json={"sku": "SF-1", "name": "S", "category_id": category, "price": "1"}
    )
    url = f"/api/products/{created.json()['id']}/stock"
    both = await client.post(url, json={"delta": 1, "set": 3, "reason": "r"})
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    nulled = await client.post(url, json={"delta": None, "set": 3, "reason": "r"})
    assert nulled.status_code == 422 and "delta cannot be null" in nulled.json()["detail"]
    whole = await client.post(url, json={"set": 38698.0, "reason": "counted"})
    assert whole.status_code == 200, whole.text  # 38698.0 is an integer to JSON Schema
    assert whole.json()["stock_after"] == 38698
    assert (await client.post(url, json={"set": 1.5, "reason": "r"})).status_code == 422
    assert (await client.post(url, json={"set": "5", "reason": "r"})).status_code == 422
