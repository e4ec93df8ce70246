"""What the Elasticsearch backend sends, as pure functions: index settings and mapping, the query
of a `SearchQuery`, bulk lines, alias swaps; and how it reads the answers.

The query mirrors the tantivy plan (`query_plan`): the user's text is split into words here and
each word becomes `term` queries (and, for words of `FUZZY_MIN_CHARS` letters or more, `fuzzy`
queries with one edit) on name, description and tags, boosted alike; every word must match, or
the whole text must equal a SKU. The index's analyzer cuts text into the same words as
`words_of` (runs of letters and digits, lower-cased, cut to `MAX_TERM_CHARS`), so a query word and
an indexed word compare as the same string on both backends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from catalog.search.backend import GenerationGone, SearchError, SearchUnavailable
from catalog.search.documents import ProductDocument
from catalog.search.query import (
    FUZZY_MIN_CHARS,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_TERM_CHARS,
    Hit,
    SearchQuery,
    SearchResult,
    SearchSort,
)
from catalog.search.query_plan import (
    DESCRIPTION_BOOST,
    FACET_AGGS,
    FUZZY_WEIGHT,
    NAME_BOOST,
    SKU_BOOST,
    TAG_BOOST,
    read_facets,
)

ANALYZER = "catalog_words"
DIGEST_FIELD = "digest"  # stored beside the document; hits leave it out
TEXT_FIELDS: tuple[tuple[str, float], ...] = (
    ("name", NAME_BOOST),
    ("description", DESCRIPTION_BOOST),
    ("tags", TAG_BOOST),
)
BULK_DOCUMENTS = 500  # documents per bulk request

_TEXT = {"type": "text", "analyzer": ANALYZER}
_KEYWORD = {"type": "keyword"}
_LONG = {"type": "long"}
_DATE = {"type": "date"}

# Every field of `ProductDocument` (`dynamic: strict` refuses any other) plus the digest.
PROPERTIES: dict[str, dict[str, Any]] = {
    "id": _LONG,
    "sku": _KEYWORD,
    "name": _TEXT,
    "description": _TEXT,
    "brand": _KEYWORD,
    "category_id": _LONG,
    "category_ids": _LONG,
    "category_names": _KEYWORD,
    "price": {"type": "scaled_float", "scaling_factor": 100},  # exact cents
    "currency": _KEYWORD,
    "stock": {"type": "integer"},
    "stock_level": _KEYWORD,
    "status": _KEYWORD,
    "tags": _TEXT,
    "popularity": {"type": "double"},
    "created_at": _DATE,
    "updated_at": _DATE,
    DIGEST_FIELD: _LONG,
}


def index_name(prefix: str, generation: str) -> str:
    return f"{prefix}-{generation}"


def generation_of(prefix: str, index: str) -> str | None:
    """The generation an index of ours holds, or None for an index that is not one of ours."""
    head = f"{prefix}-"
    if not index.startswith(head):
        return None
    generation = index[len(head) :]
    return generation if generation.startswith("g") and "-" in generation else None


def index_settings(*, shards: int = 1) -> dict[str, Any]:
    """One shard by default, so that scores do not depend on how documents fall into shards."""
    return {
        "number_of_shards": shards,
        "auto_expand_replicas": "0-1",  # a copy on a second node when there is one
        "refresh_interval": "-1",  # nothing is searchable until `commit` refreshes
        "max_result_window": MAX_OFFSET + MAX_LIMIT,
        "analysis": {
            "tokenizer": {
                "catalog_letters_digits": {"type": "pattern", "pattern": r"[^\p{L}\p{N}]+"}
            },
            "filter": {"catalog_cut": {"type": "truncate", "length": MAX_TERM_CHARS}},
            "analyzer": {
                ANALYZER: {
                    "type": "custom",
                    "tokenizer": "catalog_letters_digits",
                    "filter": ["lowercase", "catalog_cut"],
                }
            },
        },
    }


def index_mappings() -> dict[str, Any]:
    return {"dynamic": "strict", "properties": PROPERTIES}


# -- searching ---------------------------------------------------------------------------------


def word_query(word: str) -> dict[str, Any]:
    """One word, found in the name, description or tags; with one typo if it is long enough."""
    options: list[dict[str, Any]] = []
    for field, boost in TEXT_FIELDS:
        options.append({"term": {field: {"value": word, "boost": boost}}})
        if len(word) >= FUZZY_MIN_CHARS:
            fuzzy = {
                "value": word,
                "fuzziness": 1,
                "transpositions": True,
                "prefix_length": 0,
                "boost": boost * FUZZY_WEIGHT,
            }
            options.append({"fuzzy": {field: fuzzy}})
    return {"bool": {"should": options, "minimum_should_match": 1}}


def text_query(query: SearchQuery) -> dict[str, Any] | None:
    """Every word matching, or the whole text as a SKU (exact, case and all); None: no text."""
    words = query.words
    sku = query.sku
    if not words and not sku:
        return None
    alternatives: list[dict[str, Any]] = []
    if sku:
        alternatives.append({"term": {"sku": {"value": sku, "boost": SKU_BOOST}}})
    if words:
        alternatives.append({"bool": {"must": [word_query(word) for word in words]}})
    return {"bool": {"should": alternatives, "minimum_should_match": 1}}


def filters(query: SearchQuery) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if query.category_id is not None:
        # A document lists its category's whole path, so this takes the subcategories too.
        found.append({"term": {"category_ids": query.category_id}})
    for field, values in (
        ("brand", query.brands),
        ("stock_level", query.stock_levels),
        ("status", query.statuses),
    ):
        if values:
            found.append({"terms": {field: list(values)}})
    if query.min_price is not None or query.max_price is not None:
        bounds: dict[str, float] = {}
        if query.min_price is not None:
            bounds["gte"] = float(query.min_price)
        if query.max_price is not None:
            bounds["lte"] = float(query.max_price)
        found.append({"range": {"price": bounds}})
    return found


def full_query(query: SearchQuery) -> dict[str, Any]:
    text = text_query(query)
    filtering = filters(query)
    if text is None and not filtering:
        return {"match_all": {}}
    combined: dict[str, Any] = {}
    if text is not None:
        combined["must"] = [text]
    if filtering:
        combined["filter"] = filtering  # filters do not score
    return {"bool": combined}


_SORTS: Mapping[SearchSort, dict[str, str] | None] = {
    SearchSort.RELEVANCE: None,
    SearchSort.PRICE: {"price": "asc"},
    SearchSort.PRICE_DESC: {"price": "desc"},
    SearchSort.POPULARITY: {"popularity": "desc"},
    SearchSort.NEWEST: {"created_at": "desc"},
}


def sort_of(query: SearchQuery) -> list[dict[str, str] | str]:
    """The sort, ties broken by id so that pages never overlap."""
    order = _SORTS[query.sort]
    if order is None and text_query(query) is None:
        order = {"created_at": "desc"}  # nothing to rank by: newest first, as on tantivy
    first: dict[str, str] | str = "_score" if order is None else order
    return [first, {"id": "asc"}]


def by_relevance(query: SearchQuery) -> bool:
    return sort_of(query)[0] == "_score"


def search_request(query: SearchQuery) -> dict[str, Any]:
    """Keyword arguments of `AsyncElasticsearch.search` for `query` (index aside)."""
    request: dict[str, Any] = {
        "query": full_query(query),
        "sort": sort_of(query),
        "from_": query.offset,
        "size": query.limit,
        "track_total_hits": True,
        "source": {"excludes": [DIGEST_FIELD]},
    }
    if query.facets:
        request["aggs"] = FACET_AGGS
    return request


def read_search(response: Mapping[str, Any], query: SearchQuery) -> SearchResult:
    hits_part = response["hits"]
    relevance = by_relevance(query)
    hits = []
    for hit in hits_part["hits"]:
        source = dict(hit["_source"])
        score = hit.get("_score") if relevance else None
        hits.append(
            Hit(
                id=int(hit["_id"]), score=float(score) if score is not None else None, source=source
            )
        )
    facets = read_facets(response.get("aggregations", {})) if query.facets else {}
    return SearchResult(total=int(hits_part["total"]["value"]), hits=hits, facets=facets)


def digest_page_request(pit_id: str, after: Sequence[Any] | None, size: int) -> dict[str, Any]:
    """One page of (id, digest) pairs, in id order, from a point in time."""
    request: dict[str, Any] = {
        "pit": {"id": pit_id, "keep_alive": "1m"},
        "sort": [{"id": "asc"}],
        "size": size,
        "source": {"includes": ["id", DIGEST_FIELD]},
        "track_total_hits": False,
    }
    if after is not None:
        request["search_after"] = list(after)
    return request


# -- writing -----------------------------------------------------------------------------------


def stored_source(document: ProductDocument) -> dict[str, object]:
    source = document.to_source()
    source[DIGEST_FIELD] = document.digest
    return source


def upsert_operations(index: str, documents: Sequence[ProductDocument]) -> list[dict[str, Any]]:
    """Bulk lines: an `index` action (add or replace by id) and the source, per document."""
    lines: list[dict[str, Any]] = []
    for document in documents:
        lines.append({"index": {"_index": index, "_id": str(document.id)}})
        lines.append(stored_source(document))
    return lines


def delete_operations(index: str, ids: Sequence[int]) -> list[dict[str, Any]]:
    return [{"delete": {"_index": index, "_id": str(doc_id)}} for doc_id in ids]


def check_bulk(response: Mapping[str, Any], generation: str) -> None:
    """Raise for the items that failed; deleting an absent document is not a failure."""
    if not response.get("errors"):
        return
    failed = []
    for item in response.get("items", []):
        ((_, outcome),) = item.items()
        if "error" in outcome:
            failed.append(outcome)
    if not failed:
        return
    kinds = {str(outcome["error"].get("type")) for outcome in failed}
    if "index_not_found_exception" in kinds:
        raise GenerationGone(f"no search index generation {generation!r}")
    first = failed[0]
    summary = f"{first['error'].get('type')}: {first['error'].get('reason')} (id {first['_id']})"
    if all(int(outcome.get("status", 500)) == 429 for outcome in failed):
        raise SearchUnavailable(f"Elasticsearch is overloaded: {len(failed)} writes refused")
    raise SearchError(f"{len(failed)} of {len(response['items'])} bulk writes failed: {summary}")


def alias_actions(alias: str, new_index: str, old_indices: Sequence[str]) -> list[dict[str, Any]]:
    """One `update_aliases` request: off the old indices and onto the new one, atomically."""
    actions: list[dict[str, Any]] = [
        {"remove": {"index": old, "alias": alias}} for old in old_indices if old != new_index
    ]
    actions.append({"add": {"index": new_index, "alias": alias}})
    return actions
