"""The Elasticsearch search backend: one index per generation behind one alias.

Names: generation `g20260101t120000-1a2b3c4d` lives in index `<prefix>-g20260101t120000-1a2b3c4d`;
the alias `<prefix>` names the live one, and searches go to the alias. `activate` moves the alias
in one `update_aliases` request (remove from the old index, add to the new), which Elasticsearch
applies atomically: a search sees the old index or the new one, never neither.

Writes go out at once in bulk requests, but an index refreshes only when `commit` asks
(`refresh_interval: -1`), so nothing uncommitted is searchable. Unlike tantivy, Elasticsearch
cannot take written documents back: `release` only forgets the generation, and what was written
before it becomes searchable at that generation's next commit (a rebuild that fails drops its
generation; the live one is kept equal to PostgreSQL by search sync, which replays the change log).

Errors: a server that cannot be reached, times out, refuses our credentials (401, 403), is
overloaded (429) or fails (5xx) is `SearchUnavailable`; a generation whose index is gone is
`GenerationGone`; any other refusal (a request of ours it rejects) is raised as the client's own
error, since retrying cannot help.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError, TransportError

from catalog.search import elastic_requests as requests
from catalog.search.backend import GenerationGone, SearchUnavailable
from catalog.search.documents import ProductDocument
from catalog.search.query import SearchQuery, SearchResult

REQUEST_TIMEOUT_S = 10.0
MAX_RETRIES = 2  # on connection errors and timeouts, by the client, to another node if any
DIGEST_PAGE_SIZE = 10_000  # (id, digest) pairs per page when reading every digest
POINT_IN_TIME_KEEP_ALIVE = "1m"  # between two pages of digests


class ElasticsearchSearch:
    """A `SearchBackend` on an Elasticsearch cluster; see the module docstring."""

    name = "elasticsearch"

    def __init__(
        self,
        url: str,
        *,
        index_prefix: str = "catalog-products",
        client: AsyncElasticsearch | None = None,
    ) -> None:
        if index_prefix != index_prefix.lower() or not index_prefix:
            raise ValueError(f"an index prefix is lower-case and not empty: {index_prefix!r}")
        self.prefix = index_prefix
        self._owns_client = client is None
        self._client = client or AsyncElasticsearch(
            url,
            request_timeout=REQUEST_TIMEOUT_S,
            max_retries=MAX_RETRIES,
            retry_on_timeout=True,
        )

    def _index(self, generation: str) -> str:
        return requests.index_name(self.prefix, generation)

    # -- generations ------------------------------------------------------------------------

    async def live_generation(self) -> str | None:
        live = await self._live_indices()
        return requests.generation_of(self.prefix, live[0]) if live else None

    async def _live_indices(self) -> list[str]:
        with client_errors_as_ours():
            try:
                found = await self._client.indices.get_alias(name=self.prefix)
            except NotFoundError:
                return []
        return sorted(found.body)

    async def create_generation(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dt%H%M%S")
        generation = f"g{stamp}-{uuid.uuid4().hex[:8]}"
        with client_errors_as_ours():
            await self._client.indices.create(
                index=self._index(generation),
                settings=requests.index_settings(),
                mappings=requests.index_mappings(),
            )
        return generation

    async def activate(self, generation: str) -> str | None:
        new_index = self._index(generation)
        await self._require(generation)
        old_indices = await self._live_indices()
        previous = requests.generation_of(self.prefix, old_indices[0]) if old_indices else None
        if old_indices == [new_index]:
            return previous
        actions = requests.alias_actions(self.prefix, new_index, old_indices)
        with client_errors_as_ours(generation):
            await self._client.indices.update_aliases(actions=actions)
        return previous

    async def drop(self, generation: str) -> None:
        if generation == await self.live_generation():
            raise ValueError(f"generation {generation!r} is live; activate another first")
        with client_errors_as_ours(), suppress(NotFoundError):  # dropped already: done
            await self._client.indices.delete(index=self._index(generation))

    async def generations(self) -> list[str]:
        found = await self._indices()
        names = (requests.generation_of(self.prefix, index) for index in found)
        return sorted(name for name in names if name is not None)

    async def _indices(self) -> list[str]:
        """Every index under our prefix (an index pattern matching none is no error)."""
        with client_errors_as_ours():
            found = await self._client.indices.get_alias(index=f"{self.prefix}-*")
        return sorted(found.body)

    async def _require(self, generation: str) -> None:
        with client_errors_as_ours():
            exists = await self._client.indices.exists(index=self._index(generation))
        if not exists:
            raise GenerationGone(f"no search index generation {generation!r}")

    # -- writing ----------------------------------------------------------------------------

    async def upsert(self, generation: str, documents: Sequence[ProductDocument]) -> None:
        if not documents:
            return
        # Checked first: a bulk write to a missing index would create it, with a guessed mapping.
        await self._require(generation)
        index = self._index(generation)
        for start in range(0, len(documents), requests.BULK_DOCUMENTS):
            chunk = documents[start : start + requests.BULK_DOCUMENTS]
            await self._bulk(generation, requests.upsert_operations(index, chunk))

    async def delete(self, generation: str, ids: Sequence[int]) -> None:
        if not ids:
            return
        await self._require(generation)
        index = self._index(generation)
        for start in range(0, len(ids), requests.BULK_DOCUMENTS):
            chunk = ids[start : start + requests.BULK_DOCUMENTS]
            await self._bulk(generation, requests.delete_operations(index, chunk))

    async def _bulk(self, generation: str, operations: list[dict[str, Any]]) -> None:
        with client_errors_as_ours(generation):
            response = await self._client.bulk(operations=operations)
        requests.check_bulk(response.body, generation)

    async def commit(self, generation: str) -> None:
        with client_errors_as_ours(generation):
            await self._client.indices.refresh(index=self._index(generation))

    async def release(self, generation: str) -> None:
        """Nothing to free: Elasticsearch holds no writer of ours (see the module docstring)."""

    # -- reading ----------------------------------------------------------------------------

    async def count(self, generation: str | None = None) -> int:
        if generation is None:
            with client_errors_as_ours(missing_is_unavailable=True):
                found = await self._client.count(index=self.prefix)
        else:
            with client_errors_as_ours(generation):
                found = await self._client.count(index=self._index(generation))
        return int(found["count"])

    async def digests(self, generation: str) -> Mapping[int, int]:
        """Read from one point in time, so that a commit meanwhile cannot skip or repeat ids."""
        with client_errors_as_ours(generation):
            opened = await self._client.open_point_in_time(
                index=self._index(generation), keep_alive=POINT_IN_TIME_KEEP_ALIVE
            )
        pit_id = str(opened["id"])
        found: dict[int, int] = {}
        after: list[Any] | None = None
        try:
            while True:
                request = requests.digest_page_request(pit_id, after, DIGEST_PAGE_SIZE)
                with client_errors_as_ours(generation):
                    page = await self._client.search(**request)
                pit_id = str(page.body.get("pit_id", pit_id))
                hits = page["hits"]["hits"]
                for hit in hits:
                    found[int(hit["_id"])] = int(hit["_source"][requests.DIGEST_FIELD])
                if len(hits) < DIGEST_PAGE_SIZE:
                    return found
                after = list(hits[-1]["sort"])
        finally:
            # A point in time left open expires by itself; failing to close it changes nothing.
            with suppress(ApiError, TransportError):
                await self._client.close_point_in_time(id=pit_id)

    async def search(self, query: SearchQuery) -> SearchResult:
        with client_errors_as_ours(missing_is_unavailable=True):
            response = await self._client.search(
                index=self.prefix, **requests.search_request(query)
            )
        return requests.read_search(response.body, query)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.close()

    async def destroy(self) -> None:
        """Delete every index under the prefix (and with them the alias), then close."""
        try:
            indices = await self._indices()
            if indices:
                with client_errors_as_ours():
                    # By name: clusters refuse wildcard deletes (`destructive_requires_name`).
                    await self._client.indices.delete(index=indices)
        finally:
            await self.close()


@contextmanager
def client_errors_as_ours(
    generation: str | None = None, *, missing_is_unavailable: bool = False
) -> Iterator[None]:
    """The client's errors as ours: see the module docstring."""
    try:
        yield
    except NotFoundError as error:
        if missing_is_unavailable:
            raise SearchUnavailable("the search index is not built yet") from error
        if generation is not None:
            raise GenerationGone(f"no search index generation {generation!r}") from error
        raise
    except ApiError as error:
        status = error.meta.status
        if status in (401, 403):
            raise SearchUnavailable(f"Elasticsearch refuses our credentials: {error}") from error
        if status == 429 or status >= 500:
            raise SearchUnavailable(f"Elasticsearch cannot answer now: {error}") from error
        raise
    except TransportError as error:
        raise SearchUnavailable(f"Elasticsearch cannot be reached: {error}") from error
