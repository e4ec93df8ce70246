"""The product list over HTTP: each filter, the category subtree, keyset paging and cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from catalog.api.pagination import Cursor, encode_cursor
from catalog.bootstrap import Runtime
from catalog.settings import Settings
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        page_size_default=7,
        page_size_max=20,
    )


async def make_category(client: httpx.AsyncClient, name: str, parent_id: int | None = None) -> int:
    response = await client.post("/api/categories", json={"name": name, "parent_id": parent_id})
    assert response.status_code == 201, response.text
    category_id: int = response.json()["id"]
    return category_id


class Catalogue:
    """A small catalogue where every filter has something to include and to exclude."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.categories: dict[str, int] = {}
        self.products: dict[str, int] = {}

    async def build(self) -> None:
        c = self.categories
        c["A"] = await make_category(self.client, "A")
        c["A1"] = await make_category(self.client, "A1", c["A"])
        c["A1x"] = await make_category(self.client, "A1x", c["A1"])
        c["B"] = await make_category(self.client, "B")
        rows = [
            # key, category, brand, price, stock, status, name, sku
            ("p1", "A", "Acme", "5", 0, "active", "Alpha", "AL-1"),
            ("p2", "A1", "Bolt", "10", 3, "draft", "beta", "BE-2"),
            ("p3", "A1x", "Acme", "20", 8, "active", "Gamma", "GA-3"),
            ("p4", "B", "Bolt", "30", 50, "archived", "alphabet soup", "ZZ-4"),
            ("p5", "B", "Acme", "10", 5, "active", "Alpha deleted", "DEL-5"),
            ("p6", "A", None, "10", 10, "active", "100%_off", "al_5"),
        ]
        for key, category, brand, price, stock, status, name, sku in rows:
            response = await self.client.post(
                "/api/products",
                json={
                    "sku": sku,
                    "name": name,
                    "category_id": c[category],
                    "brand": brand,
                    "price": price,
                    "stock": stock,
                    "status": status,
                },
            )
            assert response.status_code == 201, response.text
            self.products[key] = response.json()["id"]
        assert (await self.client.delete(f"/api/products/{self.products['p5']}")).status_code == 204

    async def keys(self, **params: Any) -> set[str]:
        response = await self.client.get("/api/products", params={"limit": 20, **params})
        assert response.status_code == 200, response.text
        by_id = {v: k for k, v in self.products.items()}
        return {by_id[item["id"]] for item in response.json()["items"]}


@pytest.fixture
async def catalogue(client: httpx.AsyncClient) -> AsyncIterator[Catalogue]:
    built = Catalogue(client)
    await built.build()
    yield built


async def test_list_without_filters_shows_live_products_only(catalogue: Catalogue) -> None:
    assert await catalogue.keys() == {"p1", "p2", "p3", "p4", "p6"}


async def test_category_filter_includes_every_subcategory(catalogue: Catalogue) -> None:
    c = catalogue.categories
    assert await catalogue.keys(category_id=c["A"]) == {"p1", "p2", "p3", "p6"}
    assert await catalogue.keys(category_id=c["A1"]) == {"p2", "p3"}
    assert await catalogue.keys(category_id=c["A1x"]) == {"p3"}
    assert await catalogue.keys(category_id=c["B"]) == {"p4"}


