"""Background services in process: the loop, wake-ups, backoff, stopping, status and its API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from catalog.bootstrap import Runtime
from catalog.settings import Settings
from catalog.work.services.leadership import LOCK_APPLICATION_NAME
from catalog.work.services.loop import WAKE_COALESCE_S
from catalog.work.services.runner import ServiceRunner
from catalog.work.services.status import request_wake
from tests.support import services as test_services
from tests.support.polling import eventually
from tests.support.services import create_tables, fail_next, steps
from tests.support.settings import MakeSettings

API = "/api/backgroundjobs/background-services"


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        worker_concurrency=2,
        service_takeover_s=0.5,
        job_modules=["tests.support.services:registry"],
    )


@pytest.fixture(autouse=True)
def tables(database_url: str) -> None:
    create_tables(database_url)
    test_services.EVENTS.clear()


@dataclasses.dataclass
class Running:
    """A service runner working in this process, as a supervisor would run it."""

    runner: ServiceRunner
    stop_event: asyncio.Event
    task: asyncio.Task[None]

    @property
    def instance(self) -> str:
        return self.runner.instance

    async def stop(self, *, timeout_s: float = 15) -> None:
        self.stop_event.set()
        await asyncio.wait_for(asyncio.shield(self.task), timeout=timeout_s)


@contextlib.asynccontextmanager
async def running(
    runtime: Runtime, *names: str, instance: str = "test-host:1"
) -> AsyncIterator[Running]:
    """A service runner for `names` in this process, stopped gracefully on exit."""
    runner = ServiceRunner(
        runtime.resources, services={n: runtime.work.services[n] for n in names}, instance=instance
    )
    stop = asyncio.Event()
    handle = Running(runner, stop, asyncio.create_task(runner.run(stop)))
    try:
        yield handle
    finally:
        await handle.stop()


async def status_row(rt: Runtime, name: str) -> dict[str, Any] | None:
    async with rt.work.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM work_services WHERE name = %s", (name,))
        return await cur.fetchone()


async def service_api(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.get(API)
    assert response.status_code == 200
    (found,) = [s for s in response.json() if s["name"] == name]
    return dict(found)


def assert_no_overlap(recorded: list[test_services.Step]) -> None:
    """No two instances' steps overlap in time."""
    for a, b in itertools.pairwise(recorded):
        if a.instance != b.instance:
            assert a.finished_at is None or a.finished_at <= b.started_at, (a, b)


async def test_the_leader_runs_the_step_every_interval_and_reports_it(runtime: Runtime) -> None:
    async with running(runtime, "test-recorder", instance="host-a:1"):
        await eventually(
            lambda: len(steps(runtime.database_url, "test-recorder")) >= 4, what="4 steps"
        )
        row = await status_row(runtime, "test-recorder")
    recorded = steps(runtime.database_url, "test-recorder")
    starts = [s.started_at for s in recorded]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert all(gap >= test_services.RECORDER_INTERVAL_S * 0.9 for gap in gaps), gaps
    assert recorded[0].trigger == "takeover"
    assert {s.trigger for s in recorded[1:]} == {"interval"}
    assert row is not None
    assert row["leader"] == "host-a:1"
    assert row["state"] in {"running", "idle"}
    assert row["runs"] >= 3
    assert row["last_success"] is not None
    assert row["heartbeat_at"] is not None


async def test_only_one_runner_leads_and_a_graceful_stop_hands_over_at_once(
    runtime: Runtime,
) -> None:
    # Standbys retry only every 30 s here: a prompt takeover comes from the released NOTIFY.
    patient = dataclasses.replace(
        runtime,
        resources=dataclasses.replace(
            runtime.resources,
            settings=runtime.settings.model_copy(update={"service_takeover_s": 30}),
        ),
    )
    url = runtime.database_url
    async with running(patient, "test-recorder", instance="host-a:1") as first:
        await eventually(lambda: steps(url, "test-recorder"), what="a first step")
        async with running(patient, "test-recorder", instance="host-b:2") as second:
            await asyncio.sleep(1.5)
            assert {s.instance for s in steps(url, "test-recorder")} == {first.instance}
            stopped_at = time.monotonic()
            await first.stop()
            await eventually(
                lambda: any(s.instance == second.instance for s in steps(url, "test-recorder")),
                what="the takeover",
            )
            takeover_s = time.monotonic() - stopped_at
            row = await status_row(runtime, "test-recorder")
    assert takeover_s < 3, takeover_s
    assert row is not None
    assert row["leader"] == second.instance
    recorded = steps(url, "test-recorder")
    assert_no_overlap(recorded)
    # The handover happened once: first's steps, then second's.
    instances = [s.instance for s in recorded]
    assert instances == sorted(instances, key=[first.instance, second.instance].index)


