"""The one place that builds concrete backends from `Settings` and wires them together."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog.cache.backend import CacheBackend
from catalog.cache.cache_aside import Cache, CacheTtls
from catalog.cache.keys import CacheKeys
from catalog.cache.memory import MemoryCache
from catalog.cache.redis_cache import RedisCache
from catalog.events.publisher import EventPublisher
from catalog.search.backend import SearchBackend
from catalog.search.tantivy_index import TantivySearch
from catalog.settings import Settings
from catalog.store import db
from catalog.store.embedded import EmbeddedPostgres
from catalog.work.declarations import WorkRegistry, registries_in, registry_at
from catalog.work.engine import WorkEngine
from catalog.work.resources import Resources
from catalog.work.schedules.timing import defaults_of

JOBS_PACKAGE = "catalog.jobs"

log = logging.getLogger(__name__)


def configured_database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise ValueError("CATALOG_DATABASE_URL is not set")
    return db.libpq_url(str(settings.database_url))


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The configured PostgreSQL URL, or the embedded server's for as long as the block runs."""
    if settings.database_url is not None:
        yield configured_database_url(settings)
        return
    server = EmbeddedPostgres(settings.data_dir / "postgres")
    url = server.start()
    log.info("embedded PostgreSQL ready at %s", url)
    try:
        yield url
    finally:
        server.stop()


def check_configuration(settings: Settings) -> None:
    """Fail fast on settings that would otherwise only fail once a server runs."""
    declared = {
        name: definition.schedule
        for registry in work_registries(settings)
        for name, definition in registry.jobs.items()
        if definition.schedule is not None
    }
    defaults_of(declared, settings.schedules)


@dataclass(frozen=True)
class Runtime:
    """The wired service: what routes and commands are handed (jobs get `resources` only)."""

    database_url: str
    resources: Resources

    @property
    def settings(self) -> Settings:
        return self.resources.settings

    @property
    def engine(self) -> AsyncEngine:
        return self.resources.db

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.resources.sessions

    @property
    def work(self) -> WorkEngine:
        return self.resources.work

    @property
    def cache(self) -> Cache:
        return self.resources.cache

    @property
    def search(self) -> SearchBackend:
        return self.resources.search


def build_cache(settings: Settings) -> Cache:
    """Redis when `CATALOG_REDIS_URL` is set, else this process's in-process cache."""
    backend: CacheBackend
    if settings.redis_url is not None:
        backend = RedisCache(settings.redis_url, timeout_s=settings.cache_timeout_s)
    else:
        backend = MemoryCache(max_entries=settings.cache_memory_max_entries)
    return Cache(
        backend,
        keys=CacheKeys(prefix=settings.cache_prefix),
        ttls=CacheTtls(
            product_s=settings.cache_product_ttl_s,
            category_s=settings.cache_category_ttl_s,
            report_s=settings.cache_report_ttl_s,
        ),
        retry_after_s=settings.cache_retry_after_s,
    )


def build_search(settings: Settings) -> SearchBackend:
    """Elasticsearch when `CATALOG_ELASTICSEARCH_URL` is set, else tantivy under the data dir.

    Every process on a host shares the tantivy index: the `search-sync` leader writes it and
    each process's reader sees a commit within about a second.
    """
    if settings.elasticsearch_url is not None:
        # Imported only here: processes without Elasticsearch never load its client.
        from catalog.search.elastic import ElasticsearchSearch

        return ElasticsearchSearch(
            settings.elasticsearch_url, index_prefix=settings.search_index_prefix
        )
    return TantivySearch(settings.data_dir / "search" / "tantivy")


def work_registries(settings: Settings) -> list[WorkRegistry]:
    """Every module of `catalog.jobs`, then any configured extras (`CATALOG_JOB_MODULES`)."""
    registries = registries_in(JOBS_PACKAGE)
    registries.extend(registry_at(spec) for spec in settings.job_modules)
    return registries


@contextlib.asynccontextmanager
async def runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    engine = db.create_engine(
        database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    work = WorkEngine(
        database_url,
        work_registries(settings),
        pool_max_size=2 * settings.worker_concurrency + settings.db_pool_size,
        settings=settings,
    )
    cache = build_cache(settings)
    search = build_search(settings)
    events = None
    if settings.rabbitmq_url is not None:
        events = EventPublisher(settings.rabbitmq_url, exchange=settings.events_exchange)
    await work.open()
    try:
        resources = Resources(
            settings=settings,
            db=engine,
            sessions=db.create_sessionmaker(engine),
            work=work,
            cache=cache,
            search=search,
            events=events,
        )
        yield Runtime(database_url=database_url, resources=resources)
    finally:
        await work.close()
        await cache.close()
        await search.close()
        if events is not None:
            await events.close()
        await engine.dispose()


async def prepare_demo(rt: Runtime) -> None:
    """Load the demo catalogue if the catalogue is empty (the first start of `catalog serve`)."""
    from catalog.store import demo

    loaded = await demo.load_demo_if_empty(rt.engine, products=rt.settings.demo_products)
    if loaded:
        log.info("loaded the demo catalogue: %d products", loaded)
