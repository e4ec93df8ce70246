"""Structured logs: JSON off a terminal, request ids and job context bound to every line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from catalog.bootstrap import Runtime
from catalog.observability import logs
from catalog.settings import Settings
from tests.support.access import client_from
from tests.support.jobstate import job_runs, wait_for_status
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(job_modules=["tests.support.jobs:registry"])


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Logs configured as in production, on a buffer that is not a terminal."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logs.configure("INFO")
    yield stream
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_off_a_terminal_lines_are_json_with_bound_context(captured: io.StringIO) -> None:
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        logging.getLogger("catalog.test").warning("stock is %d", 3)
    (line,) = lines(captured)
    assert line["event"] == "stock is 3"
    assert line["level"] == "warning" and line["logger"] == "catalog.test"
    assert line["request_id"] == "r-1" and "timestamp" in line


def test_an_alert_line_carries_its_fields_as_json_not_as_text(captured: io.StringIO) -> None:
    logging.getLogger("catalog.test").warning(
        "inventory alert", extra={"alert": {"product_id": 7, "level": "out"}, "other": "x"}
    )
    (line,) = lines(captured)
    assert line["event"] == "inventory alert" and line["level"] == "warning"
    assert line["alert"] == {"product_id": 7, "level": "out"}
    assert "other" not in line  # only our own extra keys become fields


def test_on_a_terminal_lines_are_readable() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert logs.wants_json("auto", stream=Terminal()) is False
    assert logs.wants_json("auto", stream=io.StringIO()) is True
    assert logs.wants_json("json", stream=Terminal()) is True


async def test_each_request_gets_an_id_in_its_logs_and_response(
    runtime: Runtime, captured: io.StringIO
) -> None:
    async with client_from(runtime) as http:
        fresh = await http.get("/api/products/999999")
        kept = await http.get("/health/live", headers={"X-Request-ID": "abc-123"})
        odd = await http.get("/health/live", headers={"X-Request-ID": "<script>"})
    assert len(fresh.headers["x-request-id"]) == 32
    assert kept.headers["x-request-id"] == "abc-123"
    assert odd.headers["x-request-id"] != "<script>"


async def test_a_job_run_binds_its_id_task_and_attempt(worker: Runtime) -> None:
    enqueued = await worker.work.enqueue("test-log-context", kwargs={})
    await wait_for_status(worker, enqueued.job_id, "succeeded")
    (run,) = await job_runs(worker, enqueued.job_id)
    assert f"'job_id': {enqueued.job_id}" in run["result"]
    assert "'task': 'test-log-context'" in run["result"] and "'attempt': 1" in run["result"]
