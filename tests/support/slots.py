"""What the scheduler's tests read and control: a hand-set clock, slot rows, the jobs of slots."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

SCHEDULE_MODULES = ["tests.support.jobs:registry", "tests.support.schedules:registry"]


@dataclass
class ManualClock:
    """A clock that moves only when told to."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> datetime:
        self.now = moment
        return moment

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


async def slot_rows(conn: psycopg.AsyncConnection[Any], schedule_id: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT * FROM work_schedule_slots WHERE schedule_id = %s ORDER BY slot, id",
        (schedule_id,),
    )
    return await cur.fetchall()


async def jobs_of(conn: psycopg.AsyncConnection[Any], task: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        "SELECT id, status, args, args->>'scheduled_at' AS scheduled_at FROM procrastinate_jobs"
        " WHERE task_name = %s ORDER BY id",
        (task,),
    )
    return await cur.fetchall()


def slot_rows_sync(database_url: str, schedule_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT s.*, j.status AS job_status, j.args->>'scheduled_at' AS job_scheduled_at,"
            "       (SELECT r.result FROM work_job_runs r WHERE r.job_id = s.job_id"
            "         ORDER BY r.attempt DESC LIMIT 1) AS result"
            "  FROM work_schedule_slots s LEFT JOIN procrastinate_jobs j ON j.id = s.job_id"
            " WHERE s.schedule_id = %s ORDER BY s.slot, s.id",
            (schedule_id,),
        ).fetchall()


def jobs_of_sync(database_url: str, task: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, status, args->>'scheduled_at' AS scheduled_at FROM procrastinate_jobs"
            " WHERE task_name = %s ORDER BY id",
            (task,),
        ).fetchall()
