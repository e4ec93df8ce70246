"""The embedded search backend: tantivy indexes under the data directory, one per generation.

Layout under `root` (`<data_dir>/search/tantivy`): one directory per generation, and a file
`LIVE` naming the live one, replaced atomically (write aside, then rename) to swap. Readers in
any process on the host check `LIVE` before each search and reopen when it changed, and check
the live index's `meta.json` (which each commit replaces) and reload when it changed, so each
commit is seen by the next search in every process. (tantivy's own reload on commit polls
`meta.json` only every 500 ms, and a reload of its watcher thread racing ours could leave the
older state in place: the readers here reload only when told to.) tantivy allows one writer per
index directory (a file lock); the calls block, so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import tantivy

from catalog.search import query_plan
from catalog.search.backend import GenerationGone, SearchUnavailable
from catalog.search.documents import ProductDocument
from catalog.search.query import Hit, SearchQuery, SearchResult

LIVE_FILE = "LIVE"
# The version of `schema()` and `to_tantivy()` a generation was built with, in a file of that
# name in its directory (none: 1). A live generation of an older version is not live to the
# writers: search-sync builds a new one, while searches go on reading the old one.
SCHEMA_FILE = "SCHEMA"
SCHEMA_VERSION = 2
WORDS_SINCE = 2  # the version that added `query_plan.WORDS_FIELD`
WRITER_HEAP_BYTES = 64_000_000
WRITER_THREADS = 1  # the machine's other cores serve searches and PostgreSQL
DIGEST_CHUNK = 100_000  # ids per query when reading every digest


def schema(version: int = SCHEMA_VERSION) -> tantivy.Schema:
    """The index's fields, as of `version` (an older one describes what older builds wrote)."""
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("id", stored=True, indexed=True, fast=True)
    builder.add_text_field("sku", tokenizer_name="raw")
    builder.add_text_field("name", tokenizer_name="default")
    builder.add_text_field("description", tokenizer_name="default")
    builder.add_text_field("brand", tokenizer_name="raw", fast=True)
    builder.add_integer_field("category_id", indexed=True, fast=True)
    builder.add_integer_field("category_ids", indexed=True)
    builder.add_float_field("price", indexed=True, fast=True)
    builder.add_text_field("stock_level", tokenizer_name="raw", fast=True)
    builder.add_text_field("status", tokenizer_name="raw", fast=True)
    builder.add_text_field("tags", tokenizer_name="default")
    builder.add_float_field("popularity", fast=True)
    builder.add_date_field("created_at", fast=True)
    builder.add_integer_field("digest", fast=True)
    builder.add_bytes_field("source", stored=True)
    if version >= WORDS_SINCE:  # last, so that the fields before keep their numbers
        words = query_plan.WORDS_FIELD
        builder.add_text_field(words, tokenizer_name="default", index_option="basic")
    return builder.build()


def to_tantivy(document: ProductDocument) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_integer("id", document.id)
    doc.add_text("sku", document.sku)
    doc.add_text("name", document.name)
    doc.add_text("description", document.description)
    if document.brand is not None:
        doc.add_text("brand", document.brand)
    if document.category_id is not None:
        doc.add_integer("category_id", document.category_id)
    for category_id in document.category_ids:
        doc.add_integer("category_ids", category_id)
    doc.add_float("price", float(document.price))
    doc.add_text("stock_level", document.stock_level)
    doc.add_text("status", document.status)
    doc.add_text(query_plan.WORDS_FIELD, document.name)
    doc.add_text(query_plan.WORDS_FIELD, document.description)
    for tag in document.tags:
        doc.add_text("tags", tag)
        doc.add_text(query_plan.WORDS_FIELD, tag)
    doc.add_float("popularity", document.popularity)
    doc.add_date("created_at", document.created_at.astimezone(UTC).replace(tzinfo=None))
    doc.add_integer("digest", document.digest)
    doc.add_bytes("source", document.to_json().encode())
    return doc


@dataclass
class _Reader:
    generation: str
    index: tantivy.Index
    live_stamp: tuple[int, int]
    meta: bytes | None  # the generation's meta.json as last loaded
    words_field: bool  # built with `query_plan.WORDS_FIELD` (schema WORDS_SINCE and later)
    reloads: int = 0

    @property
    def version(self) -> str:
        return f"{self.generation}/{self.reloads}"