async def notify(rt: Runtime, channel: str, *, times: int = 1) -> None:
    async with rt.work.pool.connection() as conn:
        for _ in range(times):
            await conn.execute("SELECT pg_notify(%s, '')", (channel,))


async def test_a_notify_runs_the_step_before_its_interval(runtime: Runtime) -> None:
    url = runtime.database_url
    async with running(runtime, "test-wakeable"):
        # It listens, so a new leader runs it at once: notifications may have been missed.
        await eventually(lambda: steps(url, "test-wakeable"), what="the takeover step")
        await notify(runtime, test_services.WAKE_CHANNEL)
        await eventually(lambda: len(steps(url, "test-wakeable")) == 2, timeout_s=3, what="wake")
    assert [s.trigger for s in steps(url, "test-wakeable")] == ["takeover", "notify"]


async def test_an_operators_wake_up_while_a_notify_is_coalescing_is_not_lost(
    runtime: Runtime,
) -> None:
    """The wake-up arrives in the short wait that gathers a burst of NOTIFYs: that step runs
    as the wake-up (a service may do more then, as search-sync reconciles), not as a NOTIFY
    with the wake-up cleared unseen."""
    url = runtime.database_url
    async with running(runtime, "test-wakeable"):
        await eventually(lambda: steps(url, "test-wakeable"), what="the takeover step")
        await notify(runtime, test_services.WAKE_CHANNEL)
        await asyncio.sleep(WAKE_COALESCE_S / 3)  # the loop has seen it and is gathering more
        async with runtime.work.pool.connection() as conn:
            await request_wake(conn, "test-wakeable")

        async def woken() -> bool:
            return any(s.trigger == "wake" for s in steps(url, "test-wakeable"))

        await eventually(woken, timeout_s=3, what="a step for the wake-up")


async def test_a_burst_of_notifies_is_coalesced_into_few_steps(runtime: Runtime) -> None:
    url = runtime.database_url
    async with running(runtime, "test-wakeable"):
        await eventually(lambda: steps(url, "test-wakeable"), what="the takeover step")
        await notify(runtime, test_services.WAKE_CHANNEL, times=50)
        await eventually(lambda: len(steps(url, "test-wakeable")) >= 2, what="a woken step")
        await asyncio.sleep(1)
    woken = [s for s in steps(url, "test-wakeable") if s.trigger == "notify"]
    assert 1 <= len(woken) <= 3, woken


