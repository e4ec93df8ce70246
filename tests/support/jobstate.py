"""Reading a job's row and journal straight from the database, and waiting for its status."""

from __future__ import annotations

import time
from typing import Any

from psycopg.rows import dict_row

from catalog.bootstrap import Runtime
from tests.support.polling import eventually


async def job_row(rt: Runtime, job_id: int) -> dict[str, Any]:
    """Procrastinate's row of the job."""
    async with rt.work.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM procrastinate_jobs WHERE id = %s", (job_id,))
        row = await cur.fetchone()
        assert row is not None, f"no job {job_id}"
        return row


async def job_runs(rt: Runtime, job_id: int) -> list[dict[str, Any]]:
    """The job's journal, oldest attempt first."""
    async with rt.work.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT * FROM work_job_runs WHERE job_id = %s ORDER BY attempt", (job_id,)
        )
        return await cur.fetchall()


async def wait_for_status(rt: Runtime, job_id: int, *statuses: str, timeout_s: float = 20) -> float:
    """Seconds until the job reached one of Procrastinate's `statuses`."""
    started = time.monotonic()

    async def reached() -> bool:
        return (await job_row(rt, job_id))["status"] in statuses

    await eventually(reached, timeout_s=timeout_s, what=f"job {job_id} in {statuses}")
    return time.monotonic() - started
