"""Schemathesis over /openapi.json, every check, against the API served on loopback.

The document must say exactly what the API accepts and answers: every status code, every
response body, every bound. Each distinct failure this finds is fixed in the product and kept as
a plain regression test beside the tests of its API area.

Schemathesis runs as its CLI does (examples, coverage, fuzzing and stateful phases), in a child
process, against a real uvicorn on 127.0.0.1: the client is loopback, so with no API key the
management API lets it in as an admin. Cases are deterministic (no random seed), so a failure in
CI is the same failure locally; the command to replay it is printed with the failure.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from catalog.bootstrap import build_search
from catalog.settings import Settings
from catalog.store import db
from tests.support.served import served
from tests.support.settings import TEST_DEFAULTS

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")  # the documented exclusions
ROOT = Path(__file__).resolve().parents[2]
# Bounded: both runs together take about a minute on a 2-core machine.
MAX_EXAMPLES = 6
# Creating an API key ends "loopback with no key is admin": every later request would get 401.
# The key routes run on their own, after the rest.
KEYS = "^/api/access/"


@pytest.fixture(scope="module")
def fuzz_database(pg_server_url: str, template_database: str) -> Iterator[str]:
    name = f"catalog_fuzz_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield db.with_database(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def base_url(fuzz_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    values = {**TEST_DEFAULTS, "database_url": fuzz_database}
    settings = Settings(**values, data_dir=tmp_path_factory.mktemp("fuzz"))  # type: ignore[arg-type]
    # No search-sync runs here: give the API a live (empty) index, as the service's first build
    # would, so that /api/search answers rather than 503 "not built yet".
    asyncio.run(build_empty_index(settings))
    with served(settings, fuzz_database) as url:
        yield url


async def build_empty_index(settings: Settings) -> None:
    backend = build_search(settings)
    try:
        generation = await backend.create_generation()
        await backend.commit(generation)
        await backend.activate(generation)
        await backend.release(generation)
    finally:
        await backend.close()


def schemathesis_run(base_url: str, report_dir: Path, *selection: str) -> None:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/openapi.json",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",  # and so no example database
        "--suppress-health-check",
        "too_slow,filter_too_much",
        "--workers",
        "1",
        "--continue-on-failure",
        "--report-dir",
        str(report_dir),
        *selection,
    ]
    env = os.environ | {"SCHEMATHESIS_HOOKS": "tests.e2e.fuzz_hooks", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, env=env, cwd=ROOT
    )
    (report_dir / "schemathesis.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-25_000:] + done.stderr[-4_000:]


def test_every_operation_but_the_key_routes_keeps_its_contract(
    base_url: str, tmp_path: Path
) -> None:
    schemathesis_run(base_url, tmp_path, "--exclude-path-regex", KEYS)


def test_the_key_routes_keep_their_contract(base_url: str, tmp_path: Path) -> None:
    schemathesis_run(base_url, tmp_path, "--include-path-regex", KEYS)
