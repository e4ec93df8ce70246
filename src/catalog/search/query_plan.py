"""A `SearchQuery` as a tantivy query, built from parts (never parsed from the user's text).

Scoring: a word found in the name weighs `NAME_BOOST` times one found in the description; a
word of `FUZZY_MIN_CHARS` letters or more also matches with one typo (an insertion, deletion,
substitution or transposition), weighted below an exact match. Every word must match somewhere
(name, description or tags), or the whole query must equal a SKU. Filters do not score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tantivy

from catalog.domain.products import ProductStatus
from catalog.domain.stock import StockLevel
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
    query: tantivy.Query  # scored: for the page of hits
    matches: tantivy.Query  # the same documents, cheaper to find: for counts and facets
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


def _word_matches(schema: tantivy.Schema, word: str) -> tantivy.Query:
    """The documents `_word_query` finds, without scoring them: a word long enough for typos
    needs only its fuzzy terms (one edit or none includes the word itself), which halves the
    clauses to visit."""
    fuzzy = len(word) >= FUZZY_MIN_CHARS
    return Query.boolean_query(
        [
            (
                Occur.Should,
                Query.fuzzy_term_query(schema, field, word, distance=1)
                if fuzzy
                else Query.term_query(schema, field, word),
            )
            for field in ("name", "description", "tags")
        ]
    )


def _text_query(
    schema: tantivy.Schema, query: SearchQuery, *, scored: bool = True
) -> tantivy.Query | None:
    words = query.words
    sku = query.sku
    if not words and not sku:
        return None
    alternatives: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if sku:
        exact_sku = Query.term_query(schema, "sku", sku)
        alternatives.append((Occur.Should, Query.boost_query(exact_sku, SKU_BOOST)))
    if words:
        word_query = _word_query if scored else _word_matches
        all_words = Query.boolean_query([(Occur.Must, word_query(schema, w)) for w in words])
        alternatives.append((Occur.Should, all_words))
    return Query.boolean_query(alternatives)


def _any_of(schema: tantivy.Schema, field: str, values: Sequence[str]) -> tantivy.Query:
    # Term queries rather than a term set: a term set collects every matching document of
    # each value first (most of the catalogue for `status=active`), where a term query is
    # only asked about the documents the rest of the query finds.
    if len(values) == 1:
        return Query.term_query(schema, field, values[0])
    return Query.boolean_query([(Occur.Should, Query.term_query(schema, field, v)) for v in values])


# Fields holding exactly one of a few values in every document.
ONE_OF: Mapping[str, tuple[str, ...]] = {
    "stock_level": tuple(level.value for level in StockLevel),
    "status": tuple(status.value for status in ProductStatus),
}

DocFreq = Callable[[str, str], int]  # documents holding a field's value


def _one_of(
    schema: tantivy.Schema, field: str, values: Sequence[str], doc_freq: DocFreq
) -> tuple[tantivy.Occur, tantivy.Query] | None:
    """A filter on a `ONE_OF` field: the values wanted, or the others ruled out when they are
    held by fewer documents (`status=active` is `not draft and not archived`: asking the rest
    of the query's matches about two small lists is cheaper than about one of nearly every
    document; and a union of two large lists costs more still). None: no filter is needed."""
    every = ONE_OF[field]
    wanted = [value for value in every if value in values]
    others = [value for value in every if value not in values]
    if not others:
        return None
    if wanted and sum(doc_freq(field, v) for v in others) < sum(doc_freq(field, v) for v in wanted):
        return Occur.MustNot, _any_of(schema, field, others)
    return Occur.Must, _any_of(schema, field, wanted or list(values))


def _filters(
    schema: tantivy.Schema, query: SearchQuery, doc_freq: DocFreq
) -> list[tuple[tantivy.Occur, tantivy.Query]]:
    filters: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if query.category_id is not None:
        filters.append((Occur.Must, Query.term_query(schema, "category_ids", query.category_id)))
    if query.brands:
        filters.append((Occur.Must, _any_of(schema, "brand", query.brands)))
    for field, values in (("stock_level", query.stock_levels), ("status", query.statuses)):
        if values and (found := _one_of(schema, field, values, doc_freq)) is not None:
            filters.append(found)
    if query.min_price is not None or query.max_price is not None:
        price = Query.range_query(
            schema,
            "price",
            tantivy.FieldType.Float,
            lower_bound=float(query.min_price) if query.min_price is not None else None,
            upper_bound=float(query.max_price) if query.max_price is not None else None,
        )
        filters.append((Occur.Must, price))
    return filters


def _combined(
    text: tantivy.Query | None, filters: list[tuple[tantivy.Occur, tantivy.Query]]
) -> tantivy.Query:
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if text is not None:
        clauses.append((Occur.Must, text))
    for occur, filter_query in filters:
        if occur == Occur.Must:
            clauses.append((Occur.Must, Query.const_score_query(filter_query, 0.0)))
        else:
            clauses.append((occur, filter_query))
    if not clauses:
        return Query.all_query()
    if all(occur == Occur.MustNot for occur, _ in clauses):
        clauses.append((Occur.Must, Query.all_query()))  # exclusions need something to exclude from
    return Query.boolean_query(clauses)


def tantivy_query(schema: tantivy.Schema, query: SearchQuery, doc_freq: DocFreq) -> Plan:
    """`doc_freq` (the searcher's) picks the cheaper form of some filters."""
    text = _text_query(schema, query)
    filters = _filters(schema, query, doc_freq)
    order_by, ascending = _SORTS[query.sort]
    if order_by is None and text is None:
        # Nothing to rank by: newest first is more useful than index order.
        order_by, ascending = "created_at", False
    return Plan(
        query=_combined(text, filters),
        matches=_combined(_text_query(schema, query, scored=False), filters),
        order_by=order_by,
        ascending=ascending,
    )


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


# tantivy only: the number of matches, from the facets' pass, so that the pass for the page
# of hits need not count them too.
TOTAL_AGG = "_total"
TANTIVY_AGGS: dict[str, Any] = FACET_AGGS | {TOTAL_AGG: {"value_count": {"field": "id"}}}


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