async def test_category_filter_of_unknown_category_is_not_found(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    response = await client.get("/api/products", params={"category_id": 987654})
    assert response.status_code == 404
    assert response.json()["detail"] == "category 987654 does not exist"


async def test_brand_filter(catalogue: Catalogue) -> None:
    assert await catalogue.keys(brand="Acme") == {"p1", "p3"}
    assert await catalogue.keys(brand="Bolt") == {"p2", "p4"}
    assert await catalogue.keys(brand="acme") == set()


async def test_price_range_filters_are_inclusive(catalogue: Catalogue) -> None:
    assert await catalogue.keys(min_price="10") == {"p2", "p3", "p4", "p6"}
    assert await catalogue.keys(max_price="10") == {"p1", "p2", "p6"}
    assert await catalogue.keys(min_price="10", max_price="20.00") == {"p2", "p3", "p6"}
    assert await catalogue.keys(min_price="30.01") == set()


async def test_min_price_above_max_price_is_invalid(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    response = await client.get("/api/products", params={"min_price": 5, "max_price": 4})
    assert response.status_code == 422
    assert "min_price must not exceed max_price" in response.json()["detail"]


async def test_stock_level_filter_uses_exclusive_classes_and_ors_repeats(
    catalogue: Catalogue,
) -> None:
    assert await catalogue.keys(stock_level="out") == {"p1"}
    assert await catalogue.keys(stock_level="critical") == {"p2"}
    assert await catalogue.keys(stock_level="low") == {"p3", "p6"}
    assert await catalogue.keys(stock_level="in_stock") == {"p4"}
    assert await catalogue.keys(stock_level=["critical", "low"]) == {"p2", "p3", "p6"}


async def test_available_filter(catalogue: Catalogue) -> None:
    assert await catalogue.keys(available="true") == {"p2", "p3", "p4", "p6"}
    assert await catalogue.keys(available="false") == {"p1"}


async def test_status_filter_ors_repeats(catalogue: Catalogue) -> None:
    assert await catalogue.keys(status="draft") == {"p2"}
    assert await catalogue.keys(status=["active", "archived"]) == {"p1", "p3", "p4", "p6"}


async def test_q_is_a_case_insensitive_prefix_of_name_or_sku(catalogue: Catalogue) -> None:
    assert await catalogue.keys(q="alpha") == {"p1", "p4"}
    assert await catalogue.keys(q="AL") == {"p1", "p4", "p6"}  # p6 by its SKU al_5
    assert await catalogue.keys(q="be-") == {"p2"}
    assert await catalogue.keys(q="eta") == set()  # a prefix, not a substring


async def test_q_treats_like_wildcards_literally(catalogue: Catalogue) -> None:
    assert await catalogue.keys(q="100%") == {"p6"}
    assert await catalogue.keys(q="al_") == {"p6"}
    assert await catalogue.keys(q="%") == set()
    assert await catalogue.keys(q="_") == set()


async def test_filters_combine(catalogue: Catalogue) -> None:
    c = catalogue.categories
    assert await catalogue.keys(category_id=c["A"], brand="Acme", available="true") == {"p3"}
    assert await catalogue.keys(category_id=c["A"], max_price="10", status="active") == {
        "p1",
        "p6",
    }


async def test_unknown_query_parameters_are_refused(
    client: httpx.AsyncClient, catalogue: Catalogue
) -> None:
    response = await client.get("/api/products", params={"categry_id": 1})
    assert response.status_code == 422


# -- keyset paging --------------------------------------------------------------------------

SORTS = [
    "id", "-id", "name", "price", "-price",
    "created_at", "-created_at", "updated_at", "-updated_at",
]  # fmt: skip


async def seed_with_ties(runtime: Runtime, category_id: int, count: int) -> None:
    """`count` products in one statement (so created_at and updated_at all tie), with prices
    and names that repeat, and names differing only in case."""
    async with runtime.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO products (sku, name, category_id, price, stock) "
                "SELECT 'TIE-' || n, "
                "       (ARRAY['apple', 'Apple', 'banana', 'cherry'])[1 + n % 4] || (n % 3), "
                "       :category, (n % 5) * 2.50, n "
                "FROM generate_series(1, :count) AS n"
            ),
            {"category": category_id, "count": count},
        )


async def every_page(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/products", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


def expected_order(items: list[dict[str, Any]], sort: str) -> list[int]:
    key = sort.removeprefix("-")

    def sort_key(item: dict[str, Any]) -> Any:
        if key == "id":
            return item["id"]
        value = {"name": item["name"].lower().encode(), "price": Decimal(item["price"])}.get(
            key, item.get(key)
        )
        return (value, item["id"])

    return [item["id"] for item in sorted(items, key=sort_key, reverse=sort.startswith("-"))]


@pytest.mark.parametrize("sort", SORTS)
async def test_paging_visits_every_row_once_in_order_despite_ties(
    client: httpx.AsyncClient, runtime: Runtime, sort: str
) -> None:
    category = await make_category(client, "Paged")
    await seed_with_ties(runtime, category, 23)
    # A few more through the API, at other times, and one deleted in the middle.
    for n in range(3):
        response = await client.post(
            "/api/products",
            json={"sku": f"API-{n}", "name": f"Apple{n}", "category_id": category, "price": "5"},
        )
        assert response.status_code == 201
    await client.delete(f"/api/products/{response.json()['id'] - 1}")

    items = await every_page(client, sort=sort, limit=4)
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)) == 25
    assert ids == expected_order(items, sort)


