"""Database URLs and engines: the one place that turns a configured URL into connections."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg_async")


def libpq_url(url: str) -> str:
    """`url` as libpq/psycopg expect it (`postgresql://...`), whatever driver suffix it had."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return urlunsplit(("postgresql", *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """`url` with SQLAlchemy's psycopg 3 driver selected."""
    return urlunsplit(("postgresql+psycopg", *urlsplit(libpq_url(url))[1:]))


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server."""
    parts = urlsplit(libpq_url(url))
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping (a round trip per request): a connection broken by a PostgreSQL restart
        # fails its request (503, see catalog.api.errors) and is dropped from the pool.
        pool_recycle=1800,
        # Timestamps come back in UTC, as the API promises them.
        connect_args={"options": "-c TimeZone=UTC", "application_name": "catalog"},
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
