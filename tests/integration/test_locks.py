"""Locks mean "never two runs at once", nothing more: a job that is not due holds no lock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from tests.support.jobstate import job_row, job_runs, wait_for_status
from tests.support.polling import eventually
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(worker_concurrency=4, job_modules=["tests.support.jobs:registry"])


async def test_a_job_delayed_for_an_hour_does_not_hold_back_one_due_now(worker: Runtime) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    delayed = await worker.work.enqueue("test-locked", kwargs={"seconds": 0}, schedule_at=later)
    now = await worker.work.enqueue("test-locked", kwargs={"seconds": 0})

    await wait_for_status(worker, now.job_id, "succeeded", timeout_s=20)

    assert (await job_row(worker, delayed.job_id))["status"] == "todo"


async def test_a_locked_job_backing_off_does_not_hold_back_a_trigger(worker: Runtime) -> None:
    failing = await worker.work.enqueue("test-locked-backoff")

    async def backing_off_row() -> dict[str, Any] | None:
        row = await job_row(worker, failing.job_id)
        return row if row["attempts"] == 1 else None

    backing_off = await eventually(backing_off_row, timeout_s=20, what="the first run's end")
    assert backing_off["status"] == "todo"
    assert backing_off["attempts"] == 1
    assert backing_off["scheduled_at"] > datetime.now(UTC) + timedelta(minutes=50)

    trigger = await worker.work.enqueue("test-locked", kwargs={"seconds": 0})

    await wait_for_status(worker, trigger.job_id, "succeeded", timeout_s=20)
    assert (await job_row(worker, failing.job_id))["status"] == "todo"


async def test_due_jobs_with_one_lock_run_in_order_and_never_overlap(worker: Runtime) -> None:
    # One was delayed and is due by now: it waited its turn like the others.
    past = datetime.now(UTC) - timedelta(seconds=1)
    ids = [
        (await worker.work.enqueue("test-locked", kwargs={"seconds": 0.3}, schedule_at=at)).job_id
        for at in (None, past, None, None)
    ]

    for job_id in ids:
        await wait_for_status(worker, job_id, "succeeded", timeout_s=30)

    runs = [(await job_runs(worker, job_id))[0] for job_id in ids]
    intervals = [(run["started_at"], run["finished_at"]) for run in runs]
    assert intervals == sorted(intervals), "due jobs of one lock run in the order they came"
    for (_, end), (next_start, _) in itertools.pairwise(intervals):
        assert next_start >= end, f"runs overlap: {intervals}"
