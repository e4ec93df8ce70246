"""Retention prunes finished jobs by age, in batches, with their journal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.work import retention
from tests.support.settings import MakeSettings


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        job_modules=["tests.support.jobs:registry"],
    )


async def finished_job(rt: Runtime, status: str, *, age: timedelta) -> int:
    """A job that reached `status` `age` ago, with a journal entry."""
    job_id = (await rt.work.enqueue("test-noop")).job_id
    event = {"succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}[status]
    async with rt.work.pool.connection() as conn:
        await conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s AND %s <> 'cancelled'",
            (job_id, status),
        )
        await conn.execute(
            "UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, job_id)
        )
        await conn.execute(
            "UPDATE procrastinate_events SET at = now() - %s WHERE job_id = %s AND type = %s",
            (age, job_id, event),
        )
        await conn.execute(
            "INSERT INTO work_job_runs (job_id, attempt, started_at, finished_at, outcome)"
            " VALUES (%s, 1, now() - %s, now() - %s, 'succeeded')",
            (job_id, age, age),
        )
    return job_id


async def remaining(rt: Runtime) -> set[int]:
    async with rt.work.pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM procrastinate_jobs")
        return {row[0] for row in await cur.fetchall()}


async def test_jobs_past_retention_are_pruned_in_batches_and_others_kept(runtime: Runtime) -> None:
    old_ok = [await finished_job(runtime, "succeeded", age=timedelta(hours=30)) for _ in range(3)]
    new_ok = await finished_job(runtime, "succeeded", age=timedelta(hours=2))
    old_failed = await finished_job(runtime, "failed", age=timedelta(days=20))
    recent_failed = await finished_job(runtime, "failed", age=timedelta(days=3))
    old_cancelled = await finished_job(runtime, "cancelled", age=timedelta(days=15))
    waiting = (await runtime.work.enqueue("test-noop")).job_id

    pruned = await retention.prune(
        runtime.work.pool,
        succeeded_after=timedelta(hours=24),
        failed_after=timedelta(days=14),
        batch_size=2,
    )

    assert (pruned.succeeded, pruned.failed) == (3, 2)
    assert await remaining(runtime) == {new_ok, recent_failed, waiting}
    async with runtime.work.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM work_job_runs WHERE job_id = ANY(%s)",
            ([*old_ok, old_failed, old_cancelled],),
        )
        assert (await cur.fetchone()) == (0,)


async def test_deleted_marks_are_pruned_after_the_succeeded_retention(runtime: Runtime) -> None:
    job_id = await finished_job(runtime, "succeeded", age=timedelta(hours=1))
    async with runtime.work.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO work_job_deletions (job_id, deleted_at)"
            " VALUES (%s, now() - interval '2 days')",
            (job_id,),
        )
    pruned = await retention.prune(
        runtime.work.pool,
        succeeded_after=timedelta(hours=24),
        failed_after=timedelta(days=14),
        batch_size=10,
    )
    assert pruned.deleted == 1
    assert job_id not in await remaining(runtime)
