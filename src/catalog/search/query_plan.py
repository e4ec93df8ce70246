"""A `SearchQuery` as a tantivy query, built from parts (never parsed from the user's text).

Scoring: a word found in the name weighs `NAME_BOOST` times one found in the description; a
word of `FUZZY_MIN_CHARS` letters or more also matches with one typo (an insertion, deletion,
substitution or transposition), weighted below an exact match. Every word must match somewhere
(name, description or tags), or the whole query must equal a SKU. Filters do not score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tantivy

from catalog.search.query import (
    FACET_SIZE,
    FUZZY_MIN_CHARS,
    PRICE_BANDS,
    FacetValue,
    SearchQuery,
    SearchSort,
    band_key,
)

NAME_BOOST = 3.0
DESCRIPTION_BOOST = 1.0
TAG_BOOST = 1.5
FUZZY_WEIGHT = 0.5  # of the exact match's weight
SKU_BOOST = 20.0

Occur = tantivy.Occur
Query = tantivy.Query


@dataclass(frozen=True)
class Plan:
    query: tantivy.Query
    order_by: str | None  # None: by score
    ascending: bool = False


_SORTS: Mapping[SearchSort, tuple[str | None, bool]] = {
    SearchSort.RELEVANCE: (None, False),
    SearchSort.PRICE: ("price", True),
    SearchSort.PRICE_DESC: ("price", False),
    SearchSort.POPULARITY: ("popularity", False),
    SearchSort.NEWEST: ("created_at", False),
}


def _word_query(schema: tantivy.Schema, word: str) -> tantivy.Query:
    fields = (("name", NAME_BOOST), ("description", DESCRIPTION_BOOST), ("tags", TAG_BOOST))
    options: list[tuple[tantivy.Occur, tantivy.Query]] = []
    for field, boost in fields:
        exact = Query.term_query(schema, field, word)
        options.append((Occur.Should, Query.boost_query(exact, boost)))
        if len(word) >= FUZZY_MIN_CHARS:
            fuzzy = Query.fuzzy_term_query(schema, field, word, distance=1)
            options.append((Occur.Should, Query.boost_query(fuzzy, boost * FUZZY_WEIGHT)))
    return Query.boolean_query(options)


def _text_query(schema: tantivy.Schema, query: SearchQuery) -> tantivy.Query | None:
    words = query.words
    sku = query.sku
    if not words and not sku:
        return None
    alternatives: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if sku:
        exact_sku = Query.term_query(schema, "sku", sku)
        alternatives.append((Occur.Should, Query.boost_query(exact_sku, SKU_BOOST)))
    if words:
        all_words = Query.boolean_query([(Occur.Must, _word_query(schema, w)) for w in words])
        alternatives.append((Occur.Should, all_words))
    return Query.boolean_query(alternatives)


def _filters(schema: tantivy.Schema, query: SearchQuery) -> list[tantivy.Query]:
    filters: list[tantivy.Query] = []
    if query.category_id is not None:
        filters.append(Query.term_query(schema, "category_ids", query.category_id))
    for field, values in (
        ("brand", query.brands),
        ("stock_level", query.stock_levels),
        ("status", query.statuses),
    ):
        if values:
            filters.append(Query.term_set_query(schema, field, list(values)))
    if query.min_price is not None or query.max_price is not None:
        filters.append(
            Query.range_query(
                schema,
                "price",
                tantivy.FieldType.Float,
                lower_bound=float(query.min_price) if query.min_price is not None else None,
                upper_bound=float(query.max_price) if query.max_price is not None else None,
            )
        )
    return filters


def tantivy_query(schema: tantivy.Schema, query: SearchQuery) -> Plan:
    text = _text_query(schema, query)
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if text is not None:
        clauses.append((Occur.Must, text))
    for filter_query in _filters(schema, query):
        clauses.append((Occur.Must, Query.const_score_query(filter_query, 0.0)))
    combined = Query.all_query() if not clauses else Query.boolean_query(clauses)
    order_by, ascending = _SORTS[query.sort]
    if order_by is None and text is None:
        # Nothing to rank by: newest first is more useful than index order.
        order_by, ascending = "created_at", False
    return Plan(query=combined, order_by=order_by, ascending=ascending)


def _price_ranges() -> list[dict[str, float]]:
    ranges = []
    for low, high in PRICE_BANDS:
        band: dict[str, float] = {}
        if low is not None:
            band["from"] = float(low)
        if high is not None:
            band["to"] = float(high)
        ranges.append(band)
    return ranges


FACET_AGGS: dict[str, Any] = {
    "category": {"terms": {"field": "category_id", "size": FACET_SIZE}},
    "brand": {"terms": {"field": "brand", "size": FACET_SIZE}},
    "stock_level": {"terms": {"field": "stock_level", "size": FACET_SIZE}},
    "price": {"range": {"field": "price", "ranges": _price_ranges()}},
}


def read_facets(aggregations: Mapping[str, Any]) -> dict[str, list[FacetValue]]:
    """tantivy's (Elasticsearch-shaped) aggregation result as facet counts."""
    facets: dict[str, list[FacetValue]] = {}
    for name in ("category", "brand", "stock_level"):
        buckets = aggregations.get(name, {}).get("buckets", [])
        facets[name] = [
            FacetValue(value=str(bucket["key"]), count=int(bucket["doc_count"]))
            for bucket in buckets
            if int(bucket["doc_count"]) > 0
        ]
    price_buckets = aggregations.get("price", {}).get("buckets", [])
    facets["price"] = [
        FacetValue(value=band_key(low, high), count=int(bucket["doc_count"]))
        for (low, high), bucket in zip(PRICE_BANDS, price_buckets, strict=False)
    ]
    return facets
