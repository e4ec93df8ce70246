"""The recurring-jobs API: list, detail, update, pause, resume, reset, trigger; errors; restarts."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from catalog.api.app import create_app
from catalog.bootstrap import Runtime
from catalog.bootstrap import runtime as open_runtime
from catalog.settings import Settings
from tests.support.settings import MakeSettings
from tests.support.slots import SCHEDULE_MODULES, jobs_of, slot_rows

BASE = "/api/backgroundjobs/recurring-jobs"
CLIENT_FIELDS = {
    "id",
    "task",
    "cron",
    "timezone",
    "enabled",
    "misfire",
    "next_run",
    "last_run",
    "last_state",
    "last_duration_s",
}


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(
        worker_concurrency=2,
        job_modules=SCHEDULE_MODULES,
    )


def is_utc_timestamp(value: str) -> bool:
    return value.endswith("+00:00") and datetime.fromisoformat(value).utcoffset() is not None


async def test_list_answers_every_recurring_job_in_the_agreed_shape(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(BASE)
    assert response.status_code == 200
    jobs = {job["id"]: job for job in response.json()}
    assert {"test-hourly", "test-nightly", "test-every-second", "job-retention"} <= set(jobs)
    nightly = jobs["test-nightly"]
    assert set(nightly) >= CLIENT_FIELDS
    assert nightly["task"] == "test-nightly"
    assert (nightly["cron"], nightly["timezone"], nightly["enabled"], nightly["misfire"]) == (
        "30 2 * * *",
        "Europe/Berlin",
        True,
        "run_once",
    )
    assert is_utc_timestamp(nightly["next_run"])
    assert nightly["last_run"] is None and nightly["last_state"] is None
    assert nightly["last_duration_s"] is None
    assert nightly["customised"] is False and nightly["orphaned"] is False
    assert nightly["default"] == {
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "enabled": True,
        "misfire": "run_once",
    }
    assert nightly["summary"].startswith("Returns the slot")
    assert jobs["test-every-second"]["next_run"] is None  # declared disabled


async def test_detail_lists_upcoming_and_recent_slots(client: httpx.AsyncClient) -> None:
    triggered = (await client.post(f"{BASE}/test-hourly/trigger")).json()
    response = await client.get(f"{BASE}/test-hourly")
    assert response.status_code == 200
    detail = response.json()
    assert set(detail) >= CLIENT_FIELDS
    assert len(detail["upcoming"]) == 5 and all(is_utc_timestamp(t) for t in detail["upcoming"])
    assert detail["upcoming"][0] == detail["next_run"]
    (slot,) = detail["recent_slots"]
    assert slot["kind"] == "manual" and slot["state"] == "enqueued"
    assert slot["job_id"] == triggered["job_id"] == detail["last_job_id"]
    assert detail["last_run"] == slot["slot"] == triggered["slot"]
    assert detail["last_state"] == "enqueued"


async def test_unknown_ids_are_404_everywhere(client: httpx.AsyncClient) -> None:
    for method, path, body in [
        ("GET", f"{BASE}/nope", None),
        ("PUT", f"{BASE}/nope", {"enabled": False}),
        ("POST", f"{BASE}/nope/trigger", None),
        ("POST", f"{BASE}/nope/pause", None),
        ("POST", f"{BASE}/nope/resume", None),
        ("POST", f"{BASE}/nope/reset", None),
    ]:
        response = await client.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"detail": "no recurring job 'nope'"}


async def test_update_retimes_and_records_the_actor(client: httpx.AsyncClient) -> None:
    response = await client.put(
        f"{BASE}/test-hourly",
        json={"cron": "15 3 * * MON-FRI", "timezone": "America/New_York", "misfire": "skip"},
        headers={"X-Actor": "alice"},
    )
    assert response.status_code == 200
    job = response.json()
    assert (job["cron"], job["timezone"], job["misfire"]) == (
        "15 3 * * MON-FRI",
        "America/New_York",
        "skip",
    )
    assert job["customised"] is True
    assert job["customised_fields"] == ["cron", "misfire", "timezone"]
    assert job["default"]["cron"] == "0 * * * *"
    assert job["updated_by"] == "alice" and is_utc_timestamp(job["updated_at"])
    next_run = datetime.fromisoformat(job["next_run"])
    assert next_run.minute == 15 and next_run.hour in (7, 8)  # 03:15 in New York
    listed = {j["id"]: j for j in (await client.get(BASE)).json()}["test-hourly"]
    assert listed["cron"] == "15 3 * * MON-FRI"


async def test_the_actor_defaults_to_api(client: httpx.AsyncClient) -> None:
    job = (await client.put(f"{BASE}/test-hourly", json={"misfire": "skip"})).json()
    assert job["updated_by"] == "api"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"cron": "0 25 * * *"}, "invalid cron expression '0 25 * * *': hour field '25'"),
        ({"cron": "* * * *"}, "it has 4 fields"),
        ({"cron": "0 0 30 2 *", "enabled": False}, "never occurs"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
        ({"cron": "0 3 * * *", "timezone": "Berlin"}, "unknown time zone 'Berlin'"),
        ({"misfire": "sometimes"}, "misfire"),
        ({"enabled": "perhaps"}, "enabled"),
        ({"cron": "0 3 * * *", "schedule": "daily"}, "schedule"),
        ({}, "nothing to change"),
    ],
)
async def test_invalid_updates_are_422_with_a_clear_message_and_change_nothing(
    client: httpx.AsyncClient, body: dict[str, object], message: str
) -> None:
    before = (await client.get(f"{BASE}/test-hourly")).json()
    response = await client.put(f"{BASE}/test-hourly", json=body)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    after = (await client.get(f"{BASE}/test-hourly")).json()
    assert after == before


async def test_pause_and_resume(client: httpx.AsyncClient) -> None:
    paused = (await client.post(f"{BASE}/test-hourly/pause")).json()
    assert paused["enabled"] is False and paused["next_run"] is None
    assert paused["customised_fields"] == ["enabled"]
    again = await client.post(f"{BASE}/test-hourly/pause")
    assert again.status_code == 200 and again.json()["enabled"] is False
    resumed = (await client.post(f"{BASE}/test-hourly/resume")).json()
    assert resumed["enabled"] is True and resumed["next_run"] is not None
    assert resumed["customised"] is False  # back to the default: nothing customised


async def test_reset_drops_every_change(client: httpx.AsyncClient) -> None:
    await client.put(f"{BASE}/test-nightly", json={"cron": "0 5 * * *", "timezone": "UTC"})
    await client.post(f"{BASE}/test-nightly/pause")
    response = await client.post(f"{BASE}/test-nightly/reset", headers={"X-Actor": "bob"})
    assert response.status_code == 200
    job = response.json()
    assert (job["cron"], job["timezone"], job["enabled"]) == ("30 2 * * *", "Europe/Berlin", True)
    assert job["customised"] is False and job["customised_fields"] == []
    assert job["updated_by"] == "bob"


async def test_trigger_enqueues_now_as_a_manual_slot(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await client.post(f"{BASE}/test-nightly/trigger", headers={"X-Actor": "carol"})
    assert response.status_code == 200
    triggered = response.json()
    assert triggered["schedule_id"] == "test-nightly" and is_utc_timestamp(triggered["slot"])
    async with runtime.work.pool.connection() as conn:
        (slot,) = await slot_rows(conn, "test-nightly")
        (job,) = await jobs_of(conn, "test-nightly")
    assert job["id"] == triggered["job_id"] == slot["job_id"]
    assert (slot["kind"], slot["actor"]) == ("manual", "carol")
    assert datetime.fromisoformat(job["scheduled_at"]) == datetime.fromisoformat(triggered["slot"])


async def test_triggering_a_paused_schedule_still_runs_it(client: httpx.AsyncClient) -> None:
    await client.post(f"{BASE}/test-hourly/pause")
    assert (await client.post(f"{BASE}/test-hourly/trigger")).status_code == 200


async def test_trigger_of_a_skip_overlap_job_that_is_running_is_a_409(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    first = await client.post(f"{BASE}/test-exclusive/trigger")
    assert first.status_code == 200
    second = await client.post(f"{BASE}/test-exclusive/trigger")
    assert second.status_code == 409
    detail = second.json()["detail"]
    assert "skips overlapping runs" in detail and str(first.json()["job_id"]) in detail
    async with runtime.work.pool.connection() as conn:
        assert len(await slot_rows(conn, "test-exclusive")) == 1


async def test_changes_survive_a_restart_and_the_start_up_sync(
    client: httpx.AsyncClient, settings: Settings, database_url: str
) -> None:
    await client.put(f"{BASE}/test-hourly", json={"cron": "45 * * * *"})
    await client.post(f"{BASE}/test-nightly/pause")
    async with open_runtime(settings, database_url) as restarted:
        from catalog.work.schedules.scheduler import Scheduler

        await Scheduler(restarted.resources).sync()  # what every worker does at start-up
        transport = httpx.ASGITransport(app=create_app(restarted))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as again:
            jobs = {j["id"]: j for j in (await again.get(BASE)).json()}
    assert jobs["test-hourly"]["cron"] == "45 * * * *"
    assert jobs["test-hourly"]["customised_fields"] == ["cron"]
    assert jobs["test-nightly"]["enabled"] is False


async def test_the_api_is_documented_in_openapi(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    assert {"get"} <= set(paths[BASE])
    assert {"get", "put"} <= set(paths[f"{BASE}/{{schedule_id}}"])
    for action in ("trigger", "pause", "resume", "reset"):
        assert "post" in paths[f"{BASE}/{{schedule_id}}/{action}"]
    schema = spec["components"]["schemas"]["RecurringJob"]["properties"]
    assert set(schema) >= CLIENT_FIELDS
    assert schema["next_run"]["anyOf"][0] == {"type": "string", "format": "date-time"}


async def test_an_update_must_change_something_and_nulls_are_refused(
    client: httpx.AsyncClient,
) -> None:
    """What the OpenAPI fuzz test found: `{}` and nulls were schema-valid, then refused."""
    listed = (await client.get("/api/backgroundjobs/recurring-jobs")).json()
    url = f"/api/backgroundjobs/recurring-jobs/{listed[0]['id']}"
    document = (await client.get("/openapi.json")).json()
    schema = document["components"]["schemas"]["RecurringJobUpdate"]
    assert schema["minProperties"] == 1
    assert schema["properties"]["cron"]["type"] == "string"  # not nullable
    empty = await client.put(url, json={})
    assert empty.status_code == 422 and "nothing to change" in empty.json()["detail"]
    nulled = await client.put(url, json={"cron": None})
    assert nulled.status_code == 422 and "cron cannot be null" in nulled.json()["detail"]
    responses = document["paths"]["/api/backgroundjobs/recurring-jobs/{schedule_id}/trigger"]
    assert {"404", "409"} <= set(responses["post"]["responses"])
