"""Stored schedules: defaults sync, operator changes, orphans, slot state, history pruning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.work.schedules import slots, storage, views
from catalog.work.schedules.cron import InvalidCron, InvalidTimeZone
from catalog.work.schedules.slots import AlreadyRunning, ScheduleOrphaned
from catalog.work.schedules.storage import ScheduleNotFound, ScheduleRow, Synced
from catalog.work.schedules.timing import (
    Change,
    Field,
    InvalidSchedule,
    Misfire,
    Schedule,
    defaults_of,
)
from catalog.work.supervisor import run_background_work
from tests.support.settings import MakeSettings
from tests.support.slots import SCHEDULE_MODULES, jobs_of, slot_rows

T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        worker_concurrency=2,
        job_modules=SCHEDULE_MODULES,
        schedules={"test-nightly": {"cron": "45 3 * * *", "misfire": "skip"}},
    )


def declared(rt: Runtime, **overrides: dict[str, object]) -> dict[str, Schedule]:
    return defaults_of(rt.work.declared_schedules, {**rt.settings.schedules, **overrides})


async def sync(
    rt: Runtime, defaults: dict[str, Schedule], *, now: datetime = T0, orphans: bool = True
) -> Synced:
    async with rt.work.pool.connection() as conn, conn.transaction():
        return await storage.sync(conn, defaults, now=now, mark_orphans=orphans)


async def row(rt: Runtime, schedule_id: str) -> ScheduleRow:
    async with rt.work.pool.connection() as conn:
        return await storage.load(conn, schedule_id)


async def change(
    rt: Runtime, schedule_id: str, what: Change, *, now: datetime = T0, actor: str = "alice"
) -> ScheduleRow:
    async with rt.work.pool.connection() as conn, conn.transaction():
        return await storage.update(conn, schedule_id, what, actor=actor, now=now)


@pytest.fixture
async def synced(runtime: Runtime) -> Runtime:
    await sync(runtime, declared(runtime))
    return runtime


async def test_sync_stores_every_declared_schedule_with_its_defaults(runtime: Runtime) -> None:
    result = await sync(runtime, declared(runtime))
    assert {"test-hourly", "test-nightly", "test-every-second", "job-retention"} <= set(
        result.created
    )
    hourly = await row(runtime, "test-hourly")
    assert (
        hourly.current
        == hourly.default
        == Schedule("0 * * * *", tz="UTC", enabled=True, misfire=Misfire.RUN_ONCE)
    )
    assert hourly.active_since == T0 and hourly.customised == frozenset()
    assert hourly.task == "test-hourly" and not hourly.orphaned
    assert (await row(runtime, "test-every-second")).current.enabled is False
    again = await sync(runtime, declared(runtime), now=T0 + timedelta(hours=1))
    assert again == Synced(created=[], updated=[], orphaned=[])
    assert (await row(runtime, "test-hourly")).active_since == T0


async def test_settings_override_the_declared_defaults(synced: Runtime) -> None:
    nightly = await row(synced, "test-nightly")
    # Declared "30 2 * * *" in Europe/Berlin; CATALOG_SCHEDULES changes cron and misfire.
    assert nightly.current == Schedule(
        "45 3 * * *", tz="Europe/Berlin", enabled=True, misfire=Misfire.SKIP
    )
    assert nightly.default == nightly.current and not nightly.customised


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"cron": "61 * * * *"}, "CATALOG_SCHEDULES['test-hourly']: invalid cron expression"),
        ({"timezone": "Mars/Base"}, "unknown time zone 'Mars/Base'"),
        ({"misfire": "always"}, "misfire must be 'run_once' or 'skip'"),
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"crontab": "* * * * *"}, "unknown keys ['crontab']"),
    ],
)
def test_invalid_settings_overrides_are_refused_naming_the_place(
    runtime: Runtime, override: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        defaults_of(runtime.work.declared_schedules, {"test-hourly": override})
    assert message in caught.value.message


async def test_changed_defaults_apply_to_fields_no_operator_changed(synced: Runtime) -> None:
    await change(synced, "test-hourly", Change(cron="5 * * * *"))
    moved = declared(
        synced,
        **{
            "test-hourly": {"cron": "10 * * * *", "misfire": "skip"},
            "test-nightly": {"cron": "0 4 * * *"},
        },
    )
    result = await sync(synced, moved, now=T0 + timedelta(days=1))
    assert set(result.updated) == {"test-hourly", "test-nightly"}
    hourly = await row(synced, "test-hourly")
    # The operator's cron stays; the misfire nobody customised follows the new default.
    assert hourly.current == Schedule("5 * * * *", tz="UTC", enabled=True, misfire=Misfire.SKIP)
    assert hourly.default == Schedule("10 * * * *", tz="UTC", enabled=True, misfire=Misfire.SKIP)
    assert hourly.customised == {Field.CRON}
    nightly = await row(synced, "test-nightly")
    assert nightly.current.cron == "0 4 * * *"
    assert nightly.active_since == T0 + timedelta(days=1)  # re-timed: no slot before the change


async def test_reset_returns_to_the_current_defaults(synced: Runtime) -> None:
    await change(synced, "test-hourly", Change(cron="5 * * * *", tz="Asia/Tokyo"))
    async with synced.work.pool.connection() as conn, conn.transaction():
        reset = await storage.reset(conn, "test-hourly", actor="bob", now=T0 + timedelta(minutes=5))
    assert reset.current == reset.default == Schedule("0 * * * *")
    assert reset.customised == frozenset()
    assert reset.updated_by == "bob"
    assert reset.active_since == T0 + timedelta(minutes=5)


async def test_an_operator_change_is_recorded_with_who_and_when(synced: Runtime) -> None:
    when = T0 + timedelta(minutes=3)
    changed = await change(synced, "test-hourly", Change(misfire=Misfire.SKIP), now=when)
    assert changed.updated_by == "alice" and changed.updated_at == when
    assert changed.customised == {Field.MISFIRE}
    assert changed.active_since == T0  # the misfire policy does not move the anchor


async def test_retiming_moves_the_anchor(synced: Runtime) -> None:
    when = T0 + timedelta(minutes=3)
    changed = await change(synced, "test-hourly", Change(tz="Europe/Berlin"), now=when)
    assert changed.active_since == when
    assert changed.customised == {Field.TIMEZONE}


async def test_setting_a_field_back_to_its_default_uncustomises_it(synced: Runtime) -> None:
    paused = await change(synced, "test-hourly", Change(enabled=False))
    assert paused.customised == {Field.ENABLED} and not paused.current.enabled
    when = T0 + timedelta(hours=2)
    resumed = await change(synced, "test-hourly", Change(enabled=True), now=when)
    assert resumed.customised == frozenset() and resumed.current.enabled
    assert resumed.active_since == when  # no slot of the paused time runs


async def test_an_invalid_change_changes_nothing(synced: Runtime) -> None:
    before = await row(synced, "test-hourly")
    with pytest.raises(InvalidCron):
        await change(synced, "test-hourly", Change(cron="0 0 31 2 *", enabled=False))
    with pytest.raises(InvalidTimeZone):
        await change(synced, "test-hourly", Change(tz="Nowhere/Land"))
    with pytest.raises(InvalidSchedule, match="nothing to change"):
        await change(synced, "test-hourly", Change())
    with pytest.raises(ScheduleNotFound):
        await change(synced, "no-such-job", Change(enabled=False))
    assert await row(synced, "test-hourly") == before


async def test_schedules_of_vanished_jobs_are_orphaned_and_keep_their_history(
    synced: Runtime,
) -> None:
    async with synced.work.pool.connection() as conn, conn.transaction():
        await slots.trigger(conn, synced.work, "test-hourly", actor="alice", now=T0)
    without = {k: v for k, v in declared(synced).items() if k != "test-hourly"}
    assert (await sync(synced, without)).orphaned == ["test-hourly"]
    orphan = await row(synced, "test-hourly")
    assert orphan.orphaned and not orphan.active
    async with synced.work.pool.connection() as conn:
        assert len(await slot_rows(conn, "test-hourly")) == 1
    # An API process may load fewer job modules: it never marks orphans.
    assert (await sync(synced, {}, orphans=False)).orphaned == []
    back = T0 + timedelta(days=1)
    assert (await sync(synced, declared(synced), now=back)).updated == ["test-hourly"]
    revived = await row(synced, "test-hourly")
    assert not revived.orphaned and revived.active_since == back


async def test_triggering_an_orphan_is_a_conflict(synced: Runtime) -> None:
    without = {k: v for k, v in declared(synced).items() if k != "test-hourly"}
    await sync(synced, without)
    with pytest.raises(ScheduleOrphaned):
        async with synced.work.pool.connection() as conn, conn.transaction():
            await slots.trigger(conn, synced.work, "test-hourly", actor="x", now=T0)


async def test_a_slot_follows_its_job_and_keeps_the_outcome_once_the_job_is_pruned(
    synced: Runtime,
) -> None:
    async with synced.work.pool.connection() as conn, conn.transaction():
        triggered = await slots.trigger(
            conn, synced.work, "test-hourly", actor="alice", now=datetime.now(UTC)
        )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_background_work(synced.resources, stop))
    try:
        async with synced.work.pool.connection() as conn:
            for _ in range(200):
                (slot,) = await slot_rows(conn, "test-hourly")
                if slot["state"] == "succeeded":
                    break
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
    assert slot["state"] == "succeeded" and slot["kind"] == "manual"
    assert slot["job_id"] == triggered.job_id and slot["actor"] == "alice"
    assert slot["finished_at"] >= slot["started_at"] >= slot["claimed_at"]
    async with synced.work.pool.connection() as conn:
        await conn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (triggered.job_id,))
        (kept,) = await slot_rows(conn, "test-hourly")
        listed = await views.list_views(conn, summaries={}, now=datetime.now(UTC))
    assert kept["job_id"] is None and kept["state"] == "succeeded"
    view = next(v for v in listed if v.id == "test-hourly")
    assert view.last_run == triggered.slot and view.last_state == "succeeded"
    assert view.last_duration_s is not None and view.last_duration_s >= 0
    assert view.last_kind == "manual"


async def test_slot_state_tracks_every_status_change(synced: Runtime) -> None:
    async with synced.work.pool.connection() as conn, conn.transaction():
        triggered = await slots.trigger(conn, synced.work, "test-hourly", actor="a", now=T0)
    states = []
    async with synced.work.pool.connection() as conn:
        for status in ("doing", "todo", "doing", "failed", "todo", "doing", "succeeded"):
            await conn.execute(
                "UPDATE procrastinate_jobs SET status = %s WHERE id = %s",
                (status, triggered.job_id),
            )
            (slot,) = await slot_rows(conn, "test-hourly")
            states.append((slot["state"], slot["finished_at"] is not None))
    assert states == [
        ("running", False),
        ("enqueued", False),  # requeued for a retry
        ("running", False),
        ("failed", True),
        ("enqueued", False),  # retried by an operator
        ("running", False),
        ("succeeded", True),
    ]


async def test_a_job_deleted_before_it_ran_leaves_its_slot_deleted(synced: Runtime) -> None:
    async with synced.work.pool.connection() as conn, conn.transaction():
        triggered = await slots.trigger(conn, synced.work, "test-hourly", actor="a", now=T0)
    async with synced.work.pool.connection() as conn:
        await conn.execute("DELETE FROM procrastinate_jobs WHERE id = %s", (triggered.job_id,))
        (slot,) = await slot_rows(conn, "test-hourly")
    assert slot["state"] == "deleted" and slot["job_id"] is None


async def test_triggering_a_skip_overlap_job_that_is_waiting_is_a_conflict(
    synced: Runtime,
) -> None:
    async with synced.work.pool.connection() as conn, conn.transaction():
        first = await slots.trigger(conn, synced.work, "test-exclusive", actor="a", now=T0)
    with pytest.raises(AlreadyRunning) as caught:
        async with synced.work.pool.connection() as conn, conn.transaction():
            await slots.trigger(conn, synced.work, "test-exclusive", actor="a", now=T0)
    assert caught.value.job_id == first.job_id
    assert str(first.job_id) in caught.value.message
    async with synced.work.pool.connection() as conn:
        assert len(await slot_rows(conn, "test-exclusive")) == 1  # the refused one rolled back
        assert len(await jobs_of(conn, "test-exclusive")) == 1


async def test_pruning_keeps_recent_rows_the_latest_row_and_the_latest_run(
    synced: Runtime,
) -> None:
    now = datetime.now(UTC)
    async with synced.work.pool.connection() as conn:
        # 30 old missed rows, an old run, more old missed rows, and 5 recent missed rows.
        for i in range(40):
            state = "succeeded" if i == 30 else "missed"
            age = timedelta(days=30) if i < 35 else timedelta(minutes=1)
            await conn.execute(
                "INSERT INTO work_schedule_slots (schedule_id, slot, kind, state, claimed_at)"
                " VALUES ('test-hourly', %s, 'cron', %s, %s)",
                (T0 + timedelta(hours=i), state, now - age + timedelta(seconds=i)),
            )
        deleted = await slots.prune_slots(conn, "test-hourly", now=now, batch_size=1000)
        kept = await slot_rows(conn, "test-hourly")
    assert deleted == 34
    assert [k["slot"] for k in kept] == [T0 + timedelta(hours=i) for i in (30, 35, 36, 37, 38, 39)]
    async with synced.work.pool.connection() as conn:
        # A cap on rows per schedule prunes even recent rows, but never the latest two kinds.
        deleted = await slots.prune_slots(conn, "test-hourly", now=now, max_rows=2)
        kept = await slot_rows(conn, "test-hourly")
    assert [k["slot"] for k in kept] == [T0 + timedelta(hours=i) for i in (30, 38, 39)]


@pytest.fixture
async def second_runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    from catalog.bootstrap import runtime as open_runtime

    async with open_runtime(settings, database_url) as rt:
        yield rt


async def test_concurrent_syncs_insert_each_schedule_once(
    runtime: Runtime, second_runtime: Runtime
) -> None:
    results = await asyncio.gather(
        sync(runtime, declared(runtime)), sync(second_runtime, declared(second_runtime))
    )
    created = [set(r.created) for r in results]
    assert created[0].isdisjoint(created[1])
    assert created[0] | created[1] == set(runtime.work.declared_schedules)
