"""The job engine with real worker processes: SIGKILL, SIGTERM, locks across workers."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from tests.support.jobstate import job_row, job_runs, wait_for_status
from tests.support.processes import CatalogProcess, start_worker
from tests.support.settings import MakeSettings

pytestmark = pytest.mark.slow

STARTED = "started (concurrency"


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    # The test's own runtime only enqueues and reads; the workers are separate processes.
    return make_settings(
        worker_concurrency=1,
        job_modules=["tests.support.jobs:registry"],
    )


@pytest.fixture
def processes() -> Iterator[list[CatalogProcess]]:
    """Processes a test starts; any still alive at the end are killed."""
    started: list[CatalogProcess] = []
    yield started
    for process in started:
        if process.alive():
            process.kill()


async def test_job_of_a_killed_worker_is_rerun_by_another_within_a_minute(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    first = start_worker(database_url, tmp_path, name="first", concurrency=1)
    processes.append(first)
    first.wait_for_log(STARTED)
    enqueued = await runtime.work.enqueue("test-slow-first", kwargs={"seconds": 300})
    await wait_for_status(runtime, enqueued.job_id, "doing", timeout_s=20)
    second = start_worker(database_url, tmp_path, name="second", concurrency=1)
    processes.append(second)
    second.wait_for_log(STARTED)

    first.signal(signal.SIGKILL)
    first.wait(timeout_s=10)
    recovered_in = await wait_for_status(runtime, enqueued.job_id, "succeeded", timeout_s=60)

    journal = await job_runs(runtime, enqueued.job_id)
    assert [r["outcome"] for r in journal] == ["crashed", "succeeded"]
    assert journal[0]["worker"].endswith(f":{first.pid}")
    assert journal[0]["error_type"] == "WorkerLost"
    assert "crash 1 of 3); requeued" in journal[0]["error_message"]
    assert journal[1]["worker"].endswith(f":{second.pid}")
    assert (await job_row(runtime, enqueued.job_id))["attempts"] == 2
    assert recovered_in < 60


async def test_a_job_without_retries_whose_worker_is_killed_is_rerun_and_succeeds(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    first = start_worker(database_url, tmp_path, name="first", concurrency=1)
    processes.append(first)
    first.wait_for_log(STARTED)
    enqueued = await runtime.work.enqueue("test-long-no-retry", kwargs={"seconds": 300})
    await wait_for_status(runtime, enqueued.job_id, "doing", timeout_s=20)
    second = start_worker(database_url, tmp_path, name="second", concurrency=1)
    processes.append(second)
    second.wait_for_log(STARTED)

    first.signal(signal.SIGKILL)
    first.wait(timeout_s=10)
    recovered_in = await wait_for_status(
        runtime, enqueued.job_id, "succeeded", "failed", timeout_s=60
    )

    assert (await job_row(runtime, enqueued.job_id))["status"] == "succeeded"
    journal = await job_runs(runtime, enqueued.job_id)
    assert [r["outcome"] for r in journal] == ["crashed", "succeeded"]
    assert journal[0]["worker"].endswith(f":{first.pid}")
    assert "crash 1 of 3" in journal[0]["error_message"]
    assert journal[1]["worker"].endswith(f":{second.pid}")
    assert journal[1]["result"] == "finished on attempt 2"
    assert recovered_in < 60


async def _restart_workers_until_failed(
    runtime: Runtime,
    database_url: str,
    tmp_path: Path,
    processes: list[CatalogProcess],
    job_id: int,
) -> None:
    """Play the process manager: restart the worker whenever the job has killed it."""
    deadline = time.monotonic() + 90
    generation = 0
    while (await job_row(runtime, job_id))["status"] != "failed":
        assert time.monotonic() < deadline, "the job never ended"
        if not processes or not processes[-1].alive():
            generation += 1
            processes.append(start_worker(database_url, tmp_path, name=f"gen{generation}"))
        await asyncio.sleep(0.2)


async def test_a_job_that_keeps_killing_its_worker_ends_failed_after_its_crash_budget(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    # Declared without retries: the crashes alone decide, three of them by default.
    enqueued = await runtime.work.enqueue("test-kill-worker")

    await _restart_workers_until_failed(runtime, database_url, tmp_path, processes, enqueued.job_id)

    journal = await job_runs(runtime, enqueued.job_id)
    assert [r["outcome"] for r in journal] == ["crashed", "crashed", "crashed"]
    assert [r["attempt"] for r in journal] == [1, 2, 3]
    assert all(r["error_type"] == "WorkerLost" for r in journal)
    assert "crash 2 of 3); requeued" in journal[1]["error_message"]
    assert "crash 3 of 3); crash budget used up" in journal[2]["error_message"]
    assert (await job_row(runtime, enqueued.job_id))["attempts"] == 3


async def test_a_declared_crash_budget_is_honoured_whatever_the_retries_left(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    # crash_budget=2 with 5 attempts declared: the second crash ends it.
    enqueued = await runtime.work.enqueue("test-kill-worker-budget-2")

    await _restart_workers_until_failed(runtime, database_url, tmp_path, processes, enqueued.job_id)

    journal = await job_runs(runtime, enqueued.job_id)
    assert [r["outcome"] for r in journal] == ["crashed", "crashed"]
    assert "crash 2 of 2); crash budget used up" in journal[1]["error_message"]


async def test_sigterm_lets_a_short_job_finish_and_exits_cleanly(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    worker = start_worker(database_url, tmp_path, name="w", shutdown_grace_s=10)
    processes.append(worker)
    worker.wait_for_log(STARTED)
    # A job that never checks should_stop(): the worker waits for it, within the grace.
    enqueued = await runtime.work.enqueue("test-locked", kwargs={"seconds": 2})
    await wait_for_status(runtime, enqueued.job_id, "doing", timeout_s=20)

    worker.signal(signal.SIGTERM)

    assert await asyncio.to_thread(worker.wait, 30) == 0
    assert (await job_row(runtime, enqueued.job_id))["status"] == "succeeded"


async def test_sigterm_requeues_a_job_that_outlives_the_grace_period(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    worker = start_worker(database_url, tmp_path, name="w", shutdown_grace_s=1)
    processes.append(worker)
    worker.wait_for_log(STARTED)
    enqueued = await runtime.work.enqueue("test-slow-first", kwargs={"seconds": 300})
    await wait_for_status(runtime, enqueued.job_id, "doing", timeout_s=20)

    worker.signal(signal.SIGTERM)

    assert await asyncio.to_thread(worker.wait, 30) == 0
    row = await job_row(runtime, enqueued.job_id)
    assert row["status"] == "todo"
    assert [r["outcome"] for r in await job_runs(runtime, enqueued.job_id)] == ["interrupted"]
    # The next worker picks it up at once.
    successor = start_worker(database_url, tmp_path, name="successor")
    processes.append(successor)
    await wait_for_status(runtime, enqueued.job_id, "succeeded", timeout_s=30)


async def test_runs_of_a_locked_job_never_overlap_across_workers(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    for name in ("a", "b"):
        processes.append(start_worker(database_url, tmp_path, name=name, concurrency=3))
    for process in processes:
        process.wait_for_log(STARTED)
    ids = [
        (await runtime.work.enqueue("test-locked", kwargs={"seconds": 0.5})).job_id
        for _ in range(4)
    ]
    for job_id in ids:
        await wait_for_status(runtime, job_id, "succeeded", timeout_s=30)

    intervals = sorted(
        (run["started_at"], run["finished_at"])
        for journal in [await job_runs(runtime, job_id) for job_id in ids]
        for run in journal
    )
    for (_, end), (next_start, _) in itertools.pairwise(intervals):
        assert next_start >= end, f"runs overlap: {intervals}"


async def test_sigterm_stops_a_cooperative_job_at_its_next_check_and_requeues_it(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    worker = start_worker(database_url, tmp_path, name="w", shutdown_grace_s=60)
    processes.append(worker)
    worker.wait_for_log(STARTED)
    enqueued = await runtime.work.enqueue("test-sleep", kwargs={"seconds": 120, "steps": 240})
    await wait_for_status(runtime, enqueued.job_id, "doing", timeout_s=20)

    signalled = time.monotonic()
    worker.signal(signal.SIGTERM)

    # Well inside the 60 s grace: the job stopped at a check instead of being waited for.
    assert await asyncio.to_thread(worker.wait, 30) == 0
    assert time.monotonic() - signalled < 30
    assert (await job_row(runtime, enqueued.job_id))["status"] == "todo"
    (run,) = await job_runs(runtime, enqueued.job_id)
    assert run["outcome"] == "interrupted"
    assert run["error_type"] == "WorkerShutdown"