def _meta_of(path: Path) -> bytes | None:
    # Its contents, not its stat: two commits within a clock tick can leave the same inode
    # number and modification time. It is a few kilobytes, read in microseconds.
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class TantivySearch:
    """A `SearchBackend` on tantivy indexes under `root`."""

    name = "tantivy"

    def __init__(
        self,
        root: Path,
        *,
        writer_heap_bytes: int = WRITER_HEAP_BYTES,
        writer_threads: int = 1,
        schema_version: int = SCHEMA_VERSION,
    ) -> None:
        """`schema_version`: the schema of the generations this one builds and keeps live (an
        older one only to make such generations, as tests of an upgrade do)."""
        self.root = root
        self._version = schema_version
        self._schema = schema(schema_version)
        self._heap = writer_heap_bytes
        self._threads = writer_threads
        self._writers: dict[str, tuple[tantivy.Index, tantivy.IndexWriter]] = {}
        self._reader: _Reader | None = None
        self._reader_lock = threading.Lock()

    # -- generations ------------------------------------------------------------------------

    async def live_generation(self) -> str | None:
        live = self._read_live()
        if live is None or self._schema_version(live) != self._version:
            return None  # none yet, or one to build again (searches still read it meanwhile)
        return live

    def _schema_version(self, generation: str) -> int:
        try:
            return int((self.root / generation / SCHEMA_FILE).read_text())
        except (FileNotFoundError, ValueError):
            return 1

    async def create_generation(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        generation = f"g{stamp}-{uuid.uuid4().hex[:8]}"
        path = self.root / generation
        await asyncio.to_thread(self._create, path)
        return generation

    def _create(self, path: Path) -> None:
        path.mkdir(parents=True)
        (path / SCHEMA_FILE).write_text(str(self._version))
        tantivy.Index(self._schema, path=str(path), reuse=False)

    async def activate(self, generation: str) -> str | None:
        if not (self.root / generation).is_dir():
            raise GenerationGone(f"no search index generation {generation!r}")
        previous = self._read_live()
        aside = self.root / f".{LIVE_FILE}.{uuid.uuid4().hex}"
        aside.write_text(generation)
        os.replace(aside, self.root / LIVE_FILE)
        return previous

    async def drop(self, generation: str) -> None:
        if generation == self._read_live():
            raise ValueError(f"generation {generation!r} is live; activate another first")
        await self.release(generation)
        await asyncio.to_thread(shutil.rmtree, self.root / generation, True)

    async def generations(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name[0] == "g")

    # -- writing ----------------------------------------------------------------------------

    def _writer(self, generation: str) -> tantivy.IndexWriter:
        if generation not in self._writers:
            path = self.root / generation
            if not (path / "meta.json").exists():
                raise GenerationGone(f"no search index generation {generation!r}")
            index = tantivy.Index.open(str(path))
            writer = index.writer(heap_size=self._heap, num_threads=self._threads)
            self._writers[generation] = (index, writer)
        return self._writers[generation][1]

    async def upsert(self, generation: str, documents: Sequence[ProductDocument]) -> None:
        if not documents:
            return
        writer = self._writer(generation)
        converted = [to_tantivy(document) for document in documents]
        ids = [document.id for document in documents]

        def write() -> None:
            writer.delete_documents_by_query(tantivy.Query.term_set_query(self._schema, "id", ids))
            for doc in converted:
                writer.add_document(doc)

        await asyncio.to_thread(write)

    async def delete(self, generation: str, ids: Sequence[int]) -> None:
        if not ids:
            return
        writer = self._writer(generation)
        query = tantivy.Query.term_set_query(self._schema, "id", list(ids))
        await asyncio.to_thread(writer.delete_documents_by_query, query)

    async def commit(self, generation: str) -> None:
        writer = self._writer(generation)
        await asyncio.to_thread(writer.commit)

    async def release(self, generation: str) -> None:
        found = self._writers.pop(generation, None)
        if found is not None:
            _, writer = found
            try:
                await asyncio.to_thread(_close_writer, writer)
            except ValueError:
                # Another process dropped the generation under us: nothing is left to close.
                if (self.root / generation / "meta.json").exists():
                    raise

    # -- reading ----------------------------------------------------------------------------

    def _read_live(self) -> str | None:
        try:
            return (self.root / LIVE_FILE).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _live_index(self) -> _Reader:
        """The live generation's reader, reopened when `LIVE` names another one."""
        try:
            stat = (self.root / LIVE_FILE).stat()
        except FileNotFoundError:
            raise SearchUnavailable("the search index is not built yet") from None
        stamp = (stat.st_ino, stat.st_mtime_ns)
        with self._reader_lock:
            reader = self._reader
            if reader is None or reader.live_stamp != stamp:
                generation = self._read_live()
                if generation is None:
                    raise SearchUnavailable("the search index is not built yet")
                # meta.json before opening: a commit in between is reloaded at the next search.
                meta = _meta_of(self.root / generation / "meta.json")
                try:
                    index = tantivy.Index.open(str(self.root / generation))
                    index.config_reader(reload_policy="Manual")
                except ValueError as error:
                    problem = f"the search index cannot be opened: {error}"
                    raise SearchUnavailable(problem) from error
                words_field = self._schema_version(generation) >= WORDS_SINCE
                reader = self._reader = _Reader(generation, index, stamp, meta, words_field)
            else:
                meta = _meta_of(self.root / reader.generation / "meta.json")
                if meta != reader.meta:
                    reader.meta = meta  # before reloading, for the same reason
                    reader.index.reload()
                    reader.reloads += 1
            return reader

    def _index_of(self, generation: str | None) -> tantivy.Index:
        if generation is None:
            return self._live_index().index
        path = self.root / generation
        if not (path / "meta.json").exists():
            raise GenerationGone(f"no search index generation {generation!r}")
        index = tantivy.Index.open(str(path))
        return index

    async def count(self, generation: str | None = None) -> int:
        index = self._index_of(generation)
        index.reload()
        return int(index.searcher().num_docs)

    async def digests(self, generation: str) -> Mapping[int, int]:
        index = self._index_of(generation)
        return await asyncio.to_thread(self._digests, index)

    def _digests(self, index: tantivy.Index) -> dict[int, int]:
        index.reload()
        searcher = index.searcher()
        found: dict[int, int] = {}
        total = searcher.num_docs
        low = 0
        while len(found) < total:
            window = tantivy.Query.range_query(
                self._schema,
                "id",
                tantivy.FieldType.Integer,
                lower_bound=low,
                upper_bound=low + DIGEST_CHUNK - 1,
            )
            if _count(searcher.search(window, limit=1)) == 0:
                # Skip empty windows quickly: jump to the smallest id at or above `low`.
                rest = tantivy.Query.range_query(
                    self._schema, "id", tantivy.FieldType.Integer, lower_bound=low
                )
                first = searcher.search(rest, limit=1, order_by_field="id", order=tantivy.Order.Asc)
                if not first.hits:
                    break
                low = int(searcher.fast_field_values("id", [first.hits[0][1]])[0] or 0)
                continue
            hits = searcher.search(window, limit=DIGEST_CHUNK, count=False).hits
            addresses = [address for _, address in hits]
            ids = searcher.fast_field_values("id", addresses)
            digests = searcher.fast_field_values("digest", addresses)
            for doc_id, digest in zip(ids, digests, strict=True):
                found[int(doc_id or 0)] = int(digest or 0)
            low += DIGEST_CHUNK
        return found

    async def search(self, query: SearchQuery) -> SearchResult:
        reader = self._live_index()
        version, searcher = reader.version, reader.index.searcher()
        plan = query_plan.tantivy_query(
            self._schema, query, searcher.doc_freq, words_field=reader.words_field
        )
        if not query.facets:
            total, hits = await asyncio.to_thread(_hits, searcher, plan, query, count=True)
            return SearchResult(total=total, hits=hits, facets={}, version=version)
        # The page of hits and the facet counts are two passes over the matches; tantivy lets
        # go of the GIL in both, so side by side they take about the longer one (p99 at a
        # million products: 25 ms instead of 33; bench/search.py). The facets' pass counts
        # the matches, with the cheaper unscored query; the page's pass only ranks them.
        (_, hits), aggregations = await asyncio.gather(
            asyncio.to_thread(_hits, searcher, plan, query, count=False),
            asyncio.to_thread(searcher.aggregate, plan.matches, query_plan.TANTIVY_AGGS),
        )
        total = int(aggregations.get(query_plan.TOTAL_AGG, {}).get("value") or 0)
        facets = query_plan.read_facets(aggregations)
        return SearchResult(total=total, hits=hits, facets=facets, version=version)

    async def close(self) -> None:
        for generation in list(self._writers):
            await self.release(generation)
        self._reader = None


def _hits(
    searcher: tantivy.Searcher, plan: query_plan.Plan, query: SearchQuery, *, count: bool
) -> tuple[int, list[Hit]]:
    """The requested page of matches, and their number if `count` (else 0)."""
    limit = max(query.limit, 1)
    if plan.order_by is None:
        found = searcher.search(plan.query, limit=limit, offset=query.offset, count=count)
    else:
        found = searcher.search(
            plan.matches,  # ordered by a field: scores would be computed for nothing
            limit=limit,
            offset=query.offset,
            count=count,
            order_by_field=plan.order_by,
            order=tantivy.Order.Asc if plan.ascending else tantivy.Order.Desc,
        )
    hits = []
    for score, address in found.hits[: query.limit]:
        source = json.loads(searcher.doc(address).get_first("source") or b"{}")
        relevance = float(score) if plan.order_by is None else None
        hits.append(Hit(id=int(source["id"]), score=relevance, source=source))
    return _count(found), hits


def _count(found: tantivy.SearchResult) -> int:
    # The type stubs leave `count` out; it is None when the search was asked not to count.
    return int(getattr(found, "count", None) or 0)


def _close_writer(writer: tantivy.IndexWriter) -> None:
    writer.rollback()
    writer.wait_merging_threads()
