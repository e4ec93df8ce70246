"""The search backend seam: what search sync, rebuild, reconcile and the API need of an index.

An index lives in generations. The live generation answers searches; a rebuild fills a new one
and swaps it in at once (`activate`), so searches never see a half-built index. Only one
process writes a given generation at a time: the `search-sync` leader the live one, a rebuild
its new one.

Errors:

    SearchError
    ├── SearchUnavailable   the backend cannot answer now (no index yet, server down): 503
    └── GenerationGone      the generation written to is no longer there or no longer live
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from catalog.search.documents import ProductDocument
from catalog.search.query import SearchQuery, SearchResult


class SearchError(Exception):
    """A search backend failed."""


class SearchUnavailable(SearchError):
    """The backend cannot answer now: there is no live index yet, or its server is down."""


class GenerationGone(SearchError):
    """A generation that was written to has been dropped."""


class SearchBackend(Protocol):
    """One search index, in generations; see the module docstring."""

    name: str  # "tantivy" | "elasticsearch"

    async def live_generation(self) -> str | None:
        """The generation answering searches, or None before the first build."""
        ...

    async def create_generation(self) -> str:
        """A new, empty generation (not live yet)."""
        ...

    async def upsert(self, generation: str, documents: Sequence[ProductDocument]) -> None:
        """Add or replace these documents (by id); visible once committed."""
        ...

    async def delete(self, generation: str, ids: Sequence[int]) -> None:
        """Remove these documents (absent ones are ignored); visible once committed."""
        ...

    async def commit(self, generation: str) -> None:
        """Make every upsert and delete so far durable and searchable."""
        ...

    async def release(self, generation: str) -> None:
        """Stop writing to `generation` (uncommitted changes are lost); frees its writer."""
        ...

    async def activate(self, generation: str) -> str | None:
        """Make `generation` the live one in one atomic step; returns the one it replaced."""
        ...

    async def drop(self, generation: str) -> None:
        """Delete a generation that is not live (an old one after a swap, a failed rebuild)."""
        ...

    async def generations(self) -> list[str]:
        """Every generation that exists, live or not."""
        ...

    async def digests(self, generation: str) -> Mapping[int, int]:
        """Every document's id and digest, as committed: what reconcile compares."""
        ...

    async def count(self, generation: str | None = None) -> int:
        """How many documents the (live) generation holds, as committed."""
        ...

    async def search(self, query: SearchQuery) -> SearchResult:
        """Run a query on the live generation; SearchUnavailable if there is none."""
        ...

    async def close(self) -> None: ...
