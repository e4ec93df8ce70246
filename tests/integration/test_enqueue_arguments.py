"""Enqueue checks the arguments it is given, from code, the API and the CLI; nothing is queued."""

from __future__ import annotations

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from catalog.bootstrap import Runtime
from catalog.cli.main import app
from catalog.settings import Settings
from catalog.work.arguments import InvalidArguments
from tests.support.settings import MakeSettings

JOBS = "/api/backgroundjobs/jobs"


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(job_modules=["tests.support.jobs:registry"])


def queued(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone() or (0,)
    return int(count)


async def test_code_gets_a_typed_error_and_nothing_is_queued(
    runtime: Runtime, database_url: str
) -> None:
    with pytest.raises(InvalidArguments, match="no argument 'bogus'"):
        await runtime.work.enqueue("job-retention", kwargs={"bogus": 1})
    with pytest.raises(InvalidArguments, match="'value' is required"):
        await runtime.work.enqueue("test-echo")
    with pytest.raises(InvalidArguments, match="NUL"):
        await runtime.work.enqueue("test-echo", kwargs={"value": "a\x00b"})
    # A SKIP-overlap job is checked before its lock is looked at.
    with pytest.raises(InvalidArguments, match="must be a number, not a string"):
        await runtime.work.enqueue("test-skip", kwargs={"seconds": "soon"})
    assert queued(database_url) == 0

    await runtime.work.enqueue("test-echo", kwargs={"value": {"fine": [1, "two"]}})
    assert queued(database_url) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"task": "job-retention", "args": {"bogus": 1}}, "no argument 'bogus'"),
        ({"task": "test-echo", "args": {"value": "a\u0000b"}}, "NUL"),
        ({"task": "test-echo", "args": {"value": {"k\u0000": 1}}}, "NUL"),
        ({"task": "test-echo", "args": {}}, "'value' is required"),
        ({"task": "test-sleep", "args": {"seconds": "1"}}, "must be a number"),
    ],
)
async def test_the_api_answers_422_with_the_reason_and_queues_nothing(
    client: httpx.AsyncClient, database_url: str, body: dict[str, object], reason: str
) -> None:
    response = await client.post(JOBS, json=body)

    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert queued(database_url) == 0


def test_the_cli_exits_2_with_a_one_line_reason_and_queues_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_DATABASE_URL", database_url)
    cli = CliRunner()

    for args, reason in [
        ('{"bogus": 1}', "no argument 'bogus'"),
        ('{"scheduled_at": "a\\u0000b"}', "NUL"),
    ]:
        result = cli.invoke(app, ["jobs", "enqueue", "job-retention", "--args", args])
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: invalid arguments for job 'job-retention'")
        assert reason in line

    assert queued(database_url) == 0
    assert cli.invoke(app, ["jobs", "enqueue", "job-retention"]).exit_code == 0
    assert queued(database_url) == 1
