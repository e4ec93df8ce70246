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
    assert journal[1]["worker"].endswith(f":{second.pid}")
    assert (await job_row(runtime, enqueued.job_id))["attempts"] == 2
    assert recovered_in < 60


async def test_a_job_that_keeps_killing_its_worker_ends_failed_after_its_attempts(
    runtime: Runtime, database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    enqueued = await runtime.work.enqueue("test-kill-worker")
    deadline = time.monotonic() + 90
    generation = 0
    # Play the process manager: restart the worker whenever the job has killed it.
    while (await job_row(runtime, enqueued.job_id))["status"] != "failed":
        assert time.monotonic() < deadline, "the job never ended"
        if not processes or not processes[-1].alive():
            generation += 1
            processes.append(start_worker(database_url, tmp_path, name=f"gen{generation}"))
        await asyncio.sleep(0.2)

    journal = await job_runs(runtime, enqueued.job_id)
    assert [r["outcome"] for r in journal] == ["crashed", "crashed", "crashed"]
    assert (await job_row(runtime, enqueued.job_id))["attempts"] == 3
    assert "no attempt left" in journal[-1]["error_message"]


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
