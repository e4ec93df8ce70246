"""What every search backend does: run on tantivy always, on Elasticsearch when one is set."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from catalog.search.backend import SearchBackend, SearchUnavailable
from catalog.search.query import SearchQuery, SearchSort
from catalog.search.tantivy_index import TantivySearch
from tests.support.search import ELASTICSEARCH_URL_VAR, document, open_backend

BACKENDS = [
    "tantivy",
    pytest.param(
        "elasticsearch",
        marks=pytest.mark.skipif(
            not os.environ.get(ELASTICSEARCH_URL_VAR),
            reason=f"{ELASTICSEARCH_URL_VAR} is not set (no Elasticsearch server to test on)",
        ),
    ),
]

CATALOGUE = [
    document(1, "Blue widget", description="A sturdy gadget for the kitchen", brand="Acme"),
    document(2, "Kitchen gadget", description="Works with any widget", brand="Bolt", price="60"),
    document(3, "Mechanical keyboard", category_ids=(1, 3), price="120", stock=4, tags=("usb",)),
    document(4, "Desk lamp", category_ids=(1, 3, 7), price="45.50", stock=0, popularity=9),
    document(5, "Widget stand", brand="Bolt", price="600", status="draft", popularity=3),
    document(6, "Cable", sku="CAB-9:X(1)", category_ids=(2,), brand=None, price="4", stock=8),
]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchBackend]:
    async for opened in open_backend(request.param, tmp_path):
        yield opened


@pytest.fixture
async def filled(backend: SearchBackend) -> SearchBackend:
    generation = await backend.create_generation()
    await backend.upsert(generation, CATALOGUE)
    await backend.commit(generation)
    await backend.activate(generation)
    return backend


def ids(result: object) -> list[int]:
    return [hit.id for hit in result.hits]  # type: ignore[attr-defined]


async def test_no_index_yet_is_unavailable_not_empty(backend: SearchBackend) -> None:
    assert await backend.live_generation() is None
    with pytest.raises(SearchUnavailable):
        await backend.search(SearchQuery(text="widget"))


async def test_a_name_match_ranks_above_a_description_match(filled: SearchBackend) -> None:
    result = await filled.search(SearchQuery(text="widget"))
    assert sorted(ids(result)[:2]) == [1, 5]
    assert ids(result)[-1] == 2  # only its description says widget
    assert result.total == 3


async def test_every_word_must_match(filled: SearchBackend) -> None:
    assert ids(await filled.search(SearchQuery(text="kitchen gadget"))) == [2, 1]
    assert ids(await filled.search(SearchQuery(text="blue keyboard"))) == []


async def test_one_typo_matches_on_words_of_five_letters_or_more(filled: SearchBackend) -> None:
    assert 3 in ids(await filled.search(SearchQuery(text="keybaord")))  # transposition
    assert 3 in ids(await filled.search(SearchQuery(text="mechanicl")))  # deletion
    assert ids(await filled.search(SearchQuery(text="keybrd"))) == []  # two edits
    assert ids(await filled.search(SearchQuery(text="lamb"))) == []  # four letters: exact only
    assert ids(await filled.search(SearchQuery(text="lamp"))) == [4]


async def test_an_exact_match_ranks_above_a_typo(backend: SearchBackend) -> None:
    generation = await backend.create_generation()
    await backend.upsert(generation, [document(1, "Cable holder"), document(2, "Table holder")])
    await backend.commit(generation)
    await backend.activate(generation)
    assert ids(await backend.search(SearchQuery(text="table"))) == [2, 1]


async def test_a_sku_matches_exactly_even_with_query_syntax_in_it(filled: SearchBackend) -> None:
    assert ids(await filled.search(SearchQuery(text="CAB-9:X(1)"))) == [6]
    assert ids(await filled.search(SearchQuery(text="SKU-00003"))) == [3]
    assert ids(await filled.search(SearchQuery(text="SKU-0000"))) == []


@pytest.mark.parametrize(
    "text",
    [
        '"',
        ":",
        "(",
        ")",
        "*",
        "~",
        "name:widget",
        "widget~2",
        "[1 TO 5]",
        "\x00",
        "ü¿ß日本",
        "-",
        "+widget",
        "a" * 500,
        "\\",
        "' OR 1=1 --",
        "🙂",
    ],
)
async def test_query_syntax_is_plain_text(filled: SearchBackend, text: str) -> None:
    result = await filled.search(SearchQuery(text=text))
    assert result.total == len(result.hits)


async def test_query_syntax_characters_separate_words(filled: SearchBackend) -> None:
    assert ids(await filled.search(SearchQuery(text='"lamp"'))) == [4]
    assert ids(await filled.search(SearchQuery(text="desk:(lamp)*"))) == [4]


async def test_a_category_filter_takes_its_subcategories(filled: SearchBackend) -> None:
    assert sorted(ids(await filled.search(SearchQuery(category_id=3)))) == [3, 4]
    assert ids(await filled.search(SearchQuery(category_id=7))) == [4]
    assert ids(await filled.search(SearchQuery(category_id=2))) == [6]
    assert ids(await filled.search(SearchQuery(category_id=999))) == []


async def test_filters_combine(filled: SearchBackend) -> None:
    def query(**filters: object) -> SearchQuery:
        return SearchQuery(sort=SearchSort.PRICE, **filters)  # type: ignore[arg-type]

    assert ids(await filled.search(query(brands=("Bolt",)))) == [2, 5]
    assert ids(await filled.search(query(brands=("Bolt", "Acme"), statuses=("active",)))) == [
        1,
        4,
        2,
        3,
    ]
    assert ids(await filled.search(query(min_price=Decimal("45.50"), max_price=Decimal(120)))) == [
        4,
        2,
        3,
    ]
    assert ids(await filled.search(query(stock_levels=("out", "critical")))) == [4, 3]
    assert ids(await filled.search(query(statuses=("draft",)))) == [5]
    assert ids(await filled.search(query(text="widget", brands=("Bolt",)))) == [2, 5]


async def test_filters_on_most_of_a_fields_values_match_the_values_named(
    filled: SearchBackend,
) -> None:
    """tantivy rules out the other values instead when fewer documents hold them: the same
    products either way, alone or beside words and other filters."""

    async def found(**filters: object) -> tuple[list[int], int]:
        result = await filled.search(SearchQuery(sort=SearchSort.PRICE, **filters))  # type: ignore[arg-type]
        return ids(result), result.total

    everything = [6, 1, 4, 2, 3, 5]
    assert await found(stock_levels=("in_stock", "low", "critical")) == ([6, 1, 2, 3, 5], 5)
    assert await found(stock_levels=("out", "critical", "low", "in_stock")) == (everything, 6)
    assert await found(statuses=("active",)) == ([6, 1, 4, 2, 3], 5)
    assert await found(statuses=("active", "draft", "archived")) == (everything, 6)
    assert await found(statuses=("active", "bogus")) == ([6, 1, 4, 2, 3], 5)
    assert await found(statuses=("bogus",)) == ([], 0)
    assert await found(text="widget", statuses=("active",)) == ([1, 2], 2)
    both = await filled.search(
        SearchQuery(sort=SearchSort.PRICE, statuses=("active",), stock_levels=("in_stock", "low"))
    )
    assert (ids(both), both.total) == ([6, 1, 2], 3)
    assert {v.value: v.count for v in both.facets["stock_level"]} == {"in_stock": 2, "low": 1}
    plain = await filled.search(SearchQuery(statuses=("active",), facets=False))
    assert plain.total == 5 and plain.facets == {}


async def test_facets_count_what_the_query_matches(filled: SearchBackend) -> None:
    result = await filled.search(SearchQuery())
    facets = {name: {v.value: v.count for v in values} for name, values in result.facets.items()}
    assert facets["brand"] == {"Acme": 3, "Bolt": 2}
    assert facets["category"] == {"1": 3, "3": 1, "7": 1, "2": 1}
    assert facets["stock_level"] == {"in_stock": 3, "critical": 1, "out": 1, "low": 1}
    assert facets["price"] == {"*-10": 2, "10-50": 1, "50-100": 1, "100-500": 1, "500-*": 1}
    narrowed = await filled.search(SearchQuery(text="widget"))
    brands = {v.value: v.count for v in narrowed.facets["brand"]}
    assert brands == {"Acme": 1, "Bolt": 2}


async def test_sorts_and_pages(filled: SearchBackend) -> None:
    by_price = ids(await filled.search(SearchQuery(sort=SearchSort.PRICE)))
    assert by_price == [6, 1, 4, 2, 3, 5]
    assert ids(await filled.search(SearchQuery(sort=SearchSort.PRICE_DESC))) == by_price[::-1]
    assert ids(await filled.search(SearchQuery(sort=SearchSort.POPULARITY)))[:2] == [4, 5]
    assert ids(await filled.search(SearchQuery(sort=SearchSort.NEWEST))) == [6, 5, 4, 3, 2, 1]
    page = await filled.search(SearchQuery(sort=SearchSort.PRICE, offset=2, limit=2))
    assert ids(page) == [4, 2]
    assert page.total == 6
    assert ids(await filled.search(SearchQuery(sort=SearchSort.PRICE, offset=6))) == []


async def test_a_hit_carries_the_document(filled: SearchBackend) -> None:
    (hit,) = (await filled.search(SearchQuery(text="lamp"))).hits
    assert hit.source["sku"] == "SKU-00004"
    assert hit.source["price"] == "45.50"
    assert hit.source["category_ids"] == [1, 3, 7]
    assert hit.source["stock_level"] == "out"
    assert hit.score is not None and hit.score > 0


async def test_upsert_replaces_and_delete_removes(filled: SearchBackend) -> None:
    generation = await filled.live_generation()
    assert generation is not None
    await filled.upsert(generation, [document(4, "Floor lamp", price="80")])
    await filled.delete(generation, [1, 999])
    await filled.commit(generation)
    (hit,) = (await filled.search(SearchQuery(text="lamp"))).hits
    assert hit.source["name"] == "Floor lamp"
    assert ids(await filled.search(SearchQuery(text="blue"))) == []
    assert await filled.count() == 5
    digests = await filled.digests(generation)
    assert sorted(digests) == [2, 3, 4, 5, 6]
    assert digests[4] == document(4, "Floor lamp", price="80").digest


async def test_uncommitted_changes_are_not_searchable(filled: SearchBackend) -> None:
    generation = await filled.live_generation()
    assert generation is not None
    await filled.upsert(generation, [document(9, "Teapot")])
    assert ids(await filled.search(SearchQuery(text="teapot"))) == []
    await filled.release(generation)  # gives up the uncommitted change
    assert ids(await filled.search(SearchQuery(text="teapot"))) == []


async def test_a_new_generation_swaps_in_at_once(filled: SearchBackend) -> None:
    old = await filled.live_generation()
    new = await filled.create_generation()
    await filled.upsert(new, [document(10, "Teapot")])
    await filled.commit(new)
    assert ids(await filled.search(SearchQuery(text="teapot"))) == []  # not live yet
    assert await filled.activate(new) == old
    assert ids(await filled.search(SearchQuery(text="teapot"))) == [10]
    assert ids(await filled.search(SearchQuery(text="lamp"))) == []
    assert old is not None
    await filled.drop(old)
    assert await filled.generations() == [new]
    with pytest.raises(ValueError, match="live"):
        await filled.drop(new)


async def test_another_process_on_the_host_sees_each_commit(tmp_path: Path) -> None:
    root = tmp_path / "search" / "tantivy"
    writer, reader = TantivySearch(root), TantivySearch(root)
    try:
        generation = await writer.create_generation()
        await writer.activate(generation)
        assert ids(await reader.search(SearchQuery(text="teapot"))) == []
        await writer.upsert(generation, [document(1, "Teapot")])
        await writer.commit(generation)
        # The reader sees that meta.json changed and reloads: the very next search finds it
        # (tantivy's own watcher alone would take up to 500 ms).
        assert ids(await reader.search(SearchQuery(text="teapot"))) == [1]
        for n in range(2, 6):  # and every commit after it, however close together
            await writer.upsert(generation, [document(n, f"Teapot {n}")])
            await writer.commit(generation)
            assert len(ids(await reader.search(SearchQuery(text="teapot")))) == n
        fresh = await writer.create_generation()
        await writer.activate(fresh)
        assert ids(await reader.search(SearchQuery(text="teapot"))) == []  # it follows the swap
    finally:
        await writer.close()
        await reader.close()
