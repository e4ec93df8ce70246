"""What jobs and services may use, handed to them on their context as `ctx.resources`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog.cache.cache_aside import Cache
from catalog.events.publisher import EventPublisher
from catalog.search.backend import SearchBackend
from catalog.settings import Settings
from catalog.work.engine import WorkEngine


@dataclass(frozen=True)
class Resources:
    """The process's shared resources, built once by `catalog.bootstrap`.

    Backends join as their issues land (cache, search, events, notifier): each an optional
    field here, None where the process does not use it.
    """

    settings: Settings
    db: AsyncEngine  # SQLAlchemy engine on the catalogue database
    sessions: async_sessionmaker[AsyncSession]
    work: WorkEngine  # the job engine: enqueue follow-up jobs, and its connection pool
    cache: Cache  # Redis, or this process's in-process cache (catalog.cache)
    search: SearchBackend  # Elasticsearch, or tantivy under the data directory
    events: EventPublisher | None = None  # RabbitMQ, when CATALOG_RABBITMQ_URL is set
