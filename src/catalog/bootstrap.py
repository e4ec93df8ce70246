"""The one place that builds concrete backends from `Settings` and wires them together."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog.settings import Settings
from catalog.store import db
from catalog.store.embedded import EmbeddedPostgres
from catalog.work.engine import JobRegistry, WorkEngine

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
    from catalog.work import schedules

    recurring = {
        name: definition
        for registry in job_registries(settings)
        for name, definition in registry.definitions.items()
        if definition.schedule is not None
    }
    schedules.defaults_of(recurring, settings.schedules)


@dataclass
class Runtime:
    """The wired service: what routes, jobs and commands are handed."""

    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    work: WorkEngine


def job_registries(settings: Settings) -> list[JobRegistry]:
    """The engine's own maintenance jobs, the catalogue's jobs, and any configured extras."""
    from catalog import jobs
    from catalog.work import maintenance

    registries = [maintenance.registry, jobs.registry]
    for spec in settings.job_modules:
        module_name, _, attribute = spec.partition(":")
        module = importlib.import_module(module_name)
        registry = getattr(module, attribute or "registry")
        if not isinstance(registry, JobRegistry):
            raise TypeError(f"{spec} is not a JobRegistry")
        registries.append(registry)
    return registries


@contextlib.asynccontextmanager
async def runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    engine = db.create_engine(
        database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    work = WorkEngine(
        database_url,
        job_registries(settings),
        pool_max_size=2 * settings.worker_concurrency + settings.db_pool_size,
    )
    await work.open()
    try:
        yield Runtime(
            settings=settings,
            database_url=database_url,
            engine=engine,
            sessions=db.create_sessionmaker(engine),
            work=work,
        )
    finally:
        await work.close()
        await engine.dispose()


async def prepare_demo(rt: Runtime) -> None:
    """Load the demo catalogue if the catalogue is empty (the first start of `catalog serve`)."""
    from catalog.store import demo

    loaded = await demo.load_demo_if_empty(rt.engine, products=rt.settings.demo_products)
    if loaded:
        log.info("loaded the demo catalogue: %d products", loaded)
