"""The job engine in process: journal, retries, timeout, cancellation, locks."""

from __future__ import annotations

import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from tests.support.jobstate import job_row, job_runs, wait_for_status
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        worker_concurrency=4,
        job_modules=["tests.support.jobs:registry"],
    )


async def test_a_run_is_journaled_with_result_and_worker(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-echo", kwargs={"value": "hello"})
    await wait_for_status(worker, job.job_id, "succeeded")
    (run,) = await job_runs(worker, job.job_id)
    assert run["outcome"] == "succeeded"
    assert run["result"] == "hello"
    assert run["attempt"] == 1
    assert ":" in run["worker"]
    assert run["finished_at"] >= run["started_at"]


async def test_failures_are_retried_with_backoff_and_each_attempt_journaled(
    worker: Runtime,
) -> None:
    job = await worker.work.enqueue("test-flaky", kwargs={"failures": 2})
    await wait_for_status(worker, job.job_id, "succeeded")
    runs = await job_runs(worker, job.job_id)
    assert [r["outcome"] for r in runs] == ["retrying", "retrying", "succeeded"]
    assert runs[0]["error_type"] == "Flaky"
    assert "failing attempt 1" in runs[0]["error_message"]
    assert "Traceback" in runs[0]["traceback"]
    # Backoff: the second run started at least ~0.2 s (minus jitter) after the first ended.
    gap = (runs[1]["started_at"] - runs[0]["finished_at"]).total_seconds()
    assert gap >= 0.15


async def test_attempts_run_out_and_the_job_fails(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-flaky", kwargs={"failures": 5})
    await wait_for_status(worker, job.job_id, "failed")
    row = await job_row(worker, job.job_id)
    runs = await job_runs(worker, job.job_id)
    assert [r["outcome"] for r in runs] == ["retrying", "retrying", "failed"]
    assert row["attempts"] == 3


async def test_only_declared_exception_types_are_retried(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-picky", kwargs={"error": "value"})
    await wait_for_status(worker, job.job_id, "failed")
    assert [r["outcome"] for r in await job_runs(worker, job.job_id)] == ["failed"]


async def test_a_run_past_its_timeout_is_cancelled_and_failed(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-timeout")
    await wait_for_status(worker, job.job_id, "failed", timeout_s=10)
    (run,) = await job_runs(worker, job.job_id)
    assert run["outcome"] == "timeout"
    assert run["error_type"] == "JobTimeout"
    assert (run["finished_at"] - run["started_at"]).total_seconds() < 5
