"""The scheduler in real `catalog worker` processes: several at once, and one killed mid-claim."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from catalog.work.schedules.storage import update
from catalog.work.schedules.timing import Change
from tests.support.polling import wait_until
from tests.support.processes import CatalogProcess, start_worker
from tests.support.slots import SCHEDULE_MODULES, jobs_of_sync, slot_rows_sync

pytestmark = pytest.mark.slow

SCHEDULE = "test-every-second"
RUN_FOR_S = 8.0
SCHEDULER_STARTED = "scheduler started"
FAULTS = "tests.support.scheduler_faults"


@pytest.fixture
def processes() -> Iterator[list[CatalogProcess]]:
    """Processes a test starts; any still alive at the end are killed."""
    started: list[CatalogProcess] = []
    yield started
    for process in started:
        if process.alive():
            process.kill()


def start(
    database_url: str, tmp_path: Path, name: str, *, faults: str | None = None
) -> CatalogProcess:
    return start_worker(
        database_url,
        tmp_path,
        name=name,
        concurrency=2,
        job_modules=SCHEDULE_MODULES,
        **({"scheduler_fault_hooks": faults} if faults else {}),
        schedules={SCHEDULE: {"enabled": True}},
        services_enabled=False,
        worker_poll_s=0.2,
    )


def pause(database_url: str) -> None:
    """Stop the schedule through the same path as the API (every scheduler hears of it)."""

    async def run() -> None:
        async with (
            await psycopg.AsyncConnection.connect(database_url) as conn,
            conn.transaction(),
        ):
            await update(conn, SCHEDULE, Change(enabled=False), actor="test", now=datetime.now(UTC))

    asyncio.run(run())


def wait_until_all_ran(database_url: str, timeout_s: float = 30) -> list[dict[str, Any]]:
    def all_ran() -> list[dict[str, Any]] | None:
        slots = slot_rows_sync(database_url, SCHEDULE)
        return slots if slots and all(s["state"] == "succeeded" for s in slots) else None

    result: list[dict[str, Any]] = wait_until(
        all_ran, timeout_s=timeout_s, what="every slot succeeded", every_s=0.2
    )
    return result


def assert_every_slot_ran_once_with_its_time(
    database_url: str, slots: list[dict[str, Any]]
) -> None:
    times = [s["slot"] for s in slots]
    assert times == [times[0] + timedelta(seconds=i) for i in range(len(times))], (
        "a slot is missing or doubled between the first and the last"
    )
    jobs = jobs_of_sync(database_url, SCHEDULE)
    assert sorted(j["scheduled_at"] for j in jobs) == [t.isoformat() for t in times], (
        "each slot has exactly one job, given that slot as scheduled_at"
    )
    for slot in slots:
        assert slot["job_id"] is not None
        assert slot["result"] == slot["slot"].isoformat()  # what the job received


def test_every_second_each_slot_fires_once_with_three_workers(
    database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    processes.extend(start(database_url, tmp_path, f"worker-{i}") for i in range(3))
    for process in processes:
        process.wait_for_log(SCHEDULER_STARTED, timeout_s=60)
    time.sleep(RUN_FOR_S)
    pause(database_url)
    slots = wait_until_all_ran(database_url)
    for process in processes:
        process.signal(signal.SIGTERM)
    for process in processes:
        assert process.wait(timeout_s=30) == 0, process.log_path.read_text()
    assert len(slots) >= RUN_FOR_S - 1
    assert {s["kind"] for s in slots} == {"cron"}
    assert_every_slot_ran_once_with_its_time(database_url, slots)


def test_a_worker_killed_between_claim_and_enqueue_loses_no_slot(
    database_url: str, tmp_path: Path, processes: list[CatalogProcess]
) -> None:
    # The survivor runs first but loses every race for a slot by a hair, so the doomed worker
    # claims one as soon as it runs; it dies right after its INSERT, before enqueue and commit.
    survivor = start(database_url, tmp_path, "survivor", faults=f"{FAULTS}:slow_lock")
    processes.append(survivor)
    survivor.wait_for_log(SCHEDULER_STARTED, timeout_s=60)
    doomed = start(database_url, tmp_path, "doomed", faults=f"{FAULTS}:crash_after_claim")
    processes.append(doomed)
    assert doomed.wait(timeout_s=60) == -signal.SIGKILL, doomed.log_path.read_text()
    last_words = doomed.log_path.read_text()
    claimed = re.search(rf"claimed {SCHEDULE} slot (\S+); killing myself", last_words)
    assert claimed is not None, last_words
    lost_slot = datetime.fromisoformat(claimed.group(1))

    deadline = time.monotonic() + 30
    while not any(s["slot"] == lost_slot for s in slot_rows_sync(database_url, SCHEDULE)):
        assert time.monotonic() < deadline, survivor.log()
        time.sleep(0.2)
    time.sleep(2)
    pause(database_url)
    slots = wait_until_all_ran(database_url)
    survivor.signal(signal.SIGTERM)
    assert survivor.wait(timeout_s=30) == 0, survivor.log_path.read_text()
    (lost,) = [s for s in slots if s["slot"] == lost_slot]
    assert lost["kind"] == "cron"  # claimed again on time, by the survivor
    assert slots[-1]["slot"] > lost_slot
    assert_every_slot_ran_once_with_its_time(database_url, slots)
