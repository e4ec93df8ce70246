"""The job engine in process: journal, retries, timeout, cancellation, locks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.rows import dict_row

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.work.supervisor import run_background_work


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        demo_data=False,
        db_pool_size=2,
        worker_concurrency=4,
        worker_poll_s=0.2,
        shutdown_grace_s=1,
        job_modules=["tests.support.jobs:registry"],
        scheduler_enabled=False,
        services_enabled=False,
    )


@pytest.fixture
async def worker(runtime: Runtime) -> AsyncIterator[Runtime]:
    """The runtime, with a job worker running in this process."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_background_work(runtime, stop))
    yield runtime
    stop.set()
    await asyncio.wait_for(task, timeout=30)


async def job_row(rt: Runtime, job_id: int) -> dict[str, Any]:
    async with rt.work.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM procrastinate_jobs WHERE id = %s", (job_id,))
        row = await cur.fetchone()
        assert row is not None
        return row


async def runs_of(rt: Runtime, job_id: int) -> list[dict[str, Any]]:
    async with rt.work.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM work_job_runs WHERE job_id = %s ORDER BY attempt", (job_id,)
        )
        return await cur.fetchall()


async def wait_status(
    rt: Runtime, job_id: int, *statuses: str, timeout_s: float = 20
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        row = await job_row(rt, job_id)
        if row["status"] in statuses:
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} still {row['status']}, wanted {statuses}")
        await asyncio.sleep(0.05)


async def test_a_run_is_journaled_with_result_and_worker(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-echo", kwargs={"value": "hello"})
    await wait_status(worker, job.job_id, "succeeded")
    (run,) = await runs_of(worker, job.job_id)
    assert run["outcome"] == "succeeded"
    assert run["result"] == "hello"
    assert run["attempt"] == 1
    assert ":" in run["worker"]
    assert run["finished_at"] >= run["started_at"]


async def test_failures_are_retried_with_backoff_and_each_attempt_journaled(
    worker: Runtime,
) -> None:
    job = await worker.work.enqueue("test-flaky", kwargs={"failures": 2})
    await wait_status(worker, job.job_id, "succeeded")
    runs = await runs_of(worker, job.job_id)
    assert [r["outcome"] for r in runs] == ["retrying", "retrying", "succeeded"]
    assert runs[0]["error_type"] == "Flaky"
    assert "failing attempt 1" in runs[0]["error_message"]
    assert "Traceback" in runs[0]["traceback"]
    # Backoff: the second run started at least ~0.2 s (minus jitter) after the first ended.
    gap = (runs[1]["started_at"] - runs[0]["finished_at"]).total_seconds()
    assert gap >= 0.15


async def test_attempts_run_out_and_the_job_fails(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-flaky", kwargs={"failures": 5})
    row = await wait_status(worker, job.job_id, "failed")
    runs = await runs_of(worker, job.job_id)
    assert [r["outcome"] for r in runs] == ["retrying", "retrying", "failed"]
    assert row["attempts"] == 3


async def test_only_declared_exception_types_are_retried(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-picky", kwargs={"error": "value"})
    await wait_status(worker, job.job_id, "failed")
    assert [r["outcome"] for r in await runs_of(worker, job.job_id)] == ["failed"]


async def test_a_run_past_its_timeout_is_cancelled_and_failed(worker: Runtime) -> None:
    job = await worker.work.enqueue("test-timeout")
    await wait_status(worker, job.job_id, "failed", timeout_s=10)
    (run,) = await runs_of(worker, job.job_id)
    assert run["outcome"] == "timeout"
    assert run["error_type"] == "JobTimeout"
    assert (run["finished_at"] - run["started_at"]).total_seconds() < 5
