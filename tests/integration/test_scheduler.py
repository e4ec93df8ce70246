"""The scheduler in process, on a hand-set clock: anchors, misfires, claims, concurrency, NOTIFY."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.work.schedules import storage, views
from catalog.work.schedules.scheduler import FaultHooks, Scheduler
from catalog.work.schedules.timing import Change, Misfire
from tests.support.settings import MakeSettings
from tests.support.slots import SCHEDULE_MODULES, ManualClock, jobs_of, slot_rows

T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        worker_concurrency=2,
        job_modules=SCHEDULE_MODULES,
        misfire_grace_s=3600,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def scheduler(runtime: Runtime, clock: ManualClock) -> Scheduler:
    scheduler = Scheduler(runtime.resources, clock=clock)
    await scheduler.sync()
    return scheduler


async def rows(rt: Runtime, schedule_id: str) -> list[dict[str, Any]]:
    async with rt.work.pool.connection() as conn:
        return await slot_rows(conn, schedule_id)


async def update(rt: Runtime, schedule_id: str, change: Change, *, now: datetime) -> None:
    async with rt.work.pool.connection() as conn, conn.transaction():
        await storage.update(conn, schedule_id, change, actor="test", now=now)


def summary(slot_rows: list[dict[str, Any]]) -> list[tuple[datetime, str, str]]:
    return [(r["slot"], r["kind"], r["state"]) for r in slot_rows]


async def test_a_new_schedule_fires_no_slot_from_before_it_existed(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(T0.replace(minute=59, second=59))
    assert await scheduler.tick() == T0.replace(hour=10, minute=0)  # the hourly's next slot
    assert await rows(runtime, "test-hourly") == []
    clock.set(T0.replace(hour=10, minute=0, second=1))
    await scheduler.tick()
    assert summary(await rows(runtime, "test-hourly")) == [
        (T0.replace(hour=10, minute=0), "cron", "enqueued")
    ]


async def test_each_job_is_enqueued_with_its_slot_as_scheduled_at(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(T0.replace(hour=10, minute=0, second=2))
    await scheduler.tick()
    async with runtime.work.pool.connection() as conn:
        (slot,) = await slot_rows(conn, "test-hourly")
        (job,) = await jobs_of(conn, "test-hourly")
    assert slot["job_id"] == job["id"]
    assert job["scheduled_at"] == "2025-01-06T10:00:00+00:00"


async def test_run_once_catches_up_only_the_latest_slot_missed_while_down(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(T0.replace(hour=10, minute=0, second=1))
    await scheduler.tick()
    clock.set(T0.replace(hour=13, minute=20))  # no scheduler ran for 11:00, 12:00, 13:00
    await scheduler.tick()
    slots = await rows(runtime, "test-hourly")
    assert summary(slots) == [
        (T0.replace(hour=10, minute=0), "cron", "enqueued"),
        (T0.replace(hour=13, minute=0), "catch_up", "enqueued"),
    ]
    assert slots[1]["missed_since"] == T0.replace(hour=11, minute=0)
    async with runtime.work.pool.connection() as conn:
        jobs = await jobs_of(conn, "test-hourly")
    assert [j["scheduled_at"] for j in jobs] == [
        "2025-01-06T10:00:00+00:00",
        "2025-01-06T13:00:00+00:00",
    ]
    clock.set(T0.replace(hour=14, minute=0, second=1))
    await scheduler.tick()
    assert summary(await rows(runtime, "test-hourly"))[-1] == (
        T0.replace(hour=14, minute=0),
        "cron",
        "enqueued",
    )


async def test_skip_runs_nothing_missed_and_records_the_miss(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    clock.set(T0.replace(hour=13, minute=20))
    await scheduler.tick()
    (missed,) = await rows(runtime, "test-hourly-skip")
    assert (missed["slot"], missed["kind"], missed["state"]) == (
        T0.replace(hour=13, minute=0),
        "cron",
        "missed",
    )
    assert missed["missed_since"] == T0.replace(hour=10, minute=0)
    assert "misfire=skip" in missed["detail"]
    async with runtime.work.pool.connection() as conn:
        assert await jobs_of(conn, "test-hourly-skip") == []
        view = await views.read_detail(conn, "test-hourly-skip", summaries={}, now=clock())
    assert view.schedule.last_run is None  # a miss is not a run
    assert view.recent_slots[0].state == "missed"


async def test_run_once_past_the_grace_runs_nothing(runtime: Runtime, clock: ManualClock) -> None:
    strict = dataclasses.replace(
        runtime.resources, settings=runtime.settings.model_copy(update={"misfire_grace_s": 600})
    )
    scheduler = Scheduler(strict, clock=clock)
    await scheduler.sync()
    clock.set(T0.replace(hour=13, minute=20))
    await scheduler.tick()
    assert summary(await rows(runtime, "test-hourly")) == [
        (T0.replace(hour=13, minute=0), "cron", "missed")
    ]


async def test_slots_of_a_paused_time_never_run_after_resume(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    await update(runtime, "test-hourly", Change(enabled=False), now=clock.set(T0))
    clock.set(T0.replace(hour=12, minute=0, second=1))
    await scheduler.tick()
    assert await rows(runtime, "test-hourly") == []
    await update(runtime, "test-hourly", Change(enabled=True), now=clock.advance(minutes=30))
    clock.set(T0.replace(hour=13, minute=0, second=1))
    await scheduler.tick()
    assert summary(await rows(runtime, "test-hourly")) == [
        (T0.replace(hour=13, minute=0), "cron", "enqueued")
    ]


async def test_a_retimed_schedule_follows_its_new_cron_and_zone(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    await update(
        runtime,
        "test-hourly",
        Change(cron="30 11 * * *", tz="Europe/Berlin"),
        now=clock.set(T0),
    )
    clock.set(T0.replace(hour=10, minute=30, second=1))  # 11:30 in Berlin
    await scheduler.tick()
    assert summary(await rows(runtime, "test-hourly")) == [
        (T0.replace(hour=10, minute=30), "cron", "enqueued")
    ]


async def test_a_claim_rolled_back_before_its_enqueue_is_claimed_by_another_scheduler(
    runtime: Runtime, clock: ManualClock
) -> None:
    crashes: list[datetime | None] = []

    async def crash_after_first_claim(schedule_id: str, slot: datetime | None) -> None:
        if schedule_id == "test-hourly" and not crashes:
            crashes.append(slot)
            raise RuntimeError("the process died between claim and enqueue")

    scheduler = Scheduler(
        runtime.resources, clock=clock, faults=FaultHooks(after_claim=crash_after_first_claim)
    )
    await scheduler.sync()
    clock.set(T0.replace(hour=10, minute=0, second=1))
    await scheduler.tick()
    assert crashes == [T0.replace(hour=10, minute=0)]
    assert await rows(runtime, "test-hourly") == []  # the claim went with the transaction
    other = Scheduler(runtime.resources, clock=clock)
    await other.tick()
    slots = await rows(runtime, "test-hourly")
    assert summary(slots) == [(T0.replace(hour=10, minute=0), "cron", "enqueued")]
    async with runtime.work.pool.connection() as conn:
        assert len(await jobs_of(conn, "test-hourly")) == 1


async def test_each_slot_fires_once_with_schedulers_racing(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    await update(runtime, "test-every-second", Change(enabled=True), now=clock())
    rivals = [
        scheduler,
        Scheduler(runtime.resources, clock=clock),
        Scheduler(runtime.resources, clock=clock),
    ]
    for _ in range(20):
        clock.advance(seconds=1)
        await asyncio.gather(*(rival.tick() for rival in rivals))
    slots = await rows(runtime, "test-every-second")
    assert [s["slot"] for s in slots] == [T0 + timedelta(seconds=i) for i in range(1, 21)]
    assert {s["kind"] for s in slots} == {"cron"}
    async with runtime.work.pool.connection() as conn:
        jobs = await jobs_of(conn, "test-every-second")
    assert sorted(j["scheduled_at"] for j in jobs) == [s["slot"].isoformat() for s in slots]


async def test_a_slot_of_a_skip_overlap_job_still_waiting_is_recorded_as_skipped(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    await update(runtime, "test-exclusive", Change(cron="0 * * * * *"), now=clock())
    clock.set(T0.replace(minute=31, second=1))
    await scheduler.tick()
    clock.set(T0.replace(minute=32, second=1))  # the first run has not even started
    await scheduler.tick()
    first, second = await rows(runtime, "test-exclusive")
    assert (first["state"], second["state"]) == ("enqueued", "skipped")
    assert second["job_id"] is None
    assert f"job {first['job_id']} was still waiting or running" == second["detail"]


async def test_the_scheduler_wakes_on_an_operators_change(runtime: Runtime) -> None:
    scheduler = Scheduler(runtime.resources)
    stop = asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop))
    try:
        # Nothing is due for a long while: the scheduler sleeps its longest sleep.
        for _ in range(100):
            async with runtime.work.pool.connection() as conn:
                if any(r.id == "test-every-second" for r in await storage.load_all(conn)):
                    break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        await update(runtime, "test-every-second", Change(enabled=True), now=datetime.now(UTC))
        for _ in range(100):  # well under the scheduler's longest sleep
            if await rows(runtime, "test-every-second"):
                break
            await asyncio.sleep(0.05)
        assert await rows(runtime, "test-every-second"), "the NOTIFY did not wake the scheduler"
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)


async def test_the_scheduler_stops_promptly_and_cleanly(runtime: Runtime) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(Scheduler(runtime.resources).run(stop))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(running, timeout=5)
    assert running.exception() is None


async def test_misfire_policy_comes_from_the_schedule(
    scheduler: Scheduler, runtime: Runtime, clock: ManualClock
) -> None:
    await update(runtime, "test-hourly", Change(misfire=Misfire.SKIP), now=clock())
    clock.set(T0.replace(hour=13, minute=20))
    await scheduler.tick()
    assert summary(await rows(runtime, "test-hourly")) == [
        (T0.replace(hour=13, minute=0), "cron", "missed")
    ]
