"""What a search asks and what it answers, the same for every backend.

The query text is never handed to a backend's query language: it is split into words here
(letters and digits; everything else separates), so that quotes, colons, brackets and the like
are plain separators, not syntax, on every backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

MAX_QUERY_CHARS = 500
MAX_TERMS = 16  # words of a query beyond these are ignored
MAX_TERM_CHARS = 40  # longer "words" match nothing anyway; they are cut
FUZZY_MIN_CHARS = 5  # words this long or longer match with one typo
MAX_OFFSET = 10_000  # deeper pages are refused: ask a narrower question
MAX_LIMIT = 100
FACET_SIZE = 20  # top values per facet

# Price bands for the price facet: [from, to) in the catalogue's currency units.
PRICE_BANDS: tuple[tuple[Decimal | None, Decimal | None], ...] = (
    (None, Decimal(10)),
    (Decimal(10), Decimal(50)),
    (Decimal(50), Decimal(100)),
    (Decimal(100), Decimal(500)),
    (Decimal(500), None),
)

# What tantivy's default tokenizer keeps: runs of letters and digits (`_` separates).
_WORD = re.compile(r"[^\W_]+")


class SearchSort(StrEnum):
    RELEVANCE = "relevance"
    PRICE = "price"  # cheapest first
    PRICE_DESC = "-price"
    POPULARITY = "popularity"  # most popular first
    NEWEST = "newest"  # most recently created first


def words_of(text: str) -> list[str]:
    """The query's words, lower-cased: what the index's tokenizer makes of the same text."""
    return [word[:MAX_TERM_CHARS] for word in _WORD.findall(text.lower())][:MAX_TERMS]


def band_key(low: Decimal | None, high: Decimal | None) -> str:
    """A price band's name, as the facet shows it: '10-50', '*-10', '500-*'."""
    return f"{low if low is not None else '*'}-{high if high is not None else '*'}"


@dataclass(frozen=True)
class SearchQuery:
    text: str = ""  # empty: every document (filters still apply)
    category_id: int | None = None  # the category and everything below it
    brands: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    stock_levels: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    sort: SearchSort = SearchSort.RELEVANCE
    offset: int = 0
    limit: int = 20
    facets: bool = True

    @property
    def words(self) -> list[str]:
        return words_of(self.text)

    @property
    def sku(self) -> str:
        """The query as a SKU: matched exactly (case and all) against the SKU field."""
        return self.text.strip()


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    label: str | None = None  # a category's name


@dataclass(frozen=True)
class Hit:
    id: int
    score: float | None  # None unless sorted by relevance
    source: dict[str, object]


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: list[Hit]
    facets: dict[str, list[FacetValue]] = field(default_factory=dict)
    # Changes whenever the index searched has changed (a commit, another generation); None
    # when the backend cannot tell. Lets the API keep what it derived from the last result.
    version: str | None = None
