"""`GET /api/search`, `POST /api/backgroundjobs/reindex` and `catalog reindex` over a real
PostgreSQL and a tantivy index in the test's data directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from catalog.bootstrap import Runtime
from catalog.cli.main import app
from catalog.search import rebuild, sync
from catalog.search.query import SearchQuery, SearchSort
from catalog.search.tantivy_index import TantivySearch
from tests.support.catalogue import add_category, add_product
from tests.support.polling import eventually


async def catalogue(runtime: Runtime) -> dict[str, int]:
    """Two categories under `Home` and five products, then a built index."""
    async with runtime.engine.begin() as conn:
        home = await add_category(conn, "Home")
        kitchen = await add_category(conn, "Kitchen", parent_id=home)
        garden = await add_category(conn, "Garden")
        rows = [
            ("KIT-1", "Blue kettle", "Boils water fast", kitchen, 0, "25", "Acme", "active"),
            ("KIT-2", "Steel kettle", "A kettle of steel", kitchen, 4, "60", "Bolt", "active"),
            ("KIT-3", "Toaster", "Browns a blue loaf", kitchen, 8, "40", "Acme", "draft"),
            ("GAR-1", "Garden hose", "Twenty metres", garden, 50, "15", "Bolt", "active"),
            ("GAR-2", "Rake", "Steel teeth", garden, 20, "9.50", None, "archived"),
        ]
        ids: dict[str, int] = {"home": home, "kitchen": kitchen, "garden": garden}
        for sku, name, description, category, stock, price, brand, status in rows:
            product_id = await add_product(
                conn, sku, category_id=category, stock=stock, price=price, status=status
            )
            await conn.execute(
                sa.text(
                    "UPDATE products SET name = :n, description = :d, brand = :b WHERE id = :id"
                ),
                {"n": name, "d": description, "b": brand, "id": product_id},
            )
            ids[sku] = product_id
    await rebuild.rebuild(runtime.engine, runtime.search)
    return ids


async def search(client: httpx.AsyncClient, **params: object) -> dict[str, object]:
    answer = await client.get("/api/search", params=params)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def skus(body: dict[str, object]) -> list[str]:
    return [hit["sku"] for hit in body["hits"]]  # type: ignore[attr-defined,index]


async def test_words_rank_names_over_descriptions_and_a_sku_matches_exactly(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await catalogue(runtime)
    body = await search(client, q="blue")
    assert skus(body) == ["KIT-1", "KIT-3"]  # the name before the description
    assert body["total"] == 2
    assert skus(await search(client, q="KIT-2")) == ["KIT-2"]
    assert skus(await search(client, q="kettel")) != []  # one typo
    hit = (await search(client, q="hose"))["hits"][0]  # type: ignore[index]
    assert hit["category_names"] == ["Garden"] and hit["price"] == "15.00"
    assert hit["stock_level"] == "in_stock" and hit["score"] > 0


async def test_filters_facets_sorts_and_pages(runtime: Runtime, client: httpx.AsyncClient) -> None:
    ids = await catalogue(runtime)
    everything = await search(client)
    assert everything["total"] == 5
    assert skus(await search(client, category=ids["home"], sort="price")) == [
        "KIT-1",
        "KIT-3",
        "KIT-2",
    ]
    assert sorted(skus(await search(client, brand=["Acme", "Bolt"]))) == [
        "GAR-1",
        "KIT-1",
        "KIT-2",
        "KIT-3",
    ]
    assert skus(await search(client, min_price="20", max_price="50", sort="price")) == [
        "KIT-1",
        "KIT-3",
    ]
    assert skus(await search(client, stock_level=["out", "critical"], sort="price")) == [
        "KIT-1",
        "KIT-2",
    ]
    assert skus(await search(client, status="archived")) == ["GAR-2"]
    assert skus(await search(client, sort="-price"))[0] == "KIT-2"
    assert skus(await search(client, sort="price"))[0] == "GAR-2"

    facets = (await search(client, q="kettle"))["facets"]
    assert facets["category"] == [  # type: ignore[index]
        {"value": str(ids["kitchen"]), "count": 2, "label": "Kitchen"}
    ]
    assert {b["value"]: b["count"] for b in facets["brand"]} == {"Acme": 1, "Bolt": 1}  # type: ignore[index]
    assert {b["value"]: b["count"] for b in facets["price"]}["10-50"] == 1  # type: ignore[index]

    first = await search(client, sort="price", page_size=2)
    second = await search(client, sort="price", page_size=2, page=2)
    third = await search(client, sort="price", page_size=2, page=3)
    assert (first["page"], first["page_size"], first["total"]) == (1, 2, 5)
    assert skus(first) + skus(second) + skus(third) == ["GAR-2", "GAR-1", "KIT-1", "KIT-3", "KIT-2"]


async def test_category_labels_are_read_once_per_index_version_and_follow_a_rename(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    ids = await catalogue(runtime)
    reads: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("SELECT categories.id, categories.name"):  # the labels
            reads.append(statement)

    async def kitchen_label() -> str | None:
        facets = (await search(client, q="kettle"))["facets"]
        (bucket,) = facets["category"]  # type: ignore[index]
        assert bucket["value"] == str(ids["kitchen"])
        label: str | None = bucket["label"]
        return label

    sa.event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await kitchen_label() == "Kitchen"
        assert await kitchen_label() == "Kitchen"
        assert len(reads) == 1  # the same index: the names kept from the first search

        async with runtime.engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE categories SET name = 'Cookware' WHERE id = :id"),
                {"id": ids["kitchen"]},
            )

        # search-sync's step: the category's products re-indexed, so the index changes.
        async def applied() -> int:
            report = await sync.catch_up(runtime.engine, runtime.search, should_stop=lambda: False)
            return report.changes

        await eventually(applied, what="the rename applied")
        assert await kitchen_label() == "Cookware"
        assert len(reads) == 2
    finally:
        sa.event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"q": "x" * 501}, "at most 500 characters"),
        ({"min_price": "50", "max_price": "10"}, "min_price must not exceed max_price"),
        ({"sort": "cheapest"}, "sort"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page_size must be at most"),
        ({"page": "9000", "page_size": "50"}, "narrow the search"),
        ({"category": "abc"}, "category"),
        ({"stock_level": "plenty"}, "stock_level"),
        ({"min_price": "-1"}, "min_price"),
        ({"q": "nul\x00"}, "NUL"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_parameters_get_a_clear_422(
    runtime: Runtime, client: httpx.AsyncClient, params: dict[str, str], reason: str
) -> None:
    await rebuild.rebuild(runtime.engine, runtime.search)
    answer = await client.get("/api/search", params=params)
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"]


async def test_no_index_yet_is_503_with_retry_after(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/search", params={"q": "kettle"})
    assert answer.status_code == 503
    assert int(answer.headers["Retry-After"]) > 0
    assert "not built yet" in answer.json()["detail"]


async def test_the_openapi_document_lists_every_answer(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    answers = document["paths"]["/api/search"]["get"]["responses"]
    assert {"200", "422", "503"} <= set(answers)
    assert "202" in document["paths"]["/api/backgroundjobs/reindex"]["post"]["responses"]


async def test_reindex_is_triggered_once_and_swaps_in_a_new_generation(
    worker: Runtime, client: httpx.AsyncClient
) -> None:
    await catalogue(worker)
    old = await worker.search.live_generation()
    started = await client.post("/api/backgroundjobs/reindex")
    again = await client.post("/api/backgroundjobs/reindex")
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["task"] == "search-reindex" and started.headers["Location"] == body["job_url"]
    assert again.status_code == 202
    if again.json()["job_id"] == body["job_id"]:
        assert again.json()["already_running"] is True

    async def finished() -> dict[str, object] | None:
        detail: dict[str, object] = (await client.get(body["job_url"])).json()
        return detail if detail["state"] in ("succeeded", "failed") else None

    detail = await eventually(finished, timeout_s=30, what="the reindex job finished")
    assert detail is not None and detail["state"] == "succeeded", detail
    assert detail["progress"]["done"] == detail["progress"]["total"] == 5  # type: ignore[index]
    assert await worker.search.live_generation() != old
    assert skus(await search(client, q="rake")) == ["GAR-2"]


def test_catalog_reindex_prints_progress_and_swaps(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with psycopg.connect(database_url) as conn:
        (category,) = conn.execute(
            "INSERT INTO categories (name, slug) VALUES ('Tools', 'tools') RETURNING id"
        ).fetchone() or (0,)
        for n in range(1, 6):
            conn.execute(
                "INSERT INTO products (sku, name, category_id, price, currency, stock, status)"
                " VALUES (%s, %s, %s, 10, 'USD', 3, 'active')",
                (f"T-{n}", f"Wrench {n}", category),
            )
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    monkeypatch.setenv("CATALOG_DATA_DIR", str(tmp_path))
    cli = CliRunner()

    done = cli.invoke(app, ["reindex", "--batch-size", "2"])
    assert done.exit_code == 0, done.output
    assert "indexed 2 of 5 products (40%)" in done.stdout
    assert "indexed 5 of 5 products (100%)" in done.stdout
    assert "is live with 5 documents (replaced nothing)" in done.stdout
    again = cli.invoke(app, ["reindex"])
    assert again.exit_code == 0 and "replaced g" in again.stdout

    async def indexed() -> list[str]:
        backend = TantivySearch(tmp_path / "search" / "tantivy")
        try:
            result = await backend.search(SearchQuery(text="wrench", sort=SearchSort.PRICE))
            assert len(await backend.generations()) == 1  # the first one was dropped
            return sorted(str(hit.source["sku"]) for hit in result.hits)
        finally:
            await backend.close()

    assert asyncio.run(indexed()) == [f"T-{n}" for n in range(1, 6)]
    bad = cli.invoke(app, ["reindex", "--batch-size", "0"])
    assert bad.exit_code == 2