async def test_the_api_wakes_a_service_and_knows_no_unknown_one(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    url = runtime.database_url
    async with running(runtime, "test-recorder", "test-wakeable", instance="host-a:1"):
        await eventually(lambda: steps(url, "test-wakeable"), what="the takeover step")
        response = await client.post(f"{API}/test-wakeable/wake")
        assert response.status_code == 202
        assert response.json() == {"name": "test-wakeable", "leader": "host-a:1"}
        await eventually(lambda: len(steps(url, "test-wakeable")) == 2, timeout_s=3, what="wake")
    assert steps(url, "test-wakeable")[-1].trigger == "wake"
    missing = await client.post(f"{API}/no-such-service/wake")
    assert missing.status_code == 404
    assert "no-such-service" in missing.json()["detail"]
    assert (await client.get(f"{API}/no-such-service")).status_code == 404


async def test_a_failing_step_backs_off_exponentially_and_its_error_is_shown(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    url = runtime.database_url
    fail_next(url, "test-flaky", failures=2)
    async with running(runtime, "test-flaky", instance="host-a:1"):
        backing_off = await eventually(
            lambda: _api_state(client, "test-flaky", "backing_off"), what="backing off"
        )
        recovered = await eventually(
            lambda: _api_state(client, "test-flaky", "idle", min_runs=4), what="recovery"
        )
    assert backing_off["last_error"] == "Flaky: 1 more failures to go"
    assert backing_off["last_error_type"] == "Flaky"
    assert backing_off["consecutive_failures"] == 1
    assert backing_off["leader"] == "host-a:1"
    assert backing_off["last_success"] is None
    assert recovered["consecutive_failures"] == 0
    assert recovered["failures"] == 2
    assert recovered["runs"] >= 4  # counting on after the recovery
    assert recovered["last_error"] == "Flaky: 0 more failures to go"  # kept: it was the last
    assert _parse(recovered["last_success"]) > _parse(recovered["last_error_at"])
    assert recovered["lag_rows"] == test_services.FLAKY_LAG_ROWS
    assert recovered["lag_s"] == test_services.FLAKY_LAG_S
    assert "lag" not in recovered
    detail = (await client.get(f"{API}/test-flaky")).json()
    assert "Traceback" in detail["last_error_traceback"]
    assert "Flaky" in detail["last_error_traceback"]
    # Backoff: about 1 s after the first failure, about 2 s after the second (+/- 25 %).
    starts = [s.started_at for s in steps(url, "test-flaky")]
    first_gap, second_gap = ((b - a).total_seconds() for a, b in itertools.pairwise(starts[:3]))
    assert 0.7 <= first_gap <= 1.6, first_gap
    assert 1.45 <= second_gap <= 2.9, second_gap
    assert [s.outcome for s in steps(url, "test-flaky")][:3] == ["failed", "failed", "ok"]


async def _api_state(
    client: httpx.AsyncClient, name: str, state: str, *, min_runs: int = 0
) -> dict[str, Any] | None:
    found = await service_api(client, name)
    return found if found["state"] == state and found["runs"] >= min_runs else None


async def _api_lag(client: httpx.AsyncClient, name: str) -> dict[str, Any] | None:
    found = await service_api(client, name)
    return found if found["lag_rows"] is not None else None


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_slow_step_does_not_hold_up_other_services(runtime: Runtime) -> None:
    url = runtime.database_url
    async with running(runtime, "test-slow", "test-recorder"):
        await eventually(lambda: steps(url, "test-slow"), what="the slow step")
        await asyncio.sleep(2)
        slow_step = steps(url, "test-slow")[0]
        assert slow_step.finished_at is None  # still running
        during = [s for s in steps(url, "test-recorder") if s.started_at > slow_step.started_at]
        assert len(during) >= 3


async def test_a_graceful_stop_records_stopped_and_releases_the_lock(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    url = runtime.database_url
    async with running(runtime, "test-slow", instance="host-a:1") as service:
        await eventually(lambda: steps(url, "test-slow"), what="the slow step")
        stopping = time.monotonic()
        await service.stop()
        stop_s = time.monotonic() - stopping
    # The step saw should_stop() and returned early, well within the grace.
    assert stop_s < runtime.settings.shutdown_grace_s
    assert steps(url, "test-slow")[-1].outcome == "stopped early"
    row = await status_row(runtime, "test-slow")
    assert row is not None
    assert (row["state"], row["leader"], row["last_leader"]) == ("stopped", None, "host-a:1")
    shown = await service_api(client, "test-slow")
    assert (shown["state"], shown["leader"], shown["alive"]) == ("stopped", None, False)
    async with runtime.work.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM work_service_locks WHERE key = work_service_lock_key(%s)",
            ("test-slow",),
        )
        assert await cur.fetchone() == (0,)


async def test_a_step_that_ignores_stop_is_cancelled_after_the_grace(runtime: Runtime) -> None:
    async with running(runtime, "test-stubborn") as service:
        await eventually(lambda: ("test-stubborn", "started") in test_services.EVENTS)
        stopping = time.monotonic()
        await service.stop()
        stop_s = time.monotonic() - stopping
    grace_s = runtime.settings.shutdown_grace_s
    assert grace_s * 0.9 <= stop_s < grace_s + 2, stop_s
    assert test_services.EVENTS == [("test-stubborn", "started"), ("test-stubborn", "cancelled")]
    row = await status_row(runtime, "test-stubborn")
    assert row is not None
    assert (row["state"], row["runs"], row["failures"]) == ("stopped", 0, 0)


async def test_losing_the_lock_connection_cancels_the_step_at_once_and_leads_again(
    runtime: Runtime,
) -> None:
    async with running(runtime, "test-stubborn"):
        await eventually(lambda: ("test-stubborn", "started") in test_services.EVENTS)
        first = await status_row(runtime, "test-stubborn")
        assert first is not None
        # As when PostgreSQL restarts: the server ends the session that holds the lock.
        async with runtime.work.pool.connection() as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                (LOCK_APPLICATION_NAME,),
            )
        terminated = time.monotonic()
        await eventually(
            lambda: ("test-stubborn", "cancelled") in test_services.EVENTS, timeout_s=5
        )
        noticed_s = time.monotonic() - terminated

        async def led_again() -> dict[str, Any] | None:
            row = await status_row(runtime, "test-stubborn")
            return row if row and row["leader_since"] > first["leader_since"] else None

        again = await eventually(led_again, what="a new lead")
    # The new lead keeps to the interval of the step that was cut short: not due for an hour.
    assert test_services.EVENTS.count(("test-stubborn", "started")) == 1
    assert again["state"] == "idle"
    assert (again["next_run_at"] - again["leader_since"]).total_seconds() > 3500
    assert noticed_s < 2.5, noticed_s


async def test_a_leader_that_is_gone_is_reported_stale(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    async with runtime.work.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO work_services (name, state, leader, last_leader, leader_since,"
            " interval_s, heartbeat_at) VALUES"
            " ('test-recorder', 'idle', 'ghost:1', 'ghost:1', now(), 0.5, now()),"
            " ('test-wakeable', 'running', 'ghost:2', 'ghost:2', now(), 3600,"
            "  now() - interval '1 minute'),"
            " ('test-flaky', 'backing_off', 'ghost:3', 'ghost:3', now(), 0.3, now())"
        )
    # A session of ours plays a leader that is alive: it holds the locks of two services.
    async with await psycopg.AsyncConnection.connect(runtime.database_url) as holder:
        await holder.execute(
            "SELECT pg_advisory_lock(work_service_lock_key(n))"
            " FROM unnest(ARRAY['test-wakeable', 'test-flaky']) AS n"
        )
        shown = {s["name"]: s for s in (await client.get(API)).json()}
    # No lock held: the leader died.
    assert shown["test-recorder"]["state"] == "stale"
    assert shown["test-recorder"]["leader"] is None
    assert shown["test-recorder"]["last_leader"] == "ghost:1"
    assert shown["test-recorder"]["alive"] is False
    # Lock held but silent for a minute: cut off, or hanging.
    assert shown["test-wakeable"]["state"] == "stale"
    # Lock held and a fresh heartbeat: alive.
    assert shown["test-flaky"]["state"] == "backing_off"
    assert shown["test-flaky"]["leader"] == "ghost:3"


async def test_services_no_longer_declared_do_not_linger(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    async with runtime.work.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO work_services (name, state, leader, last_leader, interval_s,"
            " heartbeat_at) VALUES"
            " ('retired', 'idle', 'old:1', 'old:1', 60, now() - interval '1 hour'),"
            " ('old-code', 'idle', 'old:2', 'old:2', 60, now())"
        )
    async with await psycopg.AsyncConnection.connect(runtime.database_url) as holder:
        # An instance running older code still leads 'old-code'.
        await holder.execute("SELECT pg_advisory_lock(work_service_lock_key('old-code'))")
        shown = {s["name"]: s for s in (await client.get(API)).json()}
        assert "retired" not in shown
        assert shown["old-code"]["declared"] is False
        assert shown["old-code"]["state"] == "idle"
        async with running(runtime, "test-recorder"):
            await eventually(lambda: steps(runtime.database_url, "test-recorder"))
        async with runtime.work.pool.connection() as conn:
            cur = await conn.execute("SELECT name FROM work_services ORDER BY name")
            names = [name for (name,) in await cur.fetchall()]
    # The runner forgot the retired service; the one still led stays.
    assert names == ["old-code", "test-recorder"]


async def test_the_listing_shows_every_declared_service_in_its_documented_shape(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    async with running(runtime, "test-recorder", instance="host-a:1"):
        await eventually(lambda: len(steps(runtime.database_url, "test-recorder")) >= 2)
        response = await client.get(API)
    assert response.status_code == 200
    listed = response.json()
    assert [s["name"] for s in listed] == sorted(runtime.work.services)
    by_name = {s["name"]: s for s in listed}
    never_run = by_name["test-stubborn"]
    assert never_run["state"] == "stopped"
    assert never_run["leader"] is None
    assert never_run["runs"] == 0
    assert never_run["interval_s"] == 3600
    assert never_run["summary"] == "Sleeps for an hour and never looks at should_stop."
    assert by_name["test-wakeable"]["listen"] == test_services.WAKE_CHANNEL
    recorder = by_name["test-recorder"]
    required = {"name", "state", "leader", "interval_s", "last_success", "last_error", "runs"}
    assert required | {"lag_rows", "lag_s", "last_error_at", "heartbeat_at"} <= recorder.keys()
    assert (recorder["lag_rows"], recorder["lag_s"]) == (None, None)  # it reports no lag
    assert recorder["last_leader"] == "host-a:1"
    for field in ("last_success", "heartbeat_at", "last_started_at", "last_finished_at"):
        assert recorder[field].endswith("+00:00"), recorder[field]
        assert _parse(recorder[field]).utcoffset() is not None
    schema = (await client.get("/openapi.json")).json()
    assert f"{API}/{{name}}/wake" in schema["paths"]
    listed_schema = schema["components"]["schemas"]["BackgroundService"]["properties"]
    assert listed_schema["last_success"]["anyOf"][0]["format"] == "date-time"
    assert {"lag_rows", "lag_s"} <= listed_schema.keys()
    assert "lag" not in listed_schema
    assert listed_schema["lag_rows"]["anyOf"][0]["type"] == "integer"


async def test_a_change_log_consumer_shows_its_lag_in_rows_and_seconds(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    url = runtime.database_url
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "INSERT INTO categories (name, slug) VALUES ('Tools', 'tools') RETURNING id"
        )
        (category_id,) = await cur.fetchone() or (0,)
        await conn.execute(
            "INSERT INTO products (sku, name, category_id, price)"
            " VALUES ('a', 'A', %(c)s, 10), ('b', 'B', %(c)s, 10)",
            {"c": category_id},
        )
        # Written an hour ago, as far as the consumer can tell.
        await conn.execute("UPDATE change_log SET at = at - interval '1 hour'")
        await conn.commit()
    async with running(runtime, "test-consumer", instance="host-a:1"):
        shown = await eventually(
            lambda: _api_lag(client, "test-consumer"), what="the consumer's lag"
        )
    assert shown["lag_rows"] == 3  # the category and two products
    assert 3600 <= shown["lag_s"] < 3600 + 60


async def test_a_step_past_its_timeout_is_cancelled_recorded_and_the_loop_goes_on(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    url = runtime.database_url
    async with running(runtime, "test-hanging", instance="host-a:1"):
        recovered = await eventually(
            lambda: _api_state(client, "test-hanging", "idle", min_runs=2),
            timeout_s=15,
            what="a step after the hung one",
        )
        lock_held = await _lock_held(runtime, "test-hanging")
    assert test_services.EVENTS[:2] == [
        ("test-hanging", "hanging"),
        ("test-hanging", "cancelled"),
    ]
    # Recorded as a failed step, with its timeout; the next step ran and succeeded.
    assert recovered["last_error_type"] == "StepTimeout"
    assert f"timeout of {test_services.HANG_TIMEOUT_S:g} s" in recovered["last_error"]
    assert (recovered["failures"], recovered["consecutive_failures"]) == (1, 0)
    assert recovered["last_success"] is not None
    # The same instance kept the lead all along.
    assert recovered["leader"] == recovered["last_leader"] == "host-a:1"
    assert lock_held
    hung, after, *_ = steps(url, "test-hanging")
    assert (hung.trigger, hung.outcome) == ("takeover", None)
    assert (after.trigger, after.outcome) == ("retry", "ok")
    # The service's own backoff, not the default one, came between the two.
    gap_s = (after.started_at - hung.started_at).total_seconds()
    assert gap_s >= test_services.HANG_TIMEOUT_S + test_services.HANG_BACKOFF_S - 0.05, gap_s


async def _lock_held(rt: Runtime, name: str) -> bool:
    async with rt.work.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM work_service_locks WHERE key = work_service_lock_key(%s)",
            (name,),
        )
        row = await cur.fetchone()
    return row == (1,)
