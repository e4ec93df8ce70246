"""Shared fixtures: a real PostgreSQL, one migrated template, a fresh database per test.

The server is `CATALOG_TEST_DATABASE_URL` when set (CI sets it to the machine's PostgreSQL);
otherwise the embedded server under `.catalog/test-postgres`, started for the session.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from catalog.api.app import create_app
from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings
from catalog.store import db, migrate
from catalog.store.embedded import EmbeddedPostgres
from catalog.work.supervisor import run_background_work
from tests.support.settings import TEST_DEFAULTS, MakeSettings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL on the test server's maintenance database."""
    configured = os.environ.get("CATALOG_TEST_DATABASE_URL")
    if configured:
        yield db.libpq_url(configured)
        return
    server = EmbeddedPostgres(
        ROOT / ".catalog" / "test-postgres", database="postgres", fast_unsafe=True
    )
    yield server.start()
    server.stop()


def _admin(url: str, sql: str) -> None:
    with psycopg.connect(db.with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """A database migrated once per session, cloned by every test."""
    name = f"catalog_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}"')
    migrate.upgrade(db.with_database(pg_server_url, name))
    yield name
    _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated, empty database of the test's own."""
    name = f"catalog_test_{uuid.uuid4().hex[:12]}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield db.with_database(pg_server_url, name)
    _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> MakeSettings:
    """Settings on the test's database with test defaults, and the given ones on top."""

    def make(**overrides: object) -> Settings:
        values = {**TEST_DEFAULTS, "database_url": database_url, "data_dir": tmp_path}
        return Settings(**(values | overrides))  # type: ignore[arg-type]

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
async def runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, database_url) as rt:
        yield rt


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[Runtime]:
    """The runtime, with its background work (as configured) running in this process."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_background_work(runtime.resources, stop))
    yield runtime
    stop.set()
    await asyncio.wait_for(task, timeout=30)


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the API, in process."""
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _service_url(variable: str, what: str) -> str:
    """A test service's URL from `variable`; missing, a skip (a failure under CI=true)."""
    url = os.environ.get(variable)
    if not url:
        message = f"{variable} is not set: no {what} to test against"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis (`CATALOG_TEST_REDIS_URL`); share it: namespace keys, never flush."""
    return _service_url("CATALOG_TEST_REDIS_URL", "Redis")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The test RabbitMQ (`CATALOG_TEST_RABBITMQ_URL`); use unique exchange and queue names."""
    return _service_url("CATALOG_TEST_RABBITMQ_URL", "RabbitMQ")


@pytest.fixture
def cache_prefix() -> str:
    """A key prefix of the test's own on the shared Redis."""
    return f"test-{uuid.uuid4().hex[:12]}"