async def test_paging_with_a_filter_stays_within_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    category = await make_category(client, "Paged")
    await seed_with_ties(runtime, category, 40)
    items = await every_page(client, sort="-price", limit=3, max_price="5.00", q="apple")
    assert items
    assert all(Decimal(item["price"]) <= 5 for item in items)
    assert all(item["name"].lower().startswith("apple") for item in items)
    everything = await every_page(client, sort="id", limit=20)
    wanted = [
        item
        for item in everything
        if Decimal(item["price"]) <= 5 and item["name"].lower().startswith("apple")
    ]
    assert sorted(item["id"] for item in items) == sorted(item["id"] for item in wanted)


async def test_page_size_defaults_and_is_bounded(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    category = await make_category(client, "Paged")
    await seed_with_ties(runtime, category, 30)
    page = (await client.get("/api/products")).json()
    assert len(page["items"]) == 7 and page["next_cursor"]
    assert len((await client.get("/api/products", params={"limit": 20})).json()["items"]) == 20
    too_many = await client.get("/api/products", params={"limit": 21})
    assert too_many.status_code == 422
    assert too_many.json()["detail"] == "limit must be at most 20"
    assert (await client.get("/api/products", params={"limit": 0})).status_code == 422


async def test_last_page_has_no_cursor(client: httpx.AsyncClient, runtime: Runtime) -> None:
    category = await make_category(client, "Paged")
    await seed_with_ties(runtime, category, 8)
    first = (await client.get("/api/products", params={"limit": 4})).json()
    second = (
        await client.get("/api/products", params={"limit": 4, "cursor": first["next_cursor"]})
    ).json()
    assert len(second["items"]) == 4 and second["next_cursor"] is None


# -- cursors --------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_tampered_or_foreign_cursors_get_400(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    category = await make_category(client, "Paged")
    await seed_with_ties(runtime, category, 10)
    good = (await client.get("/api/products", params={"sort": "price", "limit": 3})).json()
    cursor = good["next_cursor"]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert set(payload) == {"s", "v", "i"}

    def variant(**changes: Any) -> str:
        return _b64(json.dumps({**payload, **changes}).encode())

    bad = [
        cursor[:-3],
        cursor + "!",
        "x" * 2000,
        "",
        "%%%",
        _b64(b"not json"),
        _b64(b"[1, 2, 3]"),
        _b64(b'{"s": "price"}'),
        _b64(b"\xff\xfe"),
        variant(v="abc"),
        variant(v="NaN"),
        variant(v="1e999999"),
        variant(v="-1"),
        variant(v=None),
        variant(v=12.5),
        variant(i="7"),
        variant(i=-1),
        variant(i=2**63),
        variant(i=True),
        variant(s=5),
        variant(extra=1),
        variant(v="1\u0000"),
    ]
    for token in bad:
        response = await client.get("/api/products", params={"sort": "price", "cursor": token})
        assert response.status_code == 422, (token, response.text)
        assert "cursor" in response.json()["detail"]

    other_sort = await client.get("/api/products", params={"sort": "name", "cursor": cursor})
    assert other_sort.status_code == 422
    assert "sorted by 'price', not 'name'" in other_sort.json()["detail"]


@pytest.mark.parametrize(
    ("sort", "value"),
    [
        ("id", "5"),
        ("name", None),
        ("created_at", "yesterday"),
        ("created_at", "2024-01-01T00:00:00"),  # no time zone
        ("updated_at", 5),
    ],
)
async def test_cursor_values_of_the_wrong_kind_get_422(
    client: httpx.AsyncClient, sort: str, value: Any
) -> None:
    token = _b64(json.dumps({"s": sort, "v": value, "i": 1}).encode())
    response = await client.get("/api/products", params={"sort": sort, "cursor": token})
    assert response.status_code == 422, response.text


async def test_a_well_formed_cursor_resumes_after_its_position(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    category = await make_category(client, "Paged")
    await seed_with_ties(runtime, category, 10)
    everything = await every_page(client, sort="price", limit=20)
    middle = everything[4]
    token = encode_cursor(Cursor(sort="price", value=middle["price"], last_id=middle["id"]))
    rest = (await client.get("/api/products", params={"sort": "price", "cursor": token})).json()
    assert [item["id"] for item in rest["items"]] == [item["id"] for item in everything[5:12]]
