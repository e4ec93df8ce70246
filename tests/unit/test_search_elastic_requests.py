"""What the Elasticsearch backend sends, checked value by value without a server."""

from __future__ import annotations

import re
import socket
import unicodedata
from dataclasses import fields
from decimal import Decimal
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError, BadRequestError, NotFoundError

from catalog.search import elastic_requests as requests
from catalog.search.backend import GenerationGone, SearchError, SearchUnavailable
from catalog.search.documents import ProductDocument
from catalog.search.elastic import ElasticsearchSearch, client_errors_as_ours
from catalog.search.query import (
    FACET_SIZE,
    MAX_LIMIT,
    MAX_OFFSET,
    SearchQuery,
    SearchSort,
)
from catalog.search.query_plan import DESCRIPTION_BOOST, NAME_BOOST, SKU_BOOST, TAG_BOOST
from tests.support.search import document


def _words_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-word clauses of a text query."""
    text = request["query"]["bool"]["must"][0]
    (all_words,) = [alt for alt in text["bool"]["should"] if "bool" in alt]
    return list(all_words["bool"]["must"])


def _fuzzy_fields(word_clause: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        field: options
        for option in word_clause["bool"]["should"]
        if "fuzzy" in option
        for field, options in option["fuzzy"].items()
    }


# -- index ------------------------------------------------------------------------------------


def test_the_mapping_is_strict_and_maps_every_document_field() -> None:
    mapping = requests.index_mappings()
    assert mapping["dynamic"] == "strict"
    names = {f.name for f in fields(ProductDocument)}
    assert set(mapping["properties"]) == names | {"digest"}


def test_the_mapping_types_each_field_for_what_search_does_with_it() -> None:
    properties = requests.index_mappings()["properties"]
    for field in ("sku", "brand", "status", "stock_level", "currency"):
        assert properties[field] == {"type": "keyword"}, field
    for field in ("name", "description", "tags"):
        assert properties[field] == {"type": "text", "analyzer": requests.ANALYZER}, field
    assert properties["category_ids"] == {"type": "long"}
    assert properties["category_id"] == {"type": "long"}
    assert properties["price"] == {"type": "scaled_float", "scaling_factor": 100}
    assert properties["stock"] == {"type": "integer"}
    assert properties["popularity"] == {"type": "double"}
    assert properties["created_at"] == properties["updated_at"] == {"type": "date"}
    assert properties["digest"] == {"type": "long"}


def test_the_index_refreshes_only_on_commit_and_pages_as_deep_as_the_api_allows() -> None:
    settings = requests.index_settings()
    assert settings["refresh_interval"] == "-1"
    assert settings["number_of_shards"] == 1
    assert settings["max_result_window"] == MAX_OFFSET + MAX_LIMIT
    analyzer = settings["analysis"]["analyzer"][requests.ANALYZER]
    assert analyzer["filter"] == ["lowercase", "catalog_cut"]
    assert settings["analysis"]["filter"]["catalog_cut"] == {"type": "truncate", "length": 40}


def test_the_analyzer_splits_text_where_words_of_does() -> None:
    # The index's tokenizer splits on anything but Unicode letters and numbers; words_of keeps
    # runs of `[^\W_]`: they must be the same characters, or a query word could never match.
    tokenizer = requests.index_settings()["analysis"]["tokenizer"]["catalog_letters_digits"]
    assert tokenizer == {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"}
    word_char = re.compile(r"[^\W_]")
    for code in range(0x10000):
        char = chr(code)
        in_a_word = unicodedata.category(char)[0] in "LN"
        assert bool(word_char.fullmatch(char)) == in_a_word, hex(code)


def test_index_names_carry_the_generation_under_the_prefix() -> None:
    assert requests.index_name("catalog-products", "g1-ab") == "catalog-products-g1-ab"
    assert requests.generation_of("catalog-products", "catalog-products-g1-ab") == "g1-ab"
    assert requests.generation_of("catalog-products", "catalog-products-x-g1-ab") is None
    assert requests.generation_of("catalog-products", "other-g1-ab") is None


# -- query ------------------------------------------------------------------------------------


def test_a_long_word_gets_one_edit_of_fuzziness_and_a_short_word_none() -> None:
    clauses = _words_of(requests.search_request(SearchQuery(text="desk keybaord")))
    desk, keybaord = clauses
    assert _fuzzy_fields(desk) == {}
    fuzzy = _fuzzy_fields(keybaord)
    assert set(fuzzy) == {"name", "description", "tags"}
    for options in fuzzy.values():
        assert options["value"] == "keybaord"
        assert options["fuzziness"] == 1
        assert options["transpositions"] is True


def test_a_word_of_exactly_five_letters_is_fuzzy() -> None:
    (clause,) = _words_of(requests.search_request(SearchQuery(text="Table")))
    assert {options["value"] for options in _fuzzy_fields(clause).values()} == {"table"}


def test_the_name_weighs_more_than_the_description_and_exact_more_than_a_typo() -> None:
    (clause,) = _words_of(requests.search_request(SearchQuery(text="widget")))
    exact = {
        field: options["boost"]
        for option in clause["bool"]["should"]
        if "term" in option
        for field, options in option["term"].items()
    }
    assert exact == {"name": NAME_BOOST, "description": DESCRIPTION_BOOST, "tags": TAG_BOOST}
    assert NAME_BOOST > DESCRIPTION_BOOST
    fuzzy = _fuzzy_fields(clause)
    for field, boost in exact.items():
        assert fuzzy[field]["boost"] < boost
    assert clause["bool"]["minimum_should_match"] == 1


def test_every_word_must_match_and_words_are_lower_cased_terms() -> None:
    clauses = _words_of(requests.search_request(SearchQuery(text='Kitchen "gadget"')))
    assert len(clauses) == 2
    values = [
        {term[f]["value"] for opt in c["bool"]["should"] if (term := opt.get("term")) for f in term}
        for c in clauses
    ]
    assert values == [{"kitchen"}, {"gadget"}]


def test_the_whole_text_is_a_sku_alternative_exact_and_boosted() -> None:
    request = requests.search_request(SearchQuery(text="  CAB-9:X(1) "))
    text = request["query"]["bool"]["must"][0]
    assert text["bool"]["minimum_should_match"] == 1
    sku = text["bool"]["should"][0]
    assert sku == {"term": {"sku": {"value": "CAB-9:X(1)", "boost": SKU_BOOST}}}


def test_text_without_words_is_only_a_sku() -> None:
    request = requests.search_request(SearchQuery(text="-"))
    (sku,) = request["query"]["bool"]["must"][0]["bool"]["should"]
    assert sku["term"]["sku"]["value"] == "-"


def test_no_text_and_no_filter_is_every_document_newest_first() -> None:
    request = requests.search_request(SearchQuery())
    assert request["query"] == {"match_all": {}}
    assert request["sort"] == [{"created_at": "desc"}, {"id": "asc"}]
    assert not requests.by_relevance(SearchQuery())


def test_filters_do_not_score_and_the_category_filter_takes_subcategories() -> None:
    query = SearchQuery(
        text="lamp",
        category_id=3,
        brands=("Acme", "Bolt"),
        stock_levels=("out",),
        statuses=("active",),
        min_price=Decimal("45.50"),
        max_price=Decimal(120),
    )
    boolean = requests.search_request(query)["query"]["bool"]
    assert len(boolean["must"]) == 1
    assert boolean["filter"] == [
        {"term": {"category_ids": 3}},
        {"terms": {"brand": ["Acme", "Bolt"]}},
        {"terms": {"stock_level": ["out"]}},
        {"terms": {"status": ["active"]}},
        {"range": {"price": {"gte": 45.5, "lte": 120.0}}},
    ]


def test_a_price_range_may_be_open_on_either_side() -> None:
    low = requests.filters(SearchQuery(min_price=Decimal(10)))
    high = requests.filters(SearchQuery(max_price=Decimal("9.99")))
    assert low == [{"range": {"price": {"gte": 10.0}}}]
    assert high == [{"range": {"price": {"lte": 9.99}}}]
    assert requests.search_request(SearchQuery(category_id=7))["query"] == {
        "bool": {"filter": [{"term": {"category_ids": 7}}]}
    }


def test_facets_are_aggregations_on_category_brand_stock_level_and_price_bands() -> None:
    aggs = requests.search_request(SearchQuery())["aggs"]
    assert aggs["category"] == {"terms": {"field": "category_id", "size": FACET_SIZE}}
    assert aggs["brand"] == {"terms": {"field": "brand", "size": FACET_SIZE}}
    assert aggs["stock_level"] == {"terms": {"field": "stock_level", "size": FACET_SIZE}}
    assert aggs["price"] == {
        "range": {
            "field": "price",
            "ranges": [
                {"to": 10.0},
                {"from": 10.0, "to": 50.0},
                {"from": 50.0, "to": 100.0},
                {"from": 100.0, "to": 500.0},
                {"from": 500.0},
            ],
        }
    }
    assert "aggs" not in requests.search_request(SearchQuery(facets=False))


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        (SearchSort.RELEVANCE, "_score"),
        (SearchSort.PRICE, {"price": "asc"}),
        (SearchSort.PRICE_DESC, {"price": "desc"}),
        (SearchSort.POPULARITY, {"popularity": "desc"}),
        (SearchSort.NEWEST, {"created_at": "desc"}),
    ],
)
def test_each_sort_and_ties_broken_by_id(sort: SearchSort, first: object) -> None:
    request = requests.search_request(SearchQuery(text="lamp", sort=sort))
    assert request["sort"] == [first, {"id": "asc"}]
    assert requests.by_relevance(SearchQuery(text="lamp", sort=sort)) == (first == "_score")


def test_paging_is_from_and_size_with_an_exact_total() -> None:
    request = requests.search_request(SearchQuery(offset=40, limit=20))
    assert (request["from_"], request["size"]) == (40, 20)
    assert request["track_total_hits"] is True
    assert request["source"] == {"excludes": ["digest"]}


def test_an_answer_reads_as_hits_total_and_facets() -> None:
    response = {
        "hits": {
            "total": {"value": 7, "relation": "eq"},
            "hits": [
                {"_id": "4", "_score": 2.5, "_source": {"id": 4, "name": "Desk lamp"}},
                {"_id": "9", "_score": 1.0, "_source": {"id": 9, "name": "Lamp shade"}},
            ],
        },
        "aggregations": {
            "category": {"buckets": [{"key": 3, "doc_count": 2}]},
            "brand": {"buckets": [{"key": "Acme", "doc_count": 2}]},
            "stock_level": {"buckets": [{"key": "out", "doc_count": 1}]},
            "price": {
                "buckets": [
                    {"key": "*-10.0", "to": 10.0, "doc_count": 0},
                    {"key": "10.0-50.0", "from": 10.0, "to": 50.0, "doc_count": 2},
                    {"key": "50.0-100.0", "doc_count": 0},
                    {"key": "100.0-500.0", "doc_count": 0},
                    {"key": "500.0-*", "doc_count": 0},
                ]
            },
        },
    }
    result = requests.read_search(response, SearchQuery(text="lamp"))
    assert result.total == 7
    assert [(hit.id, hit.score) for hit in result.hits] == [(4, 2.5), (9, 1.0)]
    assert result.hits[0].source == {"id": 4, "name": "Desk lamp"}
    assert {v.value: v.count for v in result.facets["category"]} == {"3": 2}
    assert {v.value: v.count for v in result.facets["price"]}["10-50"] == 2
    by_price = requests.read_search(response, SearchQuery(text="lamp", sort=SearchSort.PRICE))
    assert [hit.score for hit in by_price.hits] == [None, None]


def test_digests_are_read_in_id_order_from_a_point_in_time() -> None:
    first = requests.digest_page_request("pit-1", None, 500)
    assert first == {
        "pit": {"id": "pit-1", "keep_alive": "1m"},
        "sort": [{"id": "asc"}],
        "size": 500,
        "source": {"includes": ["id", "digest"]},
        "track_total_hits": False,
    }
    after = requests.digest_page_request("pit-2", [41, 7], 500)
    assert after["search_after"] == [41, 7]


# -- writing ----------------------------------------------------------------------------------


def test_an_upsert_is_an_index_action_and_the_source_with_its_digest() -> None:
    lamp = document(4, "Desk lamp", category_ids=(1, 3, 7), price="45.50", stock=0)
    action, source = requests.upsert_operations("catalog-products-g1-ab", [lamp])
    assert action == {"index": {"_index": "catalog-products-g1-ab", "_id": "4"}}
    assert source["digest"] == lamp.digest
    assert source["price"] == "45.50"
    assert source["category_ids"] == [1, 3, 7]
    assert {k: v for k, v in source.items() if k != "digest"} == lamp.to_source()


def test_a_delete_is_one_delete_action_per_id() -> None:
    assert requests.delete_operations("idx", [1, 999]) == [
        {"delete": {"_index": "idx", "_id": "1"}},
        {"delete": {"_index": "idx", "_id": "999"}},
    ]


def _bulk(*outcomes: dict[str, Any]) -> dict[str, Any]:
    failed = any("error" in result for o in outcomes for result in o.values())
    return {"errors": failed, "items": list(outcomes)}


def test_deleting_an_absent_document_is_not_a_bulk_failure() -> None:
    absent = {"delete": {"_id": "999", "status": 404, "result": "not_found"}}
    requests.check_bulk({"errors": True, "items": [absent]}, "g1-ab")
    requests.check_bulk(_bulk({"index": {"_id": "1", "status": 201}}), "g1-ab")


def test_a_refused_document_fails_the_bulk_write_with_its_reason() -> None:
    refused = {
        "index": {
            "_id": "7",
            "status": 400,
            "error": {"type": "mapper_parsing_exception", "reason": "bad price"},
        }
    }
    with pytest.raises(SearchError, match=r"1 of 2 .*mapper_parsing_exception: bad price \(id 7"):
        requests.check_bulk(_bulk({"index": {"_id": "1", "status": 200}}, refused), "g1-ab")


def test_a_bulk_write_to_a_dropped_index_is_generation_gone() -> None:
    gone = {"delete": {"_id": "1", "status": 404, "error": {"type": "index_not_found_exception"}}}
    with pytest.raises(GenerationGone, match="g1-ab"):
        requests.check_bulk(_bulk(gone), "g1-ab")


def test_a_bulk_write_refused_for_load_is_unavailable() -> None:
    busy = {"index": {"_id": "1", "status": 429, "error": {"type": "es_rejected_execution"}}}
    with pytest.raises(SearchUnavailable):
        requests.check_bulk(_bulk(busy), "g1-ab")


def test_the_swap_removes_the_alias_from_the_old_index_and_adds_it_to_the_new_at_once() -> None:
    assert requests.alias_actions("cp", "cp-g2-b", ["cp-g1-a"]) == [
        {"remove": {"index": "cp-g1-a", "alias": "cp"}},
        {"add": {"index": "cp-g2-b", "alias": "cp"}},
    ]
    assert requests.alias_actions("cp", "cp-g1-a", []) == [
        {"add": {"index": "cp-g1-a", "alias": "cp"}}
    ]


# -- the client's errors ----------------------------------------------------------------------


def _api_error(kind: type[ApiError], status: int, error_type: str) -> ApiError:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.01,
        node=NodeConfig("http", "127.0.0.1", 9200),
    )
    body = {"error": {"type": error_type, "reason": error_type}, "status": status}
    return kind(error_type, meta=meta, body=body)


def test_a_missing_index_is_a_gone_generation_or_no_live_index() -> None:
    missing = _api_error(NotFoundError, 404, "index_not_found_exception")
    with pytest.raises(GenerationGone, match="g1-ab"), client_errors_as_ours("g1-ab"):
        raise missing
    not_built = pytest.raises(SearchUnavailable, match="not built")
    with not_built, client_errors_as_ours(missing_is_unavailable=True):
        raise missing
    with pytest.raises(NotFoundError), client_errors_as_ours():
        raise missing


@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
def test_a_cluster_that_cannot_answer_is_unavailable(status: int) -> None:
    with pytest.raises(SearchUnavailable), client_errors_as_ours("g1-ab"):
        raise _api_error(ApiError, status, "some_exception")


def test_a_request_the_cluster_rejects_is_raised_as_it_is() -> None:
    # A 400 is a request of ours that is wrong: retrying cannot help, so it is not "unavailable".
    with pytest.raises(BadRequestError), client_errors_as_ours("g1-ab"):
        raise _api_error(BadRequestError, 400, "parsing_exception")


# -- the client, on a server that is not there ---------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_server_that_cannot_be_reached_is_unavailable() -> None:
    backend = ElasticsearchSearch(f"http://127.0.0.1:{_closed_port()}", index_prefix="cp")
    try:
        with pytest.raises(SearchUnavailable, match="cannot be reached"):
            await backend.search(SearchQuery(text="lamp"))
        with pytest.raises(SearchUnavailable):
            await backend.live_generation()
        with pytest.raises(SearchUnavailable):
            await backend.upsert("g1-ab", [document(1, "Lamp")])
    finally:
        await backend.close()


def test_an_index_prefix_must_be_lower_case() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        ElasticsearchSearch("http://127.0.0.1:9200", index_prefix="Catalog")
