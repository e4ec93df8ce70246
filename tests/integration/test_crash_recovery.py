"""Crashes in process: a run lost to a dead worker spends the crash budget, never a retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.work.declarations import WorkRegistry
from catalog.work.policy import RetryPolicy
from tests.support.jobstate import job_row, job_runs, wait_for_status
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        worker_concurrency=2,
        job_modules=["tests.support.jobs:registry"],
        recovery_interval_s=0.2,
    )


async def _as_if_its_worker_died(
    rt: Runtime, name: str, *, cancelled: bool = False, **kwargs: object
) -> int:
    """A job left `doing` by a worker that is gone: what a SIGKILL leaves behind."""
    later = datetime.now(UTC) + timedelta(days=1)
    job_id = (await rt.work.enqueue(name, kwargs=kwargs, schedule_at=later)).job_id
    async with rt.work.pool.connection() as conn:
        await conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL,"
            " abort_requested = %s WHERE id = %s",
            (cancelled, job_id),
        )
    return job_id


async def test_a_crash_spends_no_retry(worker: Runtime) -> None:
    # test-flaky has 3 attempts; its first run crashes, the next two fail, the third succeeds:
    # were the crash counted, the second failure would be its last.
    job_id = await _as_if_its_worker_died(worker, "test-flaky", failures=3)

    await wait_for_status(worker, job_id, "succeeded", "failed", timeout_s=30)

    runs = await job_runs(worker, job_id)
    assert [r["outcome"] for r in runs] == ["crashed", "retrying", "retrying", "succeeded"]
    assert (await job_row(worker, job_id))["status"] == "succeeded"


async def test_a_crashed_job_without_retries_is_requeued_and_runs(worker: Runtime) -> None:
    job_id = await _as_if_its_worker_died(worker, "test-echo", value="after the crash")

    await wait_for_status(worker, job_id, "succeeded", timeout_s=30)

    crashed, succeeded = await job_runs(worker, job_id)
    assert crashed["outcome"] == "crashed"
    assert "crash 1 of 3); requeued" in crashed["error_message"]
    assert succeeded["result"] == "after the crash"


async def test_a_job_cancelled_while_its_worker_died_ends_cancelled_not_rerun(
    worker: Runtime,
) -> None:
    job_id = await _as_if_its_worker_died(worker, "test-echo", cancelled=True, value=1)

    await wait_for_status(worker, job_id, "aborted", "todo", "succeeded", timeout_s=30)

    assert (await job_row(worker, job_id))["status"] == "aborted"
    (crashed,) = await job_runs(worker, job_id)
    assert crashed["outcome"] == "crashed"
    assert "it was being cancelled: cancelled" in crashed["error_message"]


def test_a_crash_budget_is_declared_with_the_job_and_shown_in_its_policy() -> None:
    registry = WorkRegistry()

    @registry.job("fragile", retry=RetryPolicy(attempts=2), crash_budget=5)
    async def fragile() -> None:
        """Declared with its own crash budget."""

    @registry.job("plain")
    async def plain() -> None:
        """Declared with the default one."""

    assert registry.jobs["fragile"].policy.as_dict()["crash_budget"] == 5
    assert registry.jobs["plain"].policy.as_dict()["crash_budget"] == 3
    with pytest.raises(ValueError, match="crash_budget"):
        registry.job("never", crash_budget=0)
