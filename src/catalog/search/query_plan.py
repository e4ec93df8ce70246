"""A `SearchQuery` as a tantivy query, built from parts (never parsed from the user's text).

Every word must match somewhere (name, description or tags), or the whole query must equal a
SKU; a word of `FUZZY_MIN_CHARS` letters or more also matches with one typo (an insertion,
deletion, substitution or transposition). Scoring (BM25): a word found in the name weighs
`NAME_BOOST` times one found in the description; a match by a typo adds nothing, so it ranks
below the exact matches. Filters do not score.

Two queries come of one `SearchQuery`: the scored one for the page of hits, and one finding the
same documents without scores for the total and the facets (`Plan.matches`). Both find words
in one field holding name, description and tags (`WORDS_FIELD`); an index built before that
field is searched field by field (`words_field=False`) until search-sync has rebuilt it.
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


TEXT_FIELDS = (("name", NAME_BOOST), ("description", DESCRIPTION_BOOST), ("tags", TAG_BOOST))
WORDS_FIELD = "words"  # name, description and tags in one field, for finding matches only


def _exact(schema: tantivy.Schema, field: str, word: str) -> tantivy.Query:
    return Query.term_query(schema, field, word, index_option="freq")  # BM25 needs no positions


def _found(schema: tantivy.Schema, field: str, word: str) -> tantivy.Query:
    """The documents holding `word` in `field`, or a word one edit from it if it is long
    enough (one edit or none includes the word itself)."""
    if len(word) >= FUZZY_MIN_CHARS:
        return Query.fuzzy_term_query(schema, field, word, distance=1)
    return Query.term_query(schema, field, word, index_option="basic")


def _scored_words(schema: tantivy.Schema, words: list[str]) -> tantivy.Query:
    """Every word found in `WORDS_FIELD`, scored by its exact matches in each text field: one
    posting list per word to find the matches, instead of a union over the three fields
    (with typos, six) of which the most common words hold hundreds of thousands of documents.
    A match by a typo alone adds nothing to the score, so it ranks below the exact ones."""
    found = Query.boolean_query([(Occur.Must, _found(schema, WORDS_FIELD, w)) for w in words])
    scores = [
        (Occur.Should, Query.boost_query(_exact(schema, field, word), boost))
        for word in words
        for field, boost in TEXT_FIELDS
    ]
    return Query.boolean_query([(Occur.Must, Query.const_score_query(found, 0.0)), *scores])


def _per_field_word(schema: tantivy.Schema, word: str, *, scored: bool) -> tantivy.Query:
    """One word in any text field, for an index built before `WORDS_FIELD`. Unscored, the
    fuzzy terms alone find the same documents."""
    options: list[tuple[tantivy.Occur, tantivy.Query]] = []
    for field, boost in TEXT_FIELDS:
        if not scored:
            options.append((Occur.Should, _found(schema, field, word)))
            continue
        options.append((Occur.Should, Query.boost_query(_exact(schema, field, word), boost)))
        if len(word) >= FUZZY_MIN_CHARS:
            fuzzy = Query.fuzzy_term_query(schema, field, word, distance=1)
            options.append((Occur.Should, Query.boost_query(fuzzy, boost * FUZZY_WEIGHT)))
    return Query.boolean_query(options)


def _words_query(
    schema: tantivy.Schema, words: list[str], *, scored: bool, words_field: bool
) -> tantivy.Query:
    if words_field and scored:
        return _scored_words(schema, words)
    if words_field:
        return Query.boolean_query([(Occur.Must, _found(schema, WORDS_FIELD, w)) for w in words])
    return Query.boolean_query(
        [(Occur.Must, _per_field_word(schema, w, scored=scored)) for w in words]
    )


def _text_query(
    schema: tantivy.Schema, query: SearchQuery, *, scored: bool, words_field: bool
) -> tantivy.Query | None:
    words = query.words
    sku = query.sku
    if not words and not sku:
        return None
    alternatives: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if sku:
        exact_sku = Query.term_query(schema, "sku", sku, index_option="basic")
        alternatives.append((Occur.Should, Query.boost_query(exact_sku, SKU_BOOST)))
    if words:
        all_words = _words_query(schema, words, scored=scored, words_field=words_field)
        alternatives.append((Occur.Should, all_words))
    return Query.boolean_query(alternatives)


def _any_of(schema: tantivy.Schema, field: str, values: Sequence[str]) -> tantivy.Query:
    # Term queries rather than a term set: a term set collects every matching document of
    # each value first (most of the catalogue for `status=active`), where a term query is
    # only asked about the documents the rest of the query finds.
    terms = [Query.term_query(schema, field, value, index_option="basic") for value in values]
    if len(terms) == 1:
        return terms[0]
    return Query.boolean_query([(Occur.Should, term) for term in terms])


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
        filters.append(
            (Occur.Must, Query.term_query(schema, "category_ids", query.category_id, "basic"))
        )
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


def tantivy_query(
    schema: tantivy.Schema, query: SearchQuery, doc_freq: DocFreq, *, words_field: bool = True
) -> Plan:
    """`doc_freq` (the searcher's) picks the cheaper form of some filters; `words_field` is
    False for an index built before `WORDS_FIELD`."""
    text = _text_query(schema, query, scored=True, words_field=words_field)
    filters = _filters(schema, query, doc_freq)
    order_by, ascending = _SORTS[query.sort]
    if order_by is None and text is None:
        # Nothing to rank by: newest first is more useful than index order.
        order_by, ascending = "created_at", False
    return Plan(
        query=_combined(text, filters),
        matches=_combined(
            _text_query(schema, query, scored=False, words_field=words_field), filters
        ),
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
